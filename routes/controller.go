// Package routes is Berth's route controller: it keeps the routing table
// (package routing) following what runs. Container events from the engine
// take a container's address out of its app's route at once and then
// refresh the app; a periodic reconcile re-reads every app in case the
// event stream dropped something. The platform tells it what events cannot:
// containers to hide (checks pending, draining), apps leaving (destroy,
// rename), and when a rollout moved an app to a new generation (Refresh).
//
// The rules it keeps (docs/DESIGN.md, Routing): an address is trusted only
// while its container runs, so a going-away event drops it without asking
// the engine, and no refresh that began before the event can put it back;
// refreshes of one app are serialised, so one that read an older
// generation cannot undo a rollout's route; the reconcile writes with
// Table.SetIfUnchanged, keeping any route changed since it looked. Which
// containers are this Berth's (instance IDs) is the engine's business: its
// listings and events carry only those.
package routes

// controller.go is longer than the project's ~500 lines on purpose: it
// holds the controller's state and every method that takes its lock, so
// the rules in the package doc can be checked in one reading.

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routing"
)

// Engine is what the controller asks of the container engine.
// platform.Engine (a *docker.Client, or internal/fakeengine) satisfies it.
type Engine interface {
	// Events streams events of app containers until ctx ends; the error
	// channel yields one error when the stream breaks.
	Events(ctx context.Context) (<-chan docker.Event, <-chan error)
	// ListRunning lists the containers with all of labels, inspected.
	ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error)
	Inspect(ctx context.Context, id string) (docker.Container, error)
}

// App is what routes an app.
type App struct {
	// Generation is the generation of containers that take traffic; 0
	// until the first deploy (nothing is routed).
	Generation int
	// Hosts are every host the app answers on.
	Hosts []string
	// Stopped is set while the app is stopped (ps:stop): its containers'
	// exits are not failures.
	Stopped bool
	// Disabled is set while the app is out of routing (proxy:disable,
	// domains:disable): its hosts stay its own in the table (no other
	// app's wildcard takes them), with no targets (routing.Route.Disabled).
	Disabled bool
}

// Apps is what the controller asks of the app core.
type Apps interface {
	// Names lists every app.
	Names(ctx context.Context) ([]string, error)
	// Lookup returns what routes app; found is false when it has no
	// record.
	Lookup(ctx context.Context, app string) (a App, found bool, err error)
	// Exists reports whether app has a record.
	Exists(ctx context.Context, app string) (bool, error)
}

// ReconcileInterval is how often the controller re-reads the engine's
// state in case the event stream dropped something.
const ReconcileInterval = 15 * time.Second

// Controller keeps the routing table following the engine. Its methods are
// safe for concurrent use.
type Controller struct {
	engine Engine
	table  *routing.Table
	apps   Apps
	log    *slog.Logger

	// refreshing holds a mutex per app that serialises its refreshes.
	refreshing sync.Map

	// mu guards the maps below, and orders a refresh's final write with
	// Remove (see refresh).
	mu sync.Mutex
	// leaving apps are being destroyed (or renamed away): events about
	// their containers must not route them again.
	// The count is of the marks not yet undone: a destroy that marks
	// an app inside a rename that marked it already leaves it marked
	// until both are done.
	leaving map[string]int
	// targetOf maps a routed container to its address, so an event that
	// says it is going away can take it out of the route at once.
	targetOf map[string]string
	// gone containers were reported going away by an event and take no
	// traffic until an event says they started again, whatever a refresh
	// that began before the event saw.
	gone map[string]time.Time
	// hidden containers take no traffic although they are of the current
	// generation: new ones of a scale-up until they pass their checks, and
	// old ones of a scale-down while they drain.
	hidden map[string]bool
	// bursts count each crash-looping container's restarts, so that a
	// burst is logged once (noteExit).
	bursts map[string]*burst

	// reconciling is set while the periodic reconcile runs (on a
	// goroutine of its own, so that events never wait behind it);
	// reconciles tracks it for Close.
	reconciling atomic.Bool
	reconciles  sync.WaitGroup
	// reconcileStart is when the running reconcile began (UnixNano; 0
	// when none runs): forgetGone keeps every gone mark newer than it,
	// since that reconcile's listing may still show the container running.
	reconcileStart atomic.Int64

	// interval is ReconcileInterval (tests shorten it).
	interval time.Duration

	// source gives the targets of apps that run elsewhere than in this
	// engine's containers (SetTargetSource); nil: none do.
	source atomic.Pointer[TargetSource]

	cancel context.CancelFunc
	done   chan struct{}
}

