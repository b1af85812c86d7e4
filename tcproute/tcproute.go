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
	"log/slog"
	"net"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
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

// Routes is what the router asks of the route controller (package
// routes; *routes.Controller is one).
type Routes interface {
	// KeptOut is whether a container takes no traffic although it runs
	// and is of the app's generation: not yet past its checks, draining,
	// or going away.
	KeptOut(id string) bool
}

// Hooks are the core's app lifecycle hooks; *platform.Platform has them.
type Hooks interface {
	OnAppDestroyed(f func(ctx context.Context, app string))
	OnAppRenameSetup(f func(ctx context.Context, from, to string) error)
	OnAppRenaming(f func(ctx context.Context, from, to string) error)
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
	// Routes, when set, keeps the containers the route controller keeps
	// out of routes out of a process-scoped mapping's targets too (a
	// scale-up's new container until its checks pass, a draining one).
	Routes Routes
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
	// MaxConns is the most connections one mapping has open at once
	// (tcp_max_connections); one over it is closed at once. 0:
	// DefaultMaxConns. SetMaxConns changes it.
	MaxConns int
	// ProcessTargetsTTL is how long one engine listing of a process
	// type's containers serves every connection of its mappings; 0:
	// DefaultProcessTargetsTTL.
	ProcessTargetsTTL time.Duration
}

// DefaultHoldTimeout is how long a new connection waits for a container.
const DefaultHoldTimeout = 5 * time.Second

// DialTimeout bounds one dial to a container.
const DialTimeout = 3 * time.Second

// DefaultMaxConns is how many connections one mapping has open at once
// unless tcp_max_connections says otherwise: a database's clients hold
// a pool of a few dozen; a flood past it costs Berth no more descriptors.
const DefaultMaxConns = 512

// DefaultProcessTargetsTTL is how long a listing of a process type's
// running containers is shared by the connections waiting for one, so
// that engine calls do not grow with the connections; short, since an
// address is trusted only while its container runs (a dial to a gone
// one fails and the next target is tried).
const DefaultProcessTargetsTTL = 250 * time.Millisecond

// capLogEvery is how often a mapping at its connection cap says so.
const capLogEvery = 10 * time.Second

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

	// maxConns is the connection cap of one mapping.
	maxConns atomic.Int64

	procMu sync.Mutex
	// procs share the process-scoped mappings' engine listings.
	procs map[procKey]*procTargets
}

type procKey struct{ app, process string }

