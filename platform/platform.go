// Package platform is Berth's core: apps, releases and the deploy
// pipeline. It decides what runs (through package docker) and what is
// routed (through package routing), and keeps app records in a store.
// It knows nothing of Caddy, SSH or git's wire protocol.
package platform

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

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/busy"
	"github.com/berth-paas/berth/repo"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// Config is what a Platform is made from.
type Config struct {
	// Store keeps app records.
	Store store.Store
	// Engine runs containers: a *docker.Client, or a fake in unit tests.
	Engine Engine
	// Builders picks the builder of each deploy of a source (see
	// package builder); nil refuses such deploys.
	Builders *builder.Selector
	// Table is the routing table the platform keeps current.
	Table *routing.Table
	// ReposDir holds each app's bare git repository, APP.git.
	ReposDir string
	// BuildsDir keeps each app's last builds, record and log, under
	// APP/; empty keeps none.
	BuildsDir string
	// StorageDir holds the directories storage:ensure-directory makes.
	StorageDir string
	// Logger receives what happens; nil means discard.
	Logger *slog.Logger
	// Limits bound what one app may take of the host; zero fields take
	// their defaults (limits.go).
	Limits Limits
}

// Platform runs apps. Its methods are safe for concurrent use.
type Platform struct {
	store    store.Store
	docker   Engine // the container engine (named for what runs it today)
	builders *builder.Selector
	table    *routing.Table
	gitRepos *repo.Store // follows the apps through the hooks (New)
	builds   buildStore
	log      *slog.Logger

	// storageDir holds storage:ensure-directory's directories.
	storageDir string

	// busy names what holds each app ("a deploy", ...): one change of an
	// app at a time.
	busy busy.Set

	// keysMu serialises every read-modify-write of the ssh-keys
	// document (editSSHKeys).
	keysMu sync.Mutex

	mu            sync.Mutex
	globalDomains []string          // from the Caddyfile
	storedGlobal  []string          // added with domains:add --global
	globalConfig  map[string]string // config:set --global
	limits        Limits            // SetLimits
	// refreshing holds a mutex per app that serialises its refreshes.
	refreshing sync.Map
	// leaving apps are being destroyed (or renamed away): events about
	// their containers must not route them again.
	leaving map[string]bool
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
	// hooks let other packages follow apps that go or change name.
	hooks appHooks
	// maxLogLines caps logs -n (SetMaxLogLines); 0 means the default.
	maxLogLines atomic.Int64
	// identified is set once the Docker client has this Berth's
	// instance ID (Identify).
	identified bool
	// urls turns hosts into the URLs users open (SetURLs, urls.go).
	urls atomic.Pointer[URLsFunc]

	cancel context.CancelFunc
	done   chan struct{}
}

// ReconcileInterval is how often the platform re-reads Docker's state in
// case the event stream dropped something.
const ReconcileInterval = 15 * time.Second

// New returns a platform; call Start to bring routes up.
func New(cfg Config) *Platform {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Platform{
		store:    cfg.Store,
		docker:   cfg.Engine,
		builders: cfg.Builders,
		table:    cfg.Table,
		gitRepos: repo.New(cfg.ReposDir, log),
		builds:   buildStore{dir: cfg.BuildsDir},
		log:      log,
		hidden:   map[string]bool{},
		targetOf: map[string]string{},
		leaving:  map[string]bool{},
		gone:     map[string]time.Time{},

		storageDir: cfg.StorageDir,
	}
	p.SetLimits(cfg.Limits)
	p.gitRepos.Follow(p)
	return p
}

// Start makes sure Berth's network exists, subscribes to container events,
// then routes every app to its running containers. It does not start,
// stop or restart any container: apps that kept running while Berth was
// down are served as they are.
func (p *Platform) Start(ctx context.Context) error {
	if err := p.Identify(ctx); err != nil {
		return err
	}
	if err := p.docker.EnsureNetwork(ctx); err != nil {
		return err
	}
	loopCtx, cancel := context.WithCancel(context.Background())
	p.cancel = cancel
	p.done = make(chan struct{})
	// Subscribe before the first reconcile so no event falls between them.
	events, errs := p.docker.Events(loopCtx)
	if err := p.removeInterrupted(ctx); err != nil {
		cancel()
		return err
	}
	if err := p.Reconcile(ctx); err != nil {
		cancel()
		return err
	}
	go p.watch(loopCtx, events, errs)
	return nil
}