// New returns a controller of table; call Start to follow the engine.
// A nil logger discards.
func New(engine Engine, table *routing.Table, apps Apps, log *slog.Logger) *Controller {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Controller{
		engine:   engine,
		table:    table,
		apps:     apps,
		log:      log,
		leaving:  map[string]int{},
		targetOf: map[string]string{},
		gone:     map[string]time.Time{},
		hidden:   map[string]bool{},
		bursts:   map[string]*burst{},
		interval: ReconcileInterval,
	}
}

// Start subscribes to container events, runs prepare (nil for nothing),
// reconciles, and then follows events until Close. It subscribes first,
// so that no event falls between the reconcile and the watch.
func (c *Controller) Start(ctx context.Context, prepare func(context.Context) error) error {
	loopCtx, cancel := context.WithCancel(context.Background())
	events, errs := c.engine.Events(loopCtx)
	if prepare != nil {
		if err := prepare(ctx); err != nil {
			cancel()
			return err
		}
	}
	if err := c.Reconcile(ctx); err != nil {
		cancel()
		return err
	}
	c.cancel, c.done = cancel, make(chan struct{})
	go c.watch(loopCtx, events, errs)
	return nil
}

// Close stops following the engine. Routes stay as they are.
func (c *Controller) Close() {
	if c.cancel != nil {
		c.cancel()
		<-c.done
		c.reconciles.Wait()
	}
}

// watch applies container events to the routing table, and reconciles
// periodically and whenever the event stream had to be reopened.
func (c *Controller) watch(ctx context.Context, events <-chan docker.Event, errs <-chan error) {
	defer close(c.done)
	ticker := time.NewTicker(c.interval)
	defer ticker.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case ev, ok := <-events:
			if !ok {
				events = nil
				continue
			}
			if app := ev.Labels[docker.LabelApp]; app != "" {
				// With Caddy's debug option on, each event and the route
				// it led to (Refresh's line) are in the log, timed: how a
				// slow convergence is traced to its cause.
				c.log.Debug("container event", "app", app, "action", ev.Action, "container", ev.ContainerID)
				switch {
				case goingAway[ev.Action] && !signalOnly(ev):
					c.dropTarget(app, ev.ContainerID)
				case ev.Action == "start" || ev.Action == "unpause":
					c.mu.Lock()
					delete(c.gone, ev.ContainerID)
					c.mu.Unlock()
				}
				if ev.Action == "die" {
					c.noteExit(ctx, ev.ContainerID)
				}
				if err := c.Refresh(ctx, app); err != nil && ctx.Err() == nil {
					c.log.Warn("refresh routes after container event", "app", app, "action", ev.Action, "error", err)
				}
			}
		case err := <-errs:
			if ctx.Err() != nil {
				return
			}
			c.log.Warn("docker event stream broke; reopening", "error", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			events, errs = c.engine.Events(ctx)
			c.reconcileAside(ctx)
		case <-ticker.C:
			c.forgetGone(time.Minute)
			c.forgetBursts()
			c.reconcileAside(ctx)
		}
	}
}

// reconcileAside runs a reconcile on a goroutine of its own, unless one
// is still running (it will see what this one would). Events go on being
// applied meanwhile: with 500 apps a reconcile reads 500 records, and a
// die event that waited behind it would leave a stopped container's
// address routed, to reach whichever container Docker gives it next
// (another tenant's). The reconcile cannot undo an event: it writes with
// SetIfUnchanged, and drops containers that went away while it looked
// (live).
func (c *Controller) reconcileAside(ctx context.Context) {
	if !c.reconciling.CompareAndSwap(false, true) {
		return
	}
	c.reconciles.Add(1)
	go func() {
		defer c.reconciles.Done()
		defer c.reconciling.Store(false)
		start := time.Now()
		if err := c.Reconcile(ctx); err != nil && ctx.Err() == nil {
			c.log.Warn("reconcile", "error", err)
			return
		}
		// How long it took, for whoever measures Berth at scale.
		c.log.Debug("reconciled routes", "took", time.Since(start))
	}()
}

