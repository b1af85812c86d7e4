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
	"strconv"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/busy"
	"github.com/berth-paas/berth/repo"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// Config is what a Platform is made from.
type Config struct {
	// Store keeps app records.
	Store store.Store
	// Engine runs containers: a *docker.Client, or a fake in unit tests.
	Engine Engine
	// Table is the routing table the platform keeps current.
	Table *routing.Table
	// ReposDir holds each app's bare git repository, APP.git.
	ReposDir string
	// Builds are the apps' build records (package deploy's, which
	// writes them), which the core removes, moves and fails with the
	// apps' lives; nil keeps none.
	Builds BuildRecords
	// Specs contribute to every container the platform runs, and to
	// builds, in order (spec.go): package appspec's settings families.
	Specs []SpecContributor
	// Logger receives what happens; nil means discard.
	Logger *slog.Logger
	// Limits bound what one app may take of the host; zero fields take
	// their defaults (limits.go).
	Limits Limits
	// BuildSettings resolves the apps' build settings for the deploy
	// pipeline (package buildconfig); nil builds every app with the
	// defaults.
	BuildSettings BuildSettings
	// Scheduler makes the scheduler that runs the apps' formations
	// (scheduler.go; package scheduler/dockerlocal), from what the
	// platform gives it; nil runs nothing (every rollout is refused).
	Scheduler func(SchedulerDeps) Scheduler
	// Hosts says which hosts each app answers on and how users open them
	// (hosts.go; package domains, which keeps the global domains and
	// Berth's reserved hosts); nil: each app on its bare name and own
	// domains, over http (bareHosts), and New logs a warning saying so.
	// nil is not an error on purpose: package domains imports this one,
	// so the unit tests of the core alone (here and in the packages
	// beside it) can only give none; Berth's one constructor
	// (caddymodule's newCore) always sets it.
	Hosts HostResolver
}

// Platform runs apps. Its methods are safe for concurrent use.
type Platform struct {
	store    store.Store
	docker   Engine // the container engine (named for what runs it today)
	table    *routing.Table
	gitRepos *repo.Store // follows the apps through the hooks (New)
	builds   BuildRecords
	log      *slog.Logger
	// buildSettings are the apps' build settings (buildconfig's).
	buildSettings BuildSettings

	// specs contribute to the containers' host options (spec.go).
	specs specs

	// busy names what holds each app ("a deploy", ...): one change of an
	// app at a time.
	busy busy.Set

	mu     sync.Mutex
	limits Limits // SetLimits
	// globals is the global settings document (Globals), whose config
	// and process settings the rollout applies.
	globals *Globals
	// routes keeps the table following the containers (package routes).
	routes *routes.Controller
	// hooks let other packages follow apps that go or change name.
	hooks *Hooks
	// identified is set once the Docker client has this Berth's
	// instance ID (Identify).
	identified bool
	// hosts says which hosts each app answers on, and their URLs
	// (Config.Hosts: package domains).
	hosts HostResolver
	// sched runs the apps' formations (Config.Scheduler).
	sched Scheduler
}

// ReconcileInterval is how often the platform re-reads Docker's state in
// case the event stream dropped something.
const ReconcileInterval = routes.ReconcileInterval