// procTargets is one process type's targets as last listed; its mu is
// held during a listing, so the connections that want it meanwhile wait
// for that one rather than list again.
type procTargets struct {
	mu      sync.Mutex
	at      time.Time
	targets []string
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
	// active counts the open connections (the cap); capped counts the
	// ones closed at the cap since capLogged (unix nanoseconds).
	active    atomic.Int64
	capped    atomic.Int64
	capLogged atomic.Int64
	// acceptFails counts the passing Accept errors since failLogged
	// (unix nanoseconds) said so.
	acceptFails atomic.Int64
	failLogged  atomic.Int64
	// rebound is when this listener was bound again after its port's
	// previous listener stopped (zero: it was not).
	rebound time.Time
	// stopped: its accept loop ended on an error and the port could not
	// be bound again; it holds the port for its app (Check refuses it to
	// others) until the app's next Sync binds it. r.mu guards it.
	stopped bool
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
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns
	}
	if cfg.ProcessTargetsTTL <= 0 {
		cfg.ProcessTargetsTTL = DefaultProcessTargetsTTL
	}
	r := &Router{cfg: cfg, log: cfg.Logger, listeners: map[int]*listener{}, pending: map[int]*listener{}, renaming: map[string]string{}, procs: map[procKey]*procTargets{}}
	r.maxConns.Store(int64(cfg.MaxConns))
	if h := cfg.Hooks; h != nil {
		h.OnAppDestroyed(func(_ context.Context, app string) { r.destroyed(app) })
		h.OnAppRenameSetup(func(_ context.Context, from, to string) error { r.renameSetup(from, to); return nil })
		// From the renaming hooks on, the new app serves whatever
		// happens: the core abandons it (its destroyed hook) only before
		// them. A rename that fails in them leaves both apps, the ports
		// with the new one; so the mark that gives them back on an abort
		// goes here, or a later apps:destroy of the new app would hand
		// its ports to the old name.
		h.OnAppRenaming(func(_ context.Context, _, to string) error { r.renameDone(to); return nil })
		h.OnAppRenamed(func(_ context.Context, _, to string) { r.renameDone(to) })
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

// SetRoutes sets Config.Routes; call it before Start.
func (r *Router) SetRoutes(routes Routes) { r.cfg.Routes = routes }

// SetMaxConns sets the most connections one mapping has open at once
// (the Caddyfile's tcp_max_connections); 0: DefaultMaxConns. Open
// connections over a lowered cap go on.
func (r *Router) SetMaxConns(n int) {
	if n <= 0 {
		n = DefaultMaxConns
	}
	r.maxConns.Store(int64(n))
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
	seen := map[int]platform.PortMapping{}
	var bound []*listener
	fail := func(err error) error {
		for _, l := range bound {
			delete(r.pending, l.port)
			l.close()
		}
		return err
	}
	for _, m := range TCPMappings(next) {
		if prev, ok := seen[m.HostPort]; ok {
			if prev == m {
				// The same mapping again (ports:add re-run, as Dokku's can
				// be): the record keeps one.
				continue
			}
			return fail(fmt.Errorf("host port %d is mapped twice: one tcp mapping a host port", m.HostPort))
		}
		seen[m.HostPort] = m
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
			// Not served yet: a deploy key may take it only inside its
			// range, as a port it binds itself.
			if deployKey && !r.inDeployKeyRange(m.HostPort) {
				return fail(r.deployKeyError(m.HostPort))
			}
			l.dest.Store(&dest{app: app, port: m.ContainerPort, process: m.Process})
			continue
		}
		if deployKey && !r.inDeployKeyRange(m.HostPort) {
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

// inDeployKeyRange is whether a deploy key may map port; r.mu is held.
func (r *Router) inDeployKeyRange(port int) bool {
	return r.lo != 0 && port >= r.lo && port <= r.hi
}

func (r *Router) deployKeyError(port int) error {
	if r.lo == 0 {
		return fmt.Errorf("a deploy key may not map TCP host ports: an admin key maps tcp:%d:..., or an admin opens a range to deploy keys with tcp_ports LOW-HIGH in the Caddyfile's berth block", port)
	}
	return fmt.Errorf("host port %d is outside the TCP ports deploy keys may map (tcp_ports %d-%d); choose one inside, or ask an admin to map it", port, r.lo, r.hi)
}

// Sync makes app's listeners match its record: the tcp mappings it names
// are served (a port Check bound is served from now on; one bound by
// nobody, or whose listener stopped, is bound now, as at start), the
// others closed. Established
// connections of a closed listener go on. An app with no record has none.
func (r *Router) Sync(ctx context.Context, app string) error {
	var want []platform.PortMapping
	a, err := r.cfg.Apps.App(ctx, app)
	switch {
	case errors.Is(err, platform.ErrAppNotFound):
	case err != nil:
		// Which mappings the record names is not known: the served ones
		// stay, but the ports Check bound are released rather than held
		// with nothing serving them; the app's next Sync binds what its
		// record names.
		r.mu.Lock()
		defer r.mu.Unlock()
		r.releasePendingLocked(app)
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
			if l.dest.Load().app != app {
				errs = append(errs, fmt.Errorf("app %s: host port %d is app %s's; its tcp:%d:%d is not served", app, m.HostPort, l.dest.Load().app, m.HostPort, m.ContainerPort))
			} else if !l.stopped {
				l.dest.Store(d)
			} else if ln, err := r.cfg.Listen(m.HostPort); err != nil {
				// Still held for the app: tried again at its next Sync.
				l.dest.Store(d)
				errs = append(errs, fmt.Errorf("app %s: tcp:%d:%d is not served: %w", app, m.HostPort, m.ContainerPort, err))
			} else {
				nl := &listener{port: m.HostPort, ln: ln}
				nl.dest.Store(d)
				r.serve(nl)
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
	r.releasePendingLocked(app)
	return errors.Join(errs...)
}

// releasePendingLocked closes the ports Check bound for app and Sync did
// not serve; r.mu is held.
func (r *Router) releasePendingLocked(app string) {
	for port, l := range r.pending {
		if l.dest.Load().app == app {
			delete(r.pending, port)
			l.close()
		}
	}
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
		if l.dest.Load().app == app && !l.stopped {
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
	for to, from := range r.renaming {
		if from == app { // the old name is gone: nothing to give back to
			delete(r.renaming, to)
		}
	}
	r.forgetProcs(app)
	for _, m := range []map[int]*listener{r.listeners, r.pending} {
		for port, l := range m {
			if l.dest.Load().app == app {
				delete(m, port)
				l.close()
			}
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

// renameDone ends a rename's chance of an abort: to keeps the ports.
func (r *Router) renameDone(to string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	delete(r.renaming, to)
}

// forgetProcs drops app's shared process listings.
func (r *Router) forgetProcs(app string) {
	r.procMu.Lock()
	defer r.procMu.Unlock()
	for k := range r.procs {
		if k.app == app {
			delete(r.procs, k)
		}
	}
}

// rekeyLocked gives from's listeners, served and pending (a ports change
// between its check and its sync), to to; r.mu is held.
func (r *Router) rekeyLocked(from, to string) {
	r.forgetProcs(from)
	for _, m := range []map[int]*listener{r.listeners, r.pending} {
		for _, l := range m {
			if d := l.dest.Load(); d.app == from {
				l.dest.Store(&dest{app: to, port: d.port, process: d.process})
			}
		}
	}
}