// Reconcile re-reads every app and its containers and routes accordingly.
func (c *Controller) Reconcile(ctx context.Context) error {
	// Note when it began, for forgetGone. Should two run at once (a caller
	// beside the periodic one), the first's start is kept, the older.
	if start := time.Now().UnixNano(); c.reconcileStart.CompareAndSwap(0, start) {
		defer c.reconcileStart.CompareAndSwap(start, 0)
	}
	// Note the routes before looking, so that a route an event or a
	// deploy changes meanwhile is not overwritten with this older view.
	seen := c.table.Routes()
	names, err := c.apps.Names(ctx)
	if err != nil {
		return err
	}
	// One listing for every app's web containers: a reconcile of 500 apps
	// is one call to the engine, not 500.
	all, err := c.engine.ListRunning(ctx, docker.LabelApp, docker.LabelProcess+"=web")
	if err != nil {
		return err
	}
	byApp := map[string][]docker.Container{}
	for _, ct := range all {
		byApp[ct.Labels[docker.LabelApp]] = append(byApp[ct.Labels[docker.LabelApp]], ct)
	}
	type view struct {
		hosts    []string
		disabled bool
		cands    []candidate
		// remote: cands are the target source's (Route.Remote).
		remote bool
	}
	views := make(map[string]view, len(names))
	known := map[string]bool{}
	for _, name := range names {
		known[name] = true
		if c.IsLeaving(name) {
			continue
		}
		a, found, err := c.apps.Lookup(ctx, name)
		if err != nil {
			if ctx.Err() != nil {
				return err
			}
			// One unreadable record must not keep every other app from
			// being reconciled: this one's route stays as it is.
			c.log.Warn("reconcile: skipping an app whose record cannot be read", "app", name, "error", err)
			continue
		}
		if !found {
			// Destroyed between the listing and now: its route is the
			// destroy's to take away (it is in known, so it is not in
			// remove either); the other apps are reconciled.
			continue
		}
		v := view{hosts: a.Hosts, disabled: a.Disabled}
		if !a.Disabled {
			if v.cands, v.remote = c.sourced(name, a.Generation); !v.remote {
				v.cands = candidates(byApp[name], a.Generation)
			}
		}
		views[name] = v
	}
	// Decide what is live and write under c.mu, which dropTarget's mark
	// and Refresh's write take too: a container that an event said went
	// away while this reconcile looked is left out, and one that goes
	// away after the write is in targetOf for the event to drop.
	c.mu.Lock()
	defer c.mu.Unlock()
	next := make(map[string]routing.Route, len(views))
	for name, v := range views {
		if c.leaving[name] > 0 {
			// Marked leaving since it was read: it is in remove below. In
			// next too, a targets-only change would make its route differ
			// from seen, and the removal would be skipped.
			continue
		}
		if seen[name] == nil {
			// Not routed when seen was read, so SetIfUnchanged's check
			// (still absent) cannot tell a destroy that came and went
			// since: ask, as Refresh does, under c.mu, which the destroy's
			// Remove takes. An app whose record is gone (or cannot be
			// read now) is left to the next reconcile.
			if ok, err := c.apps.Exists(ctx, name); err != nil || !ok {
				continue
			}
		}
		next[name] = routing.Route{Hosts: v.hosts, Disabled: v.disabled, Targets: c.liveLocked(v.cands), Remote: v.remote}
	}
	var remove []string
	for name := range seen {
		if !known[name] || c.leaving[name] > 0 {
			remove = append(remove, name)
		}
	}
	c.table.SetIfUnchanged(seen, next, remove)
	return nil
}

