package tcproute

// The serving side: the accept loop (its back-off and connection cap),
// a connection's forwarding, and the targets it goes to. tcproute.go
// keeps which ports are served for which app.

import (
	"context"
	"errors"
	"io"
	"net"
	"slices"
	"strconv"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
)

// serve starts l's accept loop; r.mu is held.
func (r *Router) serve(l *listener) {
	r.listeners[l.port] = l
	go func() {
		var delay time.Duration
		for {
			c, err := l.ln.Accept()
			if err != nil {
				if errors.Is(err, net.ErrClosed) {
					return
				}
				if retryable(err) {
					// Out of file descriptors (EMFILE, ENFILE) or another
					// passing error: back off and accept again, as
					// net/http's Server.Serve does; giving up would hold
					// the port with nothing answering until a restart.
					delay = min(max(2*delay, 5*time.Millisecond), time.Second)
					r.acceptFailed(l, delay, err)
					time.Sleep(delay)
					continue
				}
				r.listenerStopped(l, err)
				return
			}
			delay = 0
			if l.active.Add(1) > r.maxConns.Load() {
				l.active.Add(-1)
				r.atCap(l)
				c.Close()
				continue
			}
			go func() {
				defer l.active.Add(-1)
				r.handle(l, c)
			}()
		}
	}()
}

// atCap notes a connection closed at l's cap, and says so in the log
// once every capLogEvery with how many.
func (r *Router) atCap(l *listener) {
	l.capped.Add(1)
	now := time.Now().UnixNano()
	last := l.capLogged.Load()
	if now-last < int64(capLogEvery) || !l.capLogged.CompareAndSwap(last, now) {
		return
	}
	d := l.dest.Load()
	r.log.Warn("tcp mapping at its connection cap: new connections are closed at once; raise tcp_max_connections in the Caddyfile's berth block if the app needs more, or find the client that opens so many",
		"app", d.app, "port", l.port, "cap", r.maxConns.Load(), "closed", l.capped.Swap(0))
}

// acceptFailed logs a passing Accept error of l, once every capLogEvery
// with how many: a long run of EMFILE would otherwise log every retry of
// every mapping (a line a second each) and bury what caused it.
func (r *Router) acceptFailed(l *listener, delay time.Duration, err error) {
	l.acceptFails.Add(1)
	now := time.Now().UnixNano()
	last := l.failLogged.Load()
	if now-last < int64(capLogEvery) || !l.failLogged.CompareAndSwap(last, now) {
		return
	}
	r.log.Error("tcp accept failed; retrying (out of file descriptors? raise Berth's open-files limit, e.g. LimitNOFILE in its systemd unit, or lower tcp_max_connections in the Caddyfile's berth block)",
		"app", l.dest.Load().app, "port", l.port, "in", delay, "failures", l.acceptFails.Swap(0), "error", err)
}

// retryable is whether an Accept error passes: a timeout or an error the
// system calls temporary (EMFILE, ENFILE, ECONNABORTED...).
func retryable(err error) bool {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return true
	}
	var t interface{ Temporary() bool }
	return errors.As(err, &t) && t.Temporary()
}

// listenerStopped handles l's accept loop ending on an error that does
// not pass. The port stays the app's, whose record names it: it is bound
// again at once and served on; if that fails, l stays in r.listeners,
// closed and marked stopped, so that Check refuses the port to another
// app (whose mapping would make this app's next Sync fail and its ports
// changes be refused) and the app's next Sync binds it again.
func (r *Router) listenerStopped(l *listener, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	l.close()
	if r.closed || r.listeners[l.port] != l {
		return // closed meanwhile: the port is no longer this listener's
	}
	d := l.dest.Load()
	// A listener bound again that stops at once is not bound yet again:
	// a port that fails so would spin here.
	if l.rebound.IsZero() || time.Since(l.rebound) > time.Second {
		ln, lerr := r.cfg.Listen(l.port)
		if lerr == nil {
			nl := &listener{port: l.port, ln: ln, rebound: time.Now()}
			nl.dest.Store(d)
			r.serve(nl)
			r.log.Warn("tcp listener stopped; bound it again", "app", d.app, "port", l.port, "error", err)
			return
		}
		err = errors.Join(err, lerr)
	}
	l.stopped = true
	r.log.Error("tcp listener stopped and could not be bound again; the port stays the app's: its next ports change or a restart binds it again",
		"app", d.app, "port", l.port, "error", err)
}

// handle forwards c to a target of the listener's app, waiting up to
// HoldTimeout for one; with none, c is closed.
func (r *Router) handle(l *listener, c net.Conn) {
	defer c.Close()
	d := l.dest.Load()
	deadline := time.Now().Add(r.cfg.HoldTimeout)
	for {
		targets := r.targets(d)
		if len(targets) > 0 {
			start := int(l.next.Add(1) - 1)
			for i := range targets {
				t := targets[(start+i)%len(targets)]
				addr, err := withPort(t, d.port)
				if err != nil {
					continue
				}
				ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
				up, err := r.cfg.Dial(ctx, addr)
				cancel()
				if err != nil {
					r.log.Debug("tcp dial failed", "app", d.app, "addr", addr, "error", err)
					continue
				}
				// Counted under the target's own address: the drain of a
				// rollout waits for it as for an HTTP request.
				done := r.cfg.Table.InFlight.Begin(t)
				pipe(c, up)
				done()
				return
			}
		}
		if time.Now().After(deadline) {
			return
		}
		time.Sleep(100 * time.Millisecond)
		d = l.dest.Load() // a rename moves it
	}
}

