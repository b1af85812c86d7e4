// Package tcproute serves an app's `tcp:HOST-PORT:CONTAINER-PORT` port
// mappings (ports:add APP tcp:5432:5432): Berth listens on the host port
// and forwards each connection to one of the app's routed containers, on
// the mapping's container port.
//
// It owns the listeners only: the mappings stay in the app record's
// port_map (platform's ports:* write them), and which containers take
// connections is the routing table's knowledge, the same targets the HTTP
// proxy uses (the app's ready web containers of its current generation,
// kept by the route controller as containers come and go); a
// process-scoped mapping (tcp:HOST:CONTAINER:TYPE) goes to that type's
// running containers of the current generation instead, asked of the
// engine, since the table routes web only. A connection
// picks the next target in turn, with the target's port replaced by the
// mapping's container port. It is counted in the table's in-flight
// counter under the target's address for as long as it lasts, so a
// rollout's drain waits for it (up to wait-to-retire) before it stops the
// old container: established connections live through a deploy, new ones
// go to the new release, as HTTP requests do.
//
// A host port is claimed when ports:* checks the new mappings (Check,
// under the app's lock): it must be free on the host (Berth binds it
// there, so Caddy's listeners, another app's mapping and any other
// program holding it are all refused alike) and, for a deploy key, inside
// the range an admin opened (tcp_ports; none by default). Sync then makes
// the listeners match the saved record. The listeners follow the apps'
// lives through the core's hooks (destroy closes them, rename moves them;
// the core gives a clone no tcp mapping) and live as long as the Berth
// core: a Caddy reload keeps them, connections included.
package tcproute

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
)

// Apps is what the router asks of the app core; *platform.Platform is one.
type Apps interface {
	App(ctx context.Context, name string) (*platform.App, error)
	AppNames(ctx context.Context) ([]string, error)
}

// Engine is what the router asks of the container engine.
type Engine interface {
	// ListRunning lists the containers with all of labels, inspected.
	ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error)
}

// Hooks are the core's app lifecycle hooks; *platform.Platform has them.
type Hooks interface {
	OnAppDestroyed(f func(ctx context.Context, app string))
	OnAppRenameSetup(f func(ctx context.Context, from, to string) error)
	OnAppRenamed(f func(ctx context.Context, from, to string))
}

// Config is what a Router is built with.
type Config struct {
	Apps Apps
	// Table is the routing table: the targets connections go to, and the
	// in-flight counts a rollout's drain reads.
	Table *routing.Table
	// Engine lists the running containers of a process type other than
	// web (tcp:HOST:CONTAINER:TYPE), which the table does not route; nil:
	// such mappings have no targets.
	Engine Engine
	// Hooks, when set, are where the router follows the apps' lives.
	Hooks  Hooks
	Logger *slog.Logger
	// Listen opens a host port's listener; nil: net.Listen on every
	// interface ("tcp", ":PORT"). Tests give loopback.
	Listen func(port int) (net.Listener, error)
	// Dial connects to a container; nil: a net.Dialer with DialTimeout.
	Dial func(ctx context.Context, addr string) (net.Conn, error)
	// HoldTimeout is how long a connection waits for the app to have a
	// routed container (a restart, the moment of a switch) before it is
	// closed; 0: DefaultHoldTimeout.
	HoldTimeout time.Duration
}

// DefaultHoldTimeout is how long a new connection waits for a container.
const DefaultHoldTimeout = 5 * time.Second

// DialTimeout bounds one dial to a container.
const DialTimeout = 3 * time.Second

// Router holds the listeners of every app's tcp mappings.
type Router struct {
	cfg Config
	log *slog.Logger

	mu sync.Mutex
	// listeners are the served host ports.
	listeners map[int]*listener
	// pending are host ports Check bound for an app whose record is not
	// saved yet: Sync serves them, or closes them if the record does not
	// name them.
	pending map[int]*listener
	// renaming maps a rename's new name to its old one between the
	// rename's setup and its end, so an aborted rename gives the
	// listeners back.
	renaming map[string]string
	closed   bool
	// lo and hi are the host ports a deploy key may map (tcp_ports);
	// 0, 0: none.
	lo, hi int
}

type dest struct {
	app     string
	port    int    // the container port
	process string // "" for web
}

type listener struct {
	port int
	ln   net.Listener
	dest atomic.Pointer[dest]
	next atomic.Uint64 // round robin over the targets
	once sync.Once
}

func (l *listener) close() { l.once.Do(func() { l.ln.Close() }) }