// Refresh routes app to its running web containers of the current
// generation, or takes its route away if it has no record or is leaving.
// Containers of other generations are never routed: during a rollout the
// new containers run before they pass their checks, and must not take
// traffic yet.
func (c *Controller) Refresh(ctx context.Context, app string) error {
	// One refresh of an app at a time: a refresh that read the record
	// before a rollout recorded its new generation must finish before the
	// rollout's own refresh starts, or it would put the old containers
	// back in the route after the rollout moved it.
	mu, _ := c.refreshing.LoadOrStore(app, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	if c.IsLeaving(app) {
		c.table.Remove(app)
		return nil
	}
	a, found, err := c.apps.Lookup(ctx, app)
	if err != nil {
		return err
	}
	if !found {
		c.table.Remove(app)
		return nil
	}
	var cands []candidate
	var remote bool
	if !a.Disabled {
		if cands, remote, err = c.readyTargets(ctx, app, a.Generation); err != nil {
			return err
		}
	}
	// Apply only if the app still exists, checked under the lock Remove
	// takes: a refresh that read the record before a destroy deleted it
	// must not route the app again after the destroy took its route away.
	c.mu.Lock()
	defer c.mu.Unlock()
	if ok, err := c.apps.Exists(ctx, app); err == nil && !ok {
		c.table.Remove(app)
		return nil
	}
	c.table.SetHostsDisabled(app, a.Hosts, a.Disabled)
	live := c.liveLocked(cands)
	c.table.SetTargetsFrom(app, live, remote)
	// Targets left out of live are hidden (a start waiting for its
	// checks) or reported going away.
	c.log.Debug("routes refreshed", "app", app, "targets", live, "running", len(cands))
	return nil
}

// Remove takes app's route away, ordered with refreshes: called after the
// app's record is deleted, no refresh can route the app again.
func (c *Controller) Remove(app string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.table.Remove(app)
}

// readyTargets are app's web processes of generation that may take
// traffic; remote when the target source runs that generation (its
// targets are not containers of this host: Route.Remote).
func (c *Controller) readyTargets(ctx context.Context, app string, generation int) (cands []candidate, remote bool, err error) {
	if generation == 0 {
		return nil, false, nil
	}
	if cands, elsewhere := c.sourced(app, generation); elsewhere {
		return cands, true, nil
	}
	cs, err := c.engine.ListRunning(ctx, docker.LabelApp+"="+app, docker.LabelProcess+"=web")
	if err != nil {
		return nil, false, err
	}
	return candidates(cs, generation), false, nil
}

// Target is a process that takes an app's traffic at an address that is
// not a container's on this engine: a Swarm task's published port.
type Target struct {
	// ID names the process (a task's ID) for Hide and Unhide.
	ID string
	// Addr is where Caddy reaches it, host:port.
	Addr string
}

// TargetSource gives the targets of apps whose processes are not this
// engine's containers (package scheduler/swarm: tasks, which it follows
// by polling, as Swarm sends no task events). It answers from memory:
// refreshes and the reconcile ask it under no lock of theirs.
type TargetSource interface {
	// Targets returns the web processes of app's generation that may take
	// traffic (running, checks passed), and whether the source runs that
	// generation of app at all; when it does not, the app's containers
	// are routed.
	Targets(app string, generation int) (targets []Target, runs bool)
}

// SetTargetSource makes the controller route the apps s runs to the
// targets s gives, and every other app to its containers.
func (c *Controller) SetTargetSource(s TargetSource) { c.source.Store(&s) }

// sourced asks the target source for app's generation.
func (c *Controller) sourced(app string, generation int) ([]candidate, bool) {
	s := c.source.Load()
	if s == nil || generation == 0 {
		return nil, false
	}
	ts, runs := (*s).Targets(app, generation)
	if !runs {
		return nil, false
	}
	out := make([]candidate, 0, len(ts))
	for _, t := range ts {
		out = append(out, candidate{id: t.ID, addr: t.Addr, sourced: true})
	}
	return out, true
}

// candidate is a running web container of an app's generation, as a
// listing saw it: whether it takes traffic is decided at the write
// (liveLocked), since an event may say it went away in between.
type candidate struct {
	id, addr string
	// sourced: the target source's (a task), which no container event
	// names, so it has no place in targetOf: kept there, it would stay
	// after the task is gone, forever.
	sourced bool
}

// candidates returns the running web containers of generation among cs.
func candidates(cs []docker.Container, generation int) []candidate {
	if generation == 0 {
		return nil
	}
	gen := strconv.Itoa(generation)
	var out []candidate
	for _, ct := range cs {
		if !AppContainer(ct) || ct.Labels[docker.LabelGeneration] != gen || !ct.Running || ct.Restarting || !ct.IP.IsValid() || ct.Labels[docker.LabelPort] == "" {
			continue
		}
		out = append(out, candidate{id: ct.ID, addr: net.JoinHostPort(ct.IP.String(), ct.Labels[docker.LabelPort])})
	}
	return out
}

// liveLocked returns the addresses of cands that may take traffic (not
// hidden, not reported going away), and remembers which container has
// which, for dropTarget. The caller holds c.mu and writes the result to
// the table before releasing it.
func (c *Controller) liveLocked(cands []candidate) []string {
	var targets []string
	for _, cd := range cands {
		if _, gone := c.gone[cd.id]; gone || c.hidden[cd.id] {
			continue
		}
		targets = append(targets, cd.addr)
		if !cd.sourced {
			c.targetOf[cd.id] = cd.addr
		}
	}
	return targets
}

// AppContainer reports whether c, one of this Berth's containers that
// names an app, is one of that app's process containers, and not a
// one-off. Berth sets both labels on every container it makes, so this
// only matters for containers adopted from a Berth before instance IDs,
// whose one-offs could carry an image's berth.app.
func AppContainer(c docker.Container) bool {
	return c.Labels[docker.LabelOneOff] == "" && c.Labels[docker.LabelApp] != ""
}

// ContainerLister lists containers by label and inspects them
// (platform.Engine is one).
type ContainerLister interface {
	List(ctx context.Context, labels ...string) ([]string, error)
	Inspect(ctx context.Context, id string) (docker.Container, error)
}

// AppContainers returns app's process containers (AppContainer: never a
// one-off), running or not, that carry all of labels; one removed between
// the listing and its inspection is left out.
func AppContainers(ctx context.Context, e ContainerLister, app string, labels ...string) ([]docker.Container, error) {
	ids, err := e.List(ctx, append([]string{docker.LabelApp + "=" + app}, labels...)...)
	if err != nil {
		return nil, err
	}
	out := make([]docker.Container, 0, len(ids))
	for _, id := range ids {
		c, err := e.Inspect(ctx, id)
		if docker.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if AppContainer(c) {
			out = append(out, c)
		}
	}
	return out, nil
}

// goingAway are the container events after which a container's address
// must take no more requests.
var goingAway = map[string]bool{"kill": true, "die": true, "stop": true, "pause": true, "destroy": true}

// signalOnly reports whether ev is a kill that signals a container
// without asking it to stop (docker kill -s HUP: a reload, log
// reopening). Docker reports every docker kill -s as a kill event, with the
// signal's number. The container runs on; if the signal does end it, its
// die event takes it out. Dropped as going away, it would stay out of the
// route until the mark expired (forgetGone, a minute) and a reconcile ran.
//
// Only HUP, USR1 and USR2, the signals servers take for a reload or a log
// reopening, are signal-only: docker stop sends the image's STOPSIGNAL,
// which may be any other (httpd's is WINCH, nginx's QUIT), and such a
// container closes its listeners at once, so every other kill is going
// away. An image whose STOPSIGNAL is one of the three leaves the route at
// its die event instead, after its stop.
func signalOnly(ev docker.Event) bool {
	if ev.Action != "kill" {
		return false
	}
	switch ev.Labels["signal"] {
	case "1", "10", "12":
		return true
	}
	return false
}

// dropTarget takes a container out of its app's route at once, without
// asking the engine anything. When a container dies its address is freed,
// and Docker may give it to a new container of another app within
// milliseconds; the full refresh that follows takes longer, and until then
// the old address would reach the wrong app.
func (c *Controller) dropTarget(app, id string) {
	c.mu.Lock()
	addr, ok := c.targetOf[id]
	delete(c.targetOf, id)
	c.gone[id] = time.Now()
	c.mu.Unlock()
	if !ok {
		return
	}
	// Read and written in one step under the table's write lock: a
	// rollout's refresh writing new targets between a read and a write
	// here would be overwritten with the old targets less addr.
	c.table.RemoveTarget(app, addr)
}

// forgetGone drops going-away marks older than age: by then every refresh
// that started before the event has finished, and a container that is
// still down is left out of routes because it does not run. A reconcile
// may take longer (a stuck engine): while one runs, only marks older than
// its start go, since its listing may show a container that died since as
// running, and only the mark keeps the write from routing its address
// (which Docker may have given to another app's container).
func (c *Controller) forgetGone(age time.Duration) {
	cutoff := time.Now().Add(-age)
	if start := c.reconcileStart.Load(); start != 0 && time.Unix(0, start).Before(cutoff) {
		cutoff = time.Unix(0, start)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, at := range c.gone {
		if at.Before(cutoff) {
			delete(c.gone, id)
		}
	}
}

// Leaving marks app as leaving (being destroyed or renamed away) until
// the returned function is called: no event or refresh routes it
// meanwhile, and the reconcile takes its route away. Marks nest: the app
// stays marked until every done is called; done is idempotent.
func (c *Controller) Leaving(app string) (done func()) {
	c.mu.Lock()
	c.leaving[app]++
	c.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			c.mu.Lock()
			defer c.mu.Unlock()
			if c.leaving[app]--; c.leaving[app] <= 0 {
				delete(c.leaving, app)
			}
		})
	}
}