// removeInterrupted removes the containers of releases that are not
// current: what a deploy that was cut off (Berth killed mid-deploy) left.
// It runs once, before this process has started any deploy, so nothing
// it removes can belong to a deploy in progress.
func (p *Platform) removeInterrupted(ctx context.Context) error {
	names, err := p.store.List(ctx, "apps")
	if err != nil {
		return err
	}
	// Two listings for all apps, not two per app: starting with 500 apps
	// must not wait for 1,000 calls to Docker.
	oneOffs, err := p.docker.ListRunning(ctx, docker.LabelOneOff)
	if err != nil {
		return err
	}
	all, err := p.docker.ListRunning(ctx, docker.LabelApp)
	if err != nil {
		return err
	}
	mine := map[string]bool{}
	for _, name := range names {
		mine[name] = true
	}
	for _, c := range oneOffs {
		if mine[c.Labels[docker.LabelOneOff]] {
			if err := p.docker.Remove(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	generation := map[string]string{}
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			return err
		}
		generation[name] = strconv.Itoa(a.Generation)
		if d := a.LastDeploy; d != nil && d.Status == "running" {
			d.Status, d.Error = "failed", "interrupted: Berth stopped during the deploy"
			d.Finished = time.Now().UTC()
			p.log.Warn("a deploy was interrupted", "app", name, "release", d.Release)
			if err := saveApp(ctx, p.store, a); err != nil {
				return err
			}
		}
		if err := p.builds.failRunning(name); err != nil {
			return fmt.Errorf("builds of %s: %w", name, err)
		}
	}
	for _, c := range all {
		app := c.Labels[docker.LabelApp]
		if gen, ok := generation[app]; ok && c.Labels[docker.LabelGeneration] != gen {
			p.log.Info("removing a container of an interrupted rollout", "app", app, "container", c.Name)
			if err := p.docker.Remove(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	return nil
}

// Close stops watching Docker. Containers keep running.
func (p *Platform) Close() {
	if p.cancel != nil {
		p.cancel()
		<-p.done
	}
}

// SetGlobalDomains sets the domains apps answer under and re-routes every
// app's hosts.
func (p *Platform) SetGlobalDomains(ctx context.Context, domains []string) error {
	stored, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	p.mu.Lock()
	p.globalDomains = slices.Clone(domains)
	p.storedGlobal = stored.Domains
	p.globalConfig = stored.Config
	p.mu.Unlock()
	return p.rehost(ctx)
}

// rehost sets every app's hosts again, after the global domains changed.
func (p *Platform) rehost(ctx context.Context) error {
	names, err := p.store.List(ctx, "apps")
	if err != nil {
		return err
	}
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			return err
		}
		hosts := p.hostsFor(a)
		p.table.SetHosts(name, hosts)
		p.appHostsChanged(ctx, name, hosts)
	}
	return nil
}

// globalDomainList is the Caddyfile's global domains, then those added
// with domains:add --global.
func (p *Platform) globalDomainList() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := slices.Clone(p.globalDomains)
	for _, d := range p.storedGlobal {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

// hostsFor is every host the app answers on: its default hosts under the
// global domains, then its own domains.
func (p *Platform) hostsFor(a *App) []string {
	hosts := HostsFor(a.Name, p.globalDomainList())
	for _, d := range a.Domains {
		if !slices.Contains(hosts, d) {
			hosts = append(hosts, d)
		}
	}
	return hosts
}

// ErrBusy is returned when an app is already being changed.
var ErrBusy = errors.New("app is busy")

// lock marks app busy with what, or fails at once with a message that says
// what holds it: a second push never queues silently behind a long build.
func (p *Platform) lock(app, what string) (unlock func(), err error) {
	unlock, holder := p.busy.Take(app, what)
	if unlock == nil {
		return nil, Errorf(ErrBusy, "%s of %s is running; try again when it has finished", holder, app)
	}
	return unlock, nil
}

// AppInfo summarises an app for listings.
type AppInfo struct {
	Name    string   `json:"name"`
	Hosts   []string `json:"hosts"`
	Release int      `json:"release"`
	Targets []string `json:"targets"`
	// URLs are the hosts as users open them (URLsFor); Processes counts
	// the app's running containers by process type.
	URLs      []string       `json:"urls"`
	Processes map[string]int `json:"processes"`
}

// List returns every app, sorted by name.
func (p *Platform) List(ctx context.Context) ([]AppInfo, error) {
	names, err := p.store.List(ctx, "apps")
	if err != nil {
		return nil, err
	}
	counts, err := p.processCounts(ctx)
	if err != nil {
		return nil, err
	}
	out := make([]AppInfo, 0, len(names))
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			return nil, err
		}
		hosts := p.hostsFor(a)
		info := AppInfo{Name: name, Hosts: hosts, Release: a.Current, URLs: p.URLsFor(hosts), Processes: counts[name]}
		if info.Processes == nil {
			info.Processes = map[string]int{}
		}
		if r, ok := p.table.App(name); ok {
			info.Targets = r.Targets
		}
		out = append(out, info)
	}
	return out, nil
}

// App returns the app's record.
func (p *Platform) App(ctx context.Context, name string) (*App, error) {
	if err := ValidateAppName(name); err != nil {
		return nil, err
	}
	return loadApp(ctx, p.store, name)
}

// Exists reports whether app has a record.
func (p *Platform) Exists(ctx context.Context, app string) (bool, error) {
	_, err := loadApp(ctx, p.store, app)
	if errors.Is(err, ErrAppNotFound) {
		return false, nil
	}
	return err == nil, err
}

// ErrAppExists is returned by Create for a name that is taken.
var ErrAppExists = errors.New("app exists")

// Create registers a new app. It runs nothing until the first deploy.
func (p *Platform) Create(ctx context.Context, name string) error {
	if err := ValidateAppName(name); err != nil {
		return err
	}
	unlock, err := p.lock(name, "a create")
	if err != nil {
		return err
	}
	defer unlock()
	if ok, err := p.Exists(ctx, name); err != nil {
		return err
	} else if ok {
		return Errorf(ErrAppExists, "app %s already exists", name)
	}
	a := &App{Name: name, CreatedAt: time.Now().UTC()}
	hosts := p.hostsFor(a)
	for _, h := range hosts {
		if r, ok := p.table.Lookup(h); ok {
			return fmt.Errorf("cannot create app %s: its domain %s is already served by app %s", name, h, r.App)
		}
	}
	if err := saveApp(ctx, p.store, a); err != nil {
		return err
	}
	p.forgetRenamed(ctx, name)
	p.table.SetHosts(name, hosts)
	p.log.Info("app created", "app", name)
	return nil
}

// Destroy removes the app: its route, containers, images, builds and
// record, and through the hooks what other packages keep of it (its
// repository: package repo). The route goes first so no request reaches
// a dying container.
func (p *Platform) Destroy(ctx context.Context, name string) error {
	if err := ValidateAppName(name); err != nil {
		return err
	}
	unlock, err := p.lock(name, "a destroy")
	if err != nil {
		return err
	}
	defer unlock()
	a, err := loadApp(ctx, p.store, name)
	if err != nil {
		return err
	}
	defer p.setLeaving(name)()
	p.table.Remove(name)
	ids, err := p.docker.List(ctx, docker.LabelApp+"="+name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := p.docker.Remove(ctx, id); err != nil {
			return err
		}
	}
	for _, r := range a.Releases {
		if err := p.docker.RemoveImage(ctx, r.Image); err != nil {
			p.log.Warn("could not remove image", "app", name, "image", r.Image, "error", err)
		}
	}
	// A deploy key of this app must not outlive it: an app created later
	// under the same name is someone else's. The app is leaving (above),
	// so no key of it can be added once these are gone.
	if err := p.dropAppKeys(ctx, name); err != nil {
		return err
	}
	if err := p.builds.remove(name); err != nil {
		return fmt.Errorf("remove builds of %s: %w", name, err)
	}
	if err := p.store.Delete(ctx, appKey(name)); err != nil {
		return err
	}
	// The containers' events refreshed the route while the record still
	// existed; take it away again, now that a refresh finds no record.
	p.mu.Lock()
	p.table.Remove(name)
	p.mu.Unlock()
	p.appDestroyed(ctx, name)
	p.log.Info("app destroyed", "app", name)
	return nil
}

// watch applies container events to the routing table, and reconciles
// periodically and whenever the event stream had to be reopened.
func (p *Platform) watch(ctx context.Context, events <-chan docker.Event, errs <-chan error) {
	defer close(p.done)
	ticker := time.NewTicker(ReconcileInterval)
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
				switch {
				case goingAway[ev.Action]:
					p.dropTarget(app, ev.ContainerID)
				case ev.Action == "start" || ev.Action == "unpause":
					p.mu.Lock()
					delete(p.gone, ev.ContainerID)
					p.mu.Unlock()
				}
				if ev.Action == "die" {
					p.noteExit(ctx, ev.ContainerID)
				}
				if err := p.refresh(ctx, app); err != nil && ctx.Err() == nil {
					p.log.Warn("refresh routes after container event", "app", app, "action", ev.Action, "error", err)
				}
			}
		case err := <-errs:
			if ctx.Err() != nil {
				return
			}
			p.log.Warn("docker event stream broke; reopening", "error", err)
			select {
			case <-time.After(time.Second):
			case <-ctx.Done():
				return
			}
			events, errs = p.docker.Events(ctx)
			if err := p.Reconcile(ctx); err != nil {
				p.log.Warn("reconcile", "error", err)
			}
		case <-ticker.C:
			p.forgetGone(time.Minute)
			if err := p.Reconcile(ctx); err != nil && ctx.Err() == nil {
				p.log.Warn("reconcile", "error", err)
			}
		}
	}
}