// New returns a router; Start serves the mappings already recorded.
func New(cfg Config) *Router {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Listen == nil {
		cfg.Listen = func(port int) (net.Listener, error) { return net.Listen("tcp", ":"+strconv.Itoa(port)) }
	}
	if cfg.Dial == nil {
		d := &net.Dialer{Timeout: DialTimeout}
		cfg.Dial = func(ctx context.Context, addr string) (net.Conn, error) { return d.DialContext(ctx, "tcp", addr) }
	}
	if cfg.HoldTimeout <= 0 {
		cfg.HoldTimeout = DefaultHoldTimeout
	}
	r := &Router{cfg: cfg, log: cfg.Logger, listeners: map[int]*listener{}, pending: map[int]*listener{}, renaming: map[string]string{}}
	if h := cfg.Hooks; h != nil {
		h.OnAppDestroyed(func(_ context.Context, app string) { r.destroyed(app) })
		h.OnAppRenameSetup(func(_ context.Context, from, to string) error { r.renameSetup(from, to); return nil })
		h.OnAppRenamed(func(_ context.Context, _, to string) { r.mu.Lock(); delete(r.renaming, to); r.mu.Unlock() })
	}
	return r
}

// SetDeployKeyPorts sets the host ports a deploy key may map (the
// Caddyfile's tcp_ports LOW-HIGH); 0, 0: none, only admin keys map TCP
// ports. Mappings already made stay.
func (r *Router) SetDeployKeyPorts(lo, hi int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lo, r.hi = lo, hi
}

// TCPMappings returns the tcp mappings among ms.
func TCPMappings(ms []platform.PortMapping) []platform.PortMapping {
	var out []platform.PortMapping
	for _, m := range ms {
		if m.Scheme == "tcp" {
			out = append(out, m)
		}
	}
	return out
}

func recordMappings(a *platform.App) []platform.PortMapping {
	var ms []platform.PortMapping
	for _, s := range a.PortMap {
		if m, err := platform.ParsePortMapping(s); err == nil {
			ms = append(ms, m)
		}
	}
	return TCPMappings(ms)
}

// Check is called with the mappings app is about to have, under the
// app's lock: each host port of a tcp mapping the app does not serve yet
// is bound now (and kept for Sync), or the change is refused with why.
// deployKey is whether a deploy key asks: it may map only the ports of
// tcp_ports.
func (r *Router) Check(app string, next []platform.PortMapping, deployKey bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return errors.New("Berth is stopping; try again in a moment")
	}
	seen := map[int]bool{}
	var bound []*listener
	fail := func(err error) error {
		for _, l := range bound {
			delete(r.pending, l.port)
			l.close()
		}
		return err
	}
	for _, m := range TCPMappings(next) {
		if seen[m.HostPort] {
			return fail(fmt.Errorf("host port %d is mapped twice: one tcp mapping a host port", m.HostPort))
		}
		seen[m.HostPort] = true
		if l, ok := r.listeners[m.HostPort]; ok {
			if d := l.dest.Load(); d.app != app {
				return fail(fmt.Errorf("host port %d is app %s's tcp mapping; choose another port", m.HostPort, d.app))
			}
			continue // the app's own already
		}
		if l, ok := r.pending[m.HostPort]; ok {
			if d := l.dest.Load(); d.app != app {
				return fail(fmt.Errorf("host port %d is being mapped by app %s; choose another port", m.HostPort, d.app))
			}
			l.dest.Store(&dest{app: app, port: m.ContainerPort, process: m.Process})
			continue
		}
		if deployKey && (m.HostPort < r.lo || m.HostPort > r.hi || r.lo == 0) {
			return fail(r.deployKeyError(m.HostPort))
		}
		ln, err := r.cfg.Listen(m.HostPort)
		if err != nil {
			return fail(fmt.Errorf("host port %d is in use on this host (by Caddy, Berth's SSH server or another program: %v); choose another port", m.HostPort, err))
		}
		l := &listener{port: m.HostPort, ln: ln}
		l.dest.Store(&dest{app: app, port: m.ContainerPort, process: m.Process})
		r.pending[m.HostPort] = l
		bound = append(bound, l)
	}
	return nil
}

func (r *Router) deployKeyError(port int) error {
	if r.lo == 0 {
		return fmt.Errorf("a deploy key may not map TCP host ports: an admin key maps tcp:%d:..., or an admin opens a range to deploy keys with tcp_ports LOW-HIGH in the Caddyfile's berth block", port)
	}
	return fmt.Errorf("host port %d is outside the TCP ports deploy keys may map (tcp_ports %d-%d); choose one inside, or ask an admin to map it", port, r.lo, r.hi)
}