// New returns a platform; call Start to bring routes up.
func New(cfg Config) *Platform {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	p := &Platform{
		hooks:    &Hooks{},
		store:    cfg.Store,
		docker:   cfg.Engine,
		table:    cfg.Table,
		gitRepos: repo.New(cfg.ReposDir, log),
		builds:   cfg.Builds,
		log:      log,
		specs:    specs(cfg.Specs),
		globals:  newGlobals(cfg.Store),
	}
	if p.builds == nil {
		p.builds = noBuildRecords{}
	}
	if p.buildSettings = cfg.BuildSettings; p.buildSettings == nil {
		p.buildSettings = DefaultBuildSettings{}
	}
	if p.hosts = cfg.Hosts; p.hosts == nil {
		log.Warn("no host resolver given: apps answer on their bare names and own domains only, over http (set platform.Config.Hosts)")
		p.hosts = bareHosts{}
	}
	p.routes = routes.New(cfg.Engine, cfg.Table, routeApps{p}, log)
	p.SetLimits(cfg.Limits)
	p.gitRepos.Follow(p.hooks)
	p.sched = noScheduler{}
	if cfg.Scheduler != nil {
		p.sched = cfg.Scheduler(SchedulerDeps{
			Apps: p, Hooks: p.hooks, Engine: cfg.Engine, Table: cfg.Table, Routes: p.routes,
			Specs: Specs{p.specs}, Log: log,
			Save:  func(ctx context.Context, a *App) error { return saveApp(ctx, p.store, a) },
			Env:   p.ReleaseEnv,
			Hosts: p.hosts.HostsOf,
			// An HTTP check sends an exact host of the app: never a
			// wildcard (an app with a host allowlist would refuse it).
			CheckHost:      func(a *App) string { return firstExactHost(p.hosts.HostsOf(a)) },
			CheckFormation: p.CheckFormation,
			RolledOut:      p.hooks.runRolledOut,
		})
	}
	return p
}

// Start makes sure Berth's network exists, subscribes to container events,
// then routes every app to its running containers. Apps that kept running
// while Berth was down are served as they are; then, in the background,
// every app that is not stopped (ps:stop) gets its recorded formation back
// (containers that stopped are started, missing ones created), and the
// formation check watches for drift until Close (package scheduler/dockerlocal).
func (p *Platform) Start(ctx context.Context) error {
	if err := p.Identify(ctx); err != nil {
		return err
	}
	if err := p.docker.EnsureNetwork(ctx); err != nil {
		return err
	}
	// The controller subscribes to events before removeInterrupted, so
	// that the removals' events reach it, and before its first reconcile.
	if err := p.routes.Start(ctx, p.removeInterrupted); err != nil {
		return err
	}
	p.sched.Run()
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
		// A detached run (run:detached) was started to outlive its
		// session; every other one-off belonged to a session or deploy
		// that this restart ended.
		if c.Labels[docker.LabelRun] == "detached" && c.Running {
			continue
		}
		if mine[c.Labels[docker.LabelOneOff]] {
			// With its anonymous volumes: a herokuish build's holds the
			// app's config vars (docker.BuildRun.Files).
			if err := p.docker.RemoveOneOff(ctx, c.ID); err != nil {
				return err
			}
		}
	}
	// And the volumes of one-offs whose container is gone already.
	if n, err := p.docker.RemoveOrphanOneOffVolumes(ctx); err != nil {
		return err
	} else if n > 0 {
		p.log.Info("removed the volumes of interrupted one-off containers", "volumes", n)
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
			p.removeUnreleasedImage(ctx, a, d.Release)
		}
		if err := p.builds.FailRunning(name); err != nil {
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
	p.sched.Close()
	p.routes.Close()
}

// Reconcile re-reads every app's record and containers and routes
// accordingly (routes.Controller.Reconcile).
func (p *Platform) Reconcile(ctx context.Context) error { return p.routes.Reconcile(ctx) }

// ErrBusy is returned when an app is already being changed.
var ErrBusy = errors.New("app is busy")

// lock marks app busy with what, or fails at once with a message that says
// what holds it: a second push never queues silently behind a long build.
//
// The formation check is the exception: it runs in the background and its
// container checks can take ReadyTimeout, so a user command cancels it and
// waits (up to preemptWait, while it stops what it started) for the lock.
func (p *Platform) lock(app, what string) (unlock func(), err error) {
	unlock, holder := p.busy.Take(app, what)
	if unlock == nil && holder == FormationCheckHolder && what != FormationCheckHolder {
		deadline := time.Now().Add(preemptWait)
		for unlock == nil && holder == FormationCheckHolder && time.Now().Before(deadline) {
			// Again each time: the check registers its cancel just
			// after it takes the lock.
			p.sched.Preempt(app)
			time.Sleep(10 * time.Millisecond)
			unlock, holder = p.busy.Take(app, what)
		}
	}
	if unlock == nil {
		return nil, Errorf(ErrBusy, "%s of %s is running; try again when it has finished", holder, app)
	}
	return unlock, nil
}