// Reconcile re-reads every app's record and containers and routes
// accordingly.
func (p *Platform) Reconcile(ctx context.Context) error {
	// Note the routes before looking, so that a route an event or a
	// deploy changes meanwhile is not overwritten with this older view.
	seen := p.table.Routes()
	names, err := p.store.List(ctx, "apps")
	if err != nil {
		return err
	}
	// One listing for every app's web containers: a reconcile of 500 apps
	// is one call to Docker, not 500.
	all, err := p.docker.ListRunning(ctx, docker.LabelApp, docker.LabelProcess+"=web")
	if err != nil {
		return err
	}
	byApp := map[string][]docker.Container{}
	for _, c := range all {
		byApp[c.Labels[docker.LabelApp]] = append(byApp[c.Labels[docker.LabelApp]], c)
	}
	next := make(map[string]routing.Route, len(names))
	known := map[string]bool{}
	for _, name := range names {
		known[name] = true
		if p.isLeaving(name) {
			continue
		}
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			return err
		}
		next[name] = routing.Route{Hosts: p.hostsFor(a), Targets: p.targetsOf(byApp[name], a.Generation)}
	}
	var remove []string
	for name := range seen {
		if !known[name] || p.isLeaving(name) {
			remove = append(remove, name)
		}
	}
	p.table.SetIfUnchanged(seen, next, remove)
	return nil
}