// IsLeaving reports whether app is marked leaving.
func (c *Controller) IsLeaving(app string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.leaving[app] > 0
}

// Hide keeps container id out of routes until Unhide, although it runs
// and is of its app's generation: a new container until it passes its
// checks, an old one while it drains. It takes effect at the next refresh.
func (c *Controller) Hide(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.hidden[id] = true
}

// KeptOut reports whether container id takes no traffic although it may
// run and be of its app's generation: hidden (Hide: a scale-up's new
// container before its checks, a scale-down's draining one) or reported
// going away. It is for traffic routed outside the table (tcproute's
// process-scoped tcp mappings), which must follow the same rules.
func (c *Controller) KeptOut(id string) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	_, gone := c.gone[id]
	return gone || c.hidden[id]
}

// Unhide undoes Hide; it takes effect at the next refresh.
func (c *Controller) Unhide(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.hidden, id)
}

// noteExit says what a container's exit means: a crash that Docker's
// restart policy answers (one log line at the start of each burst of
// restarts, not one per restart), or a container that has stopped for
// good (its policy gave up, or does not restart it). Exits Berth causes
// are not crashes: those of a stopped app (ps:stop), and of containers of
// another generation (a rollout retiring them).
func (c *Controller) noteExit(ctx context.Context, id string) {
	ct, err := c.engine.Inspect(ctx, id)
	if err != nil {
		return
	}
	app := ct.Labels[docker.LabelApp]
	a, found, err := c.apps.Lookup(ctx, app)
	if err != nil || !found || a.Stopped || ct.Labels[docker.LabelGeneration] != strconv.Itoa(a.Generation) {
		return
	}
	slot := ct.Labels[docker.LabelProcess] + "." + ct.Labels[docker.LabelIndex]
	if failed, why := Exhausted(ct); failed {
		c.endBurst(id)
		c.log.Error("app container failed: "+why+"; it stays down until the formation check starts it again, ps:restart "+app+" or the next deploy (see ps:report "+app+", logs "+app+")",
			"app", app, "process", slot, "container", ct.Name)
		return
	}
	if !ct.Restarting {
		return // stopped by Berth (a scale-down) or exited 0 under on-failure: the formation check sees to it
	}
	if n, first := c.countRestart(id); first {
		c.log.Warn(fmt.Sprintf("app container crashed (exit code %d); Docker is restarting it (restart %d%s, restart policy %s)", ct.ExitCode, ct.RestartCount, ofMax(ct), policyName(ct)),
			"app", app, "process", slot, "container", ct.Name)
	} else if n%10 == 0 {
		c.log.Warn(fmt.Sprintf("app container keeps crashing: %d restarts in this burst (exit code %d)", n, ct.ExitCode),
			"app", app, "process", slot, "container", ct.Name)
	}
}