// preemptWait bounds how long a user command waits for a formation check
// it cancelled to give the app up: enough for it to stop the containers
// it started.
var preemptWait = 30 * time.Second

// AppInfo summarises an app for listings.
type AppInfo struct {
	Name    string   `json:"name"`
	Hosts   []string `json:"hosts"`
	Release int      `json:"release"`
	Targets []string `json:"targets"`
	// URLs are the hosts as users open them (Config.Hosts); Processes counts
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
	counts, err := processCounts(ctx, p.docker)
	if err != nil {
		return nil, err
	}
	out := make([]AppInfo, 0, len(names))
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			return nil, err
		}
		hosts := p.hosts.HostsOf(a)
		info := AppInfo{Name: name, Hosts: hosts, Release: a.Current, URLs: p.hosts.URLsFor(hosts), Processes: counts[name]}
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

// AppNames lists every app, sorted (for packages that go through every
// app: appspec's network users, disk's cleanup).
func (p *Platform) AppNames(ctx context.Context) ([]string, error) {
	return p.store.List(ctx, "apps")
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
	hosts := p.hosts.HostsOf(a)
	for _, h := range hosts {
		if r, ok := p.table.Lookup(h); ok {
			return fmt.Errorf("cannot create app %s: its domain %s is already served by app %s", name, h, r.App)
		}
	}
	// Builds left under the name (a rename that could not move them) are
	// another app's history: a new app starts with none.
	if err := p.builds.Remove(name); err != nil {
		return fmt.Errorf("the builds left under the name %s could not be removed: %w", name, err)
	}
	if err := saveApp(ctx, p.store, a); err != nil {
		return err
	}
	forgetRenamed(ctx, p.store, p.log, name)
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
	defer p.routes.Leaving(name)()
	p.table.Remove(name)
	if err := p.sched.Remove(ctx, a, false); err != nil {
		return err
	}
	// Its detached runs (run:detached) go with it: they run its image
	// with its config, and nothing else would stop them.
	runs, err := p.docker.List(ctx, docker.LabelRun, docker.LabelOneOff+"="+name)
	if err != nil {
		return err
	}
	for _, id := range runs {
		if err := p.docker.RemoveOneOff(ctx, id); err != nil {
			return err
		}
	}
	for _, r := range a.Releases {
		if err := p.docker.RemoveImage(ctx, r.Image); err != nil {
			p.log.Warn("could not remove image", "app", name, "image", r.Image, "error", err)
		}
	}
	// A deploy that never finished (Berth stopped during it) may have
	// left its image, which no release names.
	if d := a.LastDeploy; d != nil {
		p.removeUnreleasedImage(ctx, a, d.Release)
	}
	// What must not outlive the app (its deploy keys: an app created
	// later under the same name is someone else's) goes now, while it is
	// leaving (above) and before its record; a failure stops the destroy.
	if err := p.hooks.runDestroying(ctx, name); err != nil {
		return err
	}
	if err := p.builds.Remove(name); err != nil {
		return fmt.Errorf("remove builds of %s: %w", name, err)
	}
	if err := p.store.Delete(ctx, appKey(name)); err != nil {
		return err
	}
	// The containers' events refreshed the route while the record still
	// existed; take it away again, now that a refresh finds no record.
	p.routes.Remove(name)
	p.hooks.runDestroyed(ctx, name)
	p.log.Info("app destroyed", "app", name)
	return nil
}