// refresh routes app to its running web containers of the current
// generation. Containers of other generations are never routed: during a
// rollout the new containers run before they pass their checks, and must
// not take traffic yet.
func (p *Platform) refresh(ctx context.Context, app string) error {
	// One refresh of an app at a time: a refresh that read the record
	// before a rollout recorded its new generation must finish before the
	// rollout's own refresh starts, or it would put the old containers
	// back in the route after the rollout moved it.
	mu, _ := p.refreshing.LoadOrStore(app, new(sync.Mutex))
	mu.(*sync.Mutex).Lock()
	defer mu.(*sync.Mutex).Unlock()
	p.mu.Lock()
	leaving := p.leaving[app]
	p.mu.Unlock()
	if leaving {
		p.table.Remove(app)
		return nil
	}
	a, err := loadApp(ctx, p.store, app)
	if errors.Is(err, ErrAppNotFound) {
		p.table.Remove(app)
		return nil
	}
	if err != nil {
		return err
	}
	targets, err := p.readyTargets(ctx, app, a.Generation)
	if err != nil {
		return err
	}
	hosts := p.hostsFor(a)
	// Apply only if the app still exists, checked under the lock Destroy
	// takes to remove the route after deleting the record: a refresh that
	// read the record before the delete must not route the app again.
	p.mu.Lock()
	defer p.mu.Unlock()
	if _, err := p.store.Get(ctx, appKey(app)); errors.Is(err, store.ErrNotFound) {
		p.table.Remove(app)
		return nil
	}
	p.table.SetHosts(app, hosts)
	p.table.SetTargets(app, targets)
	return nil
}