// targets are the addresses ("ip:port", the port the container's
// berth.port label names, as the drain counts them) d's connections may
// go to: the app's route's for web; for another process type, its
// running containers of the app's current generation that the route
// controller does not keep out, asked of the engine at most once per
// ProcessTargetsTTL for all its connections (an address is trusted only
// while its container runs, so a listing is kept that briefly).
func (r *Router) targets(d *dest) []string {
	route, ok := r.cfg.Table.App(d.app)
	// A route whose targets another scheduler runs (Swarm tasks at
	// NODE-IP:PUBLISHED-PORT) serves no tcp mapping: the mapping's
	// container port swapped in would reach any program of the node
	// (Caddy's admin API on 127.0.0.1:2019). Such an app's mappings are
	// refused when they are made (ports:*, scheduler:set, the swarm
	// rollout); this serves none should one be on its record all the
	// same. The route says so itself, written with its targets, so no
	// connection (nor a waiting one's every 100 ms) reads the app record.
	if !ok || route.Disabled || route.Remote {
		return nil
	}
	if d.process == "" {
		return route.Targets
	}
	if r.cfg.Engine == nil {
		return nil
	}
	// One listing serves every connection for ProcessTargetsTTL: the
	// ones waiting for a container would otherwise each read the record
	// and list the containers every 100 ms.
	// Only for a mapping the router serves: a connection still holding
	// the dest of a renamed or destroyed app (or of a mapping changed
	// since) would otherwise store a listing after forgetProcs cleared
	// it, which nothing removes; it gets none and reads its listener's
	// dest again. r.mu is taken before procMu, as forgetProcs is called.
	k := procKey{d.app, d.process}
	r.mu.Lock()
	if !r.servesLocked(k) {
		r.mu.Unlock()
		return nil
	}
	r.procMu.Lock()
	p, ok := r.procs[k]
	if !ok {
		p = &procTargets{}
		r.procs[k] = p
	}
	r.procMu.Unlock()
	r.mu.Unlock()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !p.at.IsZero() && time.Since(p.at) < r.cfg.ProcessTargetsTTL {
		return p.targets
	}
	p.targets, p.at = r.processTargets(d), time.Now()
	return p.targets
}

// servesLocked is whether a listener serves k's app and process type;
// r.mu is held.
func (r *Router) servesLocked(k procKey) bool {
	for _, l := range r.listeners {
		if d := l.dest.Load(); d.app == k.app && d.process == k.process {
			return true
		}
	}
	return false
}

// processTargets lists d's process containers of the app's generation.
func (r *Router) processTargets(d *dest) []string {
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	defer cancel()
	a, err := r.cfg.Apps.App(ctx, d.app)
	if err != nil || a.Generation == 0 || a.Stopped {
		return nil
	}
	cs, err := r.cfg.Engine.ListRunning(ctx, docker.LabelApp+"="+d.app, docker.LabelProcess+"="+d.process)
	if err != nil {
		r.log.Warn("listing a process's containers for a tcp mapping", "app", d.app, "process", d.process, "error", err)
		return nil
	}
	gen := strconv.Itoa(a.Generation)
	var out []string
	for _, c := range cs {
		if routes.AppContainer(c) && c.Labels[docker.LabelGeneration] == gen && c.Running && !c.Restarting && c.IP.IsValid() && c.Labels[docker.LabelPort] != "" &&
			(r.cfg.Routes == nil || !r.cfg.Routes.KeptOut(c.ID)) {
			out = append(out, net.JoinHostPort(c.IP.String(), c.Labels[docker.LabelPort]))
		}
	}
	slices.Sort(out) // a stable order for the turns
	return out
}

// withPort is target (a route's "ip:port") with port in place of its own.
func withPort(target string, port int) (string, error) {
	host, _, err := net.SplitHostPort(target)
	if err != nil {
		return "", err
	}
	return net.JoinHostPort(host, strconv.Itoa(port)), nil
}

// pipe copies both ways until both directions end; the end of one
// direction is passed on as a half close, so a client that shuts its
// writing side still reads the app's answer.
func pipe(a, b net.Conn) {
	var wg sync.WaitGroup
	wg.Add(2)
	cp := func(dst, src net.Conn) {
		defer wg.Done()
		io.Copy(dst, src)
		if cw, ok := dst.(interface{ CloseWrite() error }); ok {
			cw.CloseWrite()
		} else {
			dst.Close()
		}
	}
	go cp(a, b)
	go cp(b, a)
	wg.Wait()
	b.Close()
}