// burstGap is how long a container must stay up for its next crash to
// start a new burst of restarts (and a new log line).
const burstGap = time.Minute

type burst struct {
	count int
	last  time.Time
}

// countRestart counts a restart of container id; first is set when it
// starts a new burst.
func (c *Controller) countRestart(id string) (n int, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	b, ok := c.bursts[id]
	if !ok || time.Since(b.last) > burstGap {
		b, first = &burst{}, true
		c.bursts[id] = b
	}
	b.count++
	b.last = time.Now()
	return b.count, first
}

func (c *Controller) endBurst(id string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.bursts, id)
}

// forgetBursts drops bursts that ended long ago.
func (c *Controller) forgetBursts() {
	c.mu.Lock()
	defer c.mu.Unlock()
	for id, b := range c.bursts {
		if time.Since(b.last) > burstGap {
			delete(c.bursts, id)
		}
	}
}

func ofMax(ct docker.Container) string {
	if ct.RestartPolicy == "on-failure" && ct.MaxRetries > 0 {
		return fmt.Sprintf(" of %d", ct.MaxRetries)
	}
	return ""
}

func policyName(ct docker.Container) string {
	if ct.RestartPolicy == "on-failure" && ct.MaxRetries > 0 {
		return fmt.Sprintf("on-failure:%d", ct.MaxRetries)
	}
	return ct.RestartPolicy
}

// Exhausted reports whether c has failed for good, and says how.
func Exhausted(c docker.Container) (bool, string) {
	if c.Running || c.Restarting || c.ExitCode == 0 {
		return false, ""
	}
	switch c.RestartPolicy {
	case "on-failure":
		if c.MaxRetries > 0 && c.RestartCount >= c.MaxRetries {
			return true, fmt.Sprintf("crash loop, gave up after %d restarts: exited with code %d (restart policy on-failure:%d exhausted)", c.RestartCount, c.ExitCode, c.MaxRetries)
		}
	case "no", "":
		return true, fmt.Sprintf("exited with code %d (restart policy no)", c.ExitCode)
	}
	return false, ""
}