func (p *Platform) readyTargets(ctx context.Context, app string, generation int) ([]string, error) {
	if generation == 0 {
		return nil, nil
	}
	cs, err := p.docker.ListRunning(ctx, docker.LabelApp+"="+app, docker.LabelProcess+"=web")
	if err != nil {
		return nil, err
	}
	return p.targetsOf(cs, generation), nil
}

// targetsOf returns the addresses of the running web containers of
// generation among cs, and remembers which container has which.
func (p *Platform) targetsOf(cs []docker.Container, generation int) []string {
	if generation == 0 {
		return nil
	}
	gen := strconv.Itoa(generation)
	var targets []string
	for _, c := range cs {
		if !appContainer(c) || c.Labels[docker.LabelGeneration] != gen || !c.Running || c.Restarting || !c.IP.IsValid() || c.Labels[docker.LabelPort] == "" || p.isHidden(c.ID) {
			continue
		}
		addr := net.JoinHostPort(c.IP.String(), c.Labels[docker.LabelPort])
		targets = append(targets, addr)
		p.mu.Lock()
		p.targetOf[c.ID] = addr
		p.mu.Unlock()
	}
	return targets
}

func (p *Platform) isLeaving(app string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.leaving[app]
}

// forgetGone drops going-away marks older than age: by then every refresh
// that started before the event has finished, and a container that is
// still down is left out of routes because it does not run.
func (p *Platform) forgetGone(age time.Duration) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, at := range p.gone {
		if time.Since(at) > age {
			delete(p.gone, id)
		}
	}
}

// goingAway are the container events after which a container's address
// must take no more requests.
var goingAway = map[string]bool{"kill": true, "die": true, "stop": true, "pause": true, "destroy": true}

// dropTarget takes a container out of its app's route at once, without
// asking Docker anything. When a container dies its address is freed, and
// Docker may give it to a new container of another app within
// milliseconds; the full refresh that follows takes longer, and until then
// the old address would reach the wrong app.
func (p *Platform) dropTarget(app, id string) {
	p.mu.Lock()
	addr, ok := p.targetOf[id]
	delete(p.targetOf, id)
	p.gone[id] = time.Now()
	p.mu.Unlock()
	if !ok {
		return
	}
	if r, ok := p.table.App(app); ok && slices.Contains(r.Targets, addr) {
		p.table.SetTargets(app, slices.DeleteFunc(slices.Clone(r.Targets), func(t string) bool { return t == addr }))
	}
}

// setLeaving marks app as leaving until the returned function is called.
func (p *Platform) setLeaving(app string) (done func()) {
	p.mu.Lock()
	p.leaving[app] = true
	p.mu.Unlock()
	return func() {
		p.mu.Lock()
		delete(p.leaving, app)
		p.mu.Unlock()
	}
}

func (p *Platform) isHidden(id string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	_, gone := p.gone[id]
	return p.hidden[id] || gone
}

func (p *Platform) setHidden(id string, hidden bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if hidden {
		p.hidden[id] = true
	} else {
		delete(p.hidden, id)
	}
}

// noteExit logs a container that has stopped for good: it exited with an
// error and its restart policy will not restart it again.
func (p *Platform) noteExit(ctx context.Context, id string) {
	c, err := p.docker.Inspect(ctx, id)
	if err != nil {
		return
	}
	if a, err := loadApp(ctx, p.store, c.Labels[docker.LabelApp]); err == nil && a.Stopped {
		return // ps:stop stopped it
	}
	if failed, why := exhausted(c); failed {
		p.log.Error("app container failed: "+why, "app", c.Labels[docker.LabelApp], "container", c.Name)
	}
}

// exhausted reports whether c has failed for good, and says how.
func exhausted(c docker.Container) (bool, string) {
	if c.Running || c.Restarting || c.ExitCode == 0 {
		return false, ""
	}
	switch c.RestartPolicy {
	case "on-failure":
		if c.MaxRetries > 0 && c.RestartCount >= c.MaxRetries {
			return true, fmt.Sprintf("exited with code %d after %d restarts (restart policy on-failure:%d exhausted)", c.ExitCode, c.RestartCount, c.MaxRetries)
		}
	case "no", "":
		return true, fmt.Sprintf("exited with code %d (restart policy no)", c.ExitCode)
	}
	return false, ""
}