// Sync makes app's listeners match its record: the tcp mappings it names
// are served (a port Check bound is served from now on; one bound by
// nobody is bound now, as at start), the others closed. Established
// connections of a closed listener go on. An app with no record has none.
func (r *Router) Sync(ctx context.Context, app string) error {
	var want []platform.PortMapping
	a, err := r.cfg.Apps.App(ctx, app)
	switch {
	case errors.Is(err, platform.ErrAppNotFound):
	case err != nil:
		return err
	default:
		want = recordMappings(a)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.closed {
		return nil
	}
	var errs []error
	wanted := map[int]bool{}
	for _, m := range want {
		wanted[m.HostPort] = true
		d := &dest{app: app, port: m.ContainerPort, process: m.Process}
		if l, ok := r.listeners[m.HostPort]; ok {
			if l.dest.Load().app == app {
				l.dest.Store(d)
			} else {
				errs = append(errs, fmt.Errorf("app %s: host port %d is app %s's; its tcp:%d:%d is not served", app, m.HostPort, l.dest.Load().app, m.HostPort, m.ContainerPort))
			}
			continue
		}
		if l, ok := r.pending[m.HostPort]; ok && l.dest.Load().app == app {
			delete(r.pending, m.HostPort)
			l.dest.Store(d)
			r.serve(l)
			continue
		}
		ln, err := r.cfg.Listen(m.HostPort)
		if err != nil {
			errs = append(errs, fmt.Errorf("app %s: tcp:%d:%d is not served: %w", app, m.HostPort, m.ContainerPort, err))
			continue
		}
		l := &listener{port: m.HostPort, ln: ln}
		l.dest.Store(d)
		r.serve(l)
	}
	for port, l := range r.listeners {
		if l.dest.Load().app == app && !wanted[port] {
			delete(r.listeners, port)
			l.close()
		}
	}
	for port, l := range r.pending {
		if l.dest.Load().app == app {
			delete(r.pending, port)
			l.close()
		}
	}
	return errors.Join(errs...)
}

// Start serves every app's recorded tcp mappings; a port that cannot be
// bound is logged (the app serves on through HTTP) and tried again at the
// app's next ports change.
func (r *Router) Start(ctx context.Context) error {
	names, err := r.cfg.Apps.AppNames(ctx)
	if err != nil {
		return err
	}
	for _, app := range names {
		if err := r.Sync(ctx, app); err != nil {
			r.log.Error("tcp port mapping not served", "app", app, "error", err)
		}
	}
	return nil
}

// Close closes every listener; established connections go on until they
// end.
func (r *Router) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.closed = true
	for port, l := range r.listeners {
		delete(r.listeners, port)
		l.close()
	}
	for port, l := range r.pending {
		delete(r.pending, port)
		l.close()
	}
}

// Ports returns the host ports served for app, sorted.
func (r *Router) Ports(app string) []int {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []int
	for port, l := range r.listeners {
		if l.dest.Load().app == app {
			out = append(out, port)
		}
	}
	slices.Sort(out)
	return out
}

func (r *Router) destroyed(app string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if from, ok := r.renaming[app]; ok {
		// An aborted rename: the old app serves on, with its ports.
		delete(r.renaming, app)
		r.rekeyLocked(app, from)
		return
	}
	for port, l := range r.listeners {
		if l.dest.Load().app == app {
			delete(r.listeners, port)
			l.close()
		}
	}
}

// renameSetup moves the listeners to the new name before it is routed,
// so connections reach it from its first container on (a connection in
// between waits HoldTimeout for it).
func (r *Router) renameSetup(from, to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.renaming[to] = from
	r.rekeyLocked(from, to)
}

func (r *Router) rekeyLocked(from, to string) {
	for _, l := range r.listeners {
		if d := l.dest.Load(); d.app == from {
			l.dest.Store(&dest{app: to, port: d.port, process: d.process})
		}
	}
}

// serve starts l's accept loop; r.mu is held.
func (r *Router) serve(l *listener) {
	r.listeners[l.port] = l
	go func() {
		for {
			c, err := l.ln.Accept()
			if err != nil {
				var ne net.Error
				if errors.As(err, &ne) && ne.Timeout() {
					time.Sleep(50 * time.Millisecond)
					continue
				}
				if !errors.Is(err, net.ErrClosed) {
					r.log.Error("tcp listener stopped", "port", l.port, "error", err)
				}
				return
			}
			go r.handle(l, c)
		}
	}()
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
// running containers of the app's current generation, asked of the
// engine at each connection (an address is trusted only while its
// container runs, so none is kept).
func (r *Router) targets(d *dest) []string {
	route, ok := r.cfg.Table.App(d.app)
	if !ok || route.Disabled || r.otherScheduler(d.app) {
		return nil
	}
	if d.process == "" {
		return route.Targets
	}
	if r.cfg.Engine == nil {
		return nil
	}
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
		if routes.AppContainer(c) && c.Labels[docker.LabelGeneration] == gen && c.Running && !c.Restarting && c.IP.IsValid() && c.Labels[docker.LabelPort] != "" {
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
