// The core: what a Berth is made of (the platform and the packages
// around it, the route controller, the hook socket), built once by
// newCore and kept across config reloads (App.Start takes it from its
// pool). app.go is the Caddy app's side: config, provisioning, Start/Stop.

package caddymodule

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"sync/atomic"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/applogs"
	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/dashboard"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/disk"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/gitrecv"
	"github.com/berth-paas/berth/keys"
	"github.com/berth-paas/berth/oneoff"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/pssettings"
	"github.com/berth-paas/berth/registry"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/dockerlocal"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/scheduler/swarm"
	"github.com/berth-paas/berth/services"
	"github.com/berth-paas/berth/store"
	"github.com/berth-paas/berth/tcproute"
)

// core is one Berth instance: a state directory, its platform and the git
// receiver.
type core struct {
	dockerHost string
	docker     *docker.Client
	// swarmAPI is the swarm scheduler's client of the same engine.
	swarmAPI io.Closer
	// nodeEngines are the clients of the other swarm nodes' engines.
	nodeEngines *swarm.NodeEngines
	table       *routing.Table
	platform    *platform.Platform
	// scheduler runs the apps' containers for the platform; its
	// formation check follows the config (Provision).
	scheduler *dockerlocal.Scheduler
	// tcp serves the apps' tcp port mappings; its listeners live as long
	// as the core, so a reload keeps them and their connections.
	tcp   *tcproute.Router
	certs *certs.Certs
	// hosts says which hosts each app answers on (the global domains,
	// the reserved hosts) and their URLs; the platform asks it, domains
	// changes it; both follow the config (Start).
	hosts    *domains.Resolver
	domains  *domains.Domains
	receiver *gitrecv.Receiver
	// backend is what the doors (SSH, admin API) give commands: the
	// platform and the managers built beside it here.
	backend *commands.Backend
	// dashboard is the web dashboard; its host is the config's (Start),
	// its sessions outlive a reload.
	dashboard *dashboard.Dashboard
	// registry is Berth's registry (nil: the config names none).
	registry *registry.Registry
	// hostKey is the SSH host key's public half, for ssh-keys:host (set
	// by Start: the SSH server is pooled apart from the core).
	hostKey atomic.Pointer[gossh.PublicKey]
	// adminKeys are the fingerprints of the config's authorized_keys, for
	// the dashboard to check that a session's key is still one.
	adminKeys atomic.Pointer[[]string]
	// metrics are the apps' request counters (the berth handler counts,
	// Caddy's metrics endpoint and the dashboard read); they outlive a
	// reload with the core. stopMetrics ends their sampler.
	metrics     *appmetrics.Set
	stopMetrics func()
	// sampler is each app's last container counts and stats, for the CPU
	// used between two samples (the sampler's goroutine alone uses it).
	sampler containerSampler
	// socketDir is the private temporary directory of the hook socket
	// when the state directory's path is too long for one; "" otherwise.
	socketDir string
	// wildNames are the names on-demand TLS was allowed for through an
	// app's wildcard domain, to evict when the wildcard goes.
	wildNames wildcardNames
}

func (a *App) newCore() (*core, error) {
	if err := os.MkdirAll(a.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("state directory: %w", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	dc, err := docker.Connect(ctx, a.DockerHost)
	if err != nil {
		return nil, err
	}
	// The swarm scheduler's own client of the same engine: the Swarm API
	// is not part of platform.Engine.
	swarmAPI, err := swarm.Connect(ctx, a.DockerHost)
	if err != nil {
		dc.Close()
		return nil, fmt.Errorf("docker engine (for the swarm scheduler): %w", err)
	}
	made := false
	defer func() {
		if !made {
			swarmAPI.Close()
		}
	}()
	c := &core{dockerHost: a.DockerHost, docker: dc, swarmAPI: swarmAPI, table: routing.New(), metrics: appmetrics.New()}
	// Berth's registry, when the config names its host: swarm apps'
	// images are pushed there, through this engine, for every node.
	if a.Registry != "" {
		c.registry, err = registry.New(ctx, registry.Config{Dir: filepath.Join(a.StateDir, "registry"), Host: a.Registry, Engine: swarmAPI, Log: a.log})
		if err != nil {
			dc.Close()
			return nil, err
		}
	}
	// registry:set and registry:login: a user's registry instead of
	// Berth's (with or without Berth's); the swarm scheduler publishes
	// through them. Their app core is filled in once platform.New made
	// it: the swarm scheduler, made inside platform.New, needs them first.
	var registryApps struct{ registry.Apps }
	registrySettings := registry.NewSettings(registry.SettingsConfig{Dir: filepath.Join(a.StateDir, "registry"), Apps: &registryApps, Own: c.registry, Engine: swarmAPI})
	// A name that stops being routed loses its cached certificate at once,
	// so its next handshake goes to the permission module, which refuses
	// it (see caddyCertCache in certs.go). A custom certificate that named
	// it goes too; package certs puts it back for the hosts its app keeps.
	// A wildcard names none of the hosts it served: the names the
	// permission allowed through it go with it (wildcardNames).
	c.table.OnHostsGone(func(hosts []string) { evictCertificates(c.wildNames.gone(c.table, hosts)) })
	// The builders, in Dokku's detection order: herokuish for a
	// .buildpacks file or BUILDPACK_URL, pack for a project.toml,
	// dockerfile for a Dockerfile; a source none detects (a Procfile app,
	// Heroku-style) goes to the default, pack, as in Dokku.
	herokuish := builder.Herokuish{Engine: dc, Image: a.HerokuishImage}
	builders, err := builder.NewSelector(builder.PackName, herokuish, builder.Pack{Engine: dc}, builder.Dockerfile{Engine: dc})
	if err != nil {
		dc.Close()
		return nil, err
	}
	// One store for the records of the core and of the packages that
	// follow its apps (certs, keys), each under its own keys.
	st := &store.Files{Dir: a.StateDir}
	// The route controller, for the tcp router's process-scoped mappings
	// (the containers it keeps out of routes); the core makes it.
	var routeCtl *routes.Controller
	// The container settings (networks, storage, resources,
	// docker-options) contribute to every container the platform runs,
	// so their contributor is made first and handed in.
	spec := appspec.NewSpec(appspec.SpecConfig{Store: st, Engine: dc})
	// A malformed network:set --global record stops start-up here, with
	// what to fix, rather than failing every container later.
	if err := spec.Load(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	// The build records are the deploy pipeline's (package deploy); the
	// core removes and moves them with the apps.
	builds := deploy.NewBuilds(filepath.Join(a.StateDir, "builds"))
	// The deploy pipeline and the release's environment read the apps'
	// build settings through buildconfig, which keeps them
	// (buildSettings below).
	buildResolver := buildconfig.NewResolver(st, a.log)
	// The hosts an app answers on are package domains' knowledge, which
	// the core asks wherever it routes an app.
	c.hosts = domains.NewResolver()
	// sched is the scheduler the platform runs apps on (New makes it); the
	// deploy pipeline rolls out on the same one.
	var sched platform.Scheduler
	// The datastores (made below, with the platform) say which networks
	// a swarm app's services join: Berth's overlay when it links one.
	var svc *services.Manager
	swarmNetworks := func(ctx context.Context, app string) ([]string, error) { return svc.SwarmNetworks(ctx, app) }
	// The engines of the swarm's other nodes (scheduler-swarm:set
	// --global node-engine): enter and the figures of their tasks.
	c.nodeEngines = swarm.NewNodeEngines(st, swarmAPI)
	c.platform = platform.New(platform.Config{
		Hosts:         c.hosts,
		Store:         st,
		Engine:        dc,
		Table:         c.table,
		ReposDir:      filepath.Join(a.StateDir, "repos"),
		Builds:        builds,
		Logger:        a.log,
		Specs:         []platform.SpecContributor{spec},
		BuildSettings: buildResolver,
		// Each app runs on the scheduler it selected (scheduler:set):
		// docker-local (containers on this host's Docker, Dokku's
		// default; the formation check's settings follow the config,
		// Provision) or swarm.
		Scheduler: func(deps platform.SchedulerDeps) platform.Scheduler {
			routeCtl = deps.Routes
			sched = selector.Build(deps, st, func(deps platform.SchedulerDeps) map[string]platform.Scheduler {
				c.scheduler = dockerlocal.New(deps, dockerlocal.Config{FormationCheckInterval: -1, MaxRevivals: -1})
				return map[string]platform.Scheduler{
					selector.DockerLocal: c.scheduler,
					selector.Swarm:       swarm.New(deps, swarm.Config{API: swarmAPI, Instance: dc.Instance, Images: registrySettings, Networks: swarmNetworks, NodeEngines: c.nodeEngines, Local: dc}),
				}
			})
			return sched
		},
	})
	// Before keys.New below, on purpose: the core runs the OnAppRenaming
	// hooks in the order registered and stops at the first error. The
	// router's hook ends a rename's chance of an abort (the new app keeps
	// the tcp ports); registered after keys', a failing key move would
	// skip it, and a later apps:destroy of the new app would hand its
	// ports back to the old name.
	// The global settings document: the core reads its config and process
	// settings on every rollout, and the packages that keep fields in it
	// (domains, pssettings, disk, the build settings) change it through
	// this one value, under its one lock.
	globals := c.platform.Globals()
	c.tcp = tcproute.New(tcproute.Config{Apps: c.platform, Table: c.table, Engine: dc, Hooks: c.platform.Hooks(), Logger: a.log})
	// The deploy pipeline (push, rebuild, git:sync, git:from-image,
	// builds, releases, rollback, config releases, ps:restart, ps:scale,
	// ps:stop and ps:start)
	// runs on the scheduler the platform was given.
	deploys := deploy.New(deploy.Config{
		Apps: c.platform, Globals: globals, Engine: dc, Scheduler: sched,
		Specs: platform.NewSpecs(spec), Builders: builders, BuildSettings: buildResolver,
		Repos: c.platform.Repos(), Builds: builds, Logger: a.log,
	})
	appSpec := appspec.New(appspec.Config{Spec: spec, Apps: c.platform, StorageDir: filepath.Join(a.StateDir, "storage")})
	// An app's herokuish build cache goes with the app, and with its old
	// name on a rename (a volume cannot be renamed; the next build fills
	// a new cache).
	removeCache := func(ctx context.Context, app string) {
		if err := herokuish.RemoveCache(ctx, app); err != nil {
			a.log.Warn("a herokuish build cache was not removed", "app", app, "volume", builder.CacheVolume(app), "error", err)
		}
	}
	c.platform.Hooks().OnAppDestroyed(removeCache)
	c.platform.Hooks().OnAppRenamed(func(ctx context.Context, from, _ string) { removeCache(ctx, from) })
	// The tcp router's process-scoped mappings skip the containers the
	// route controller keeps out of routes (before its Start).
	if routeCtl != nil {
		c.tcp.SetRoutes(routeCtl)
	}
	// The apps' TLS settings follow the platform's apps from here on, and
	// keep Caddy's certificate cache in step with them.
	c.certs = certs.New(certs.Config{Store: st, Apps: c.platform, Hooks: c.platform.Hooks(), Cache: caddyCertificates{}, Logger: a.log,
		Disabled: func(app string) bool { r, ok := c.table.App(app); return ok && r.Disabled }})
	// The added SSH keys: deploy keys follow their apps (they go with a
	// destroyed app, move with a renamed one).
	sshKeys := keys.New(keys.Config{Store: st, Apps: c.platform, Hooks: c.platform.Hooks()})
	buildSettings := buildconfig.New(buildconfig.Config{Store: st, Apps: c.platform, Globals: globals, Builders: builders, Repos: deploys})
	appLogs := applogs.New(applogs.Config{Engine: dc, Apps: c.platform, Builds: deploys, MaxLines: a.MaxLogLines, Scheduler: sched})
	processes := pssettings.New(pssettings.Config{Apps: c.platform, Globals: globals, Engine: dc})
	// run's one-offs: their run:logs shares logs' max_log_lines, read at
	// each call, as a reload may change it.
	oneOffs := oneoff.New(oneoff.Config{Engine: dc, Apps: c.platform, MaxLines: appLogs.MaxLines, Scheduler: sched})
	// Old releases and the build cache are pruned after each rollout and
	// build from here on.
	diskUse := disk.New(disk.Config{Apps: c.platform, Globals: globals, Hooks: c.platform.Hooks(), Engine: dc, Builds: deploys, Logger: a.log})
	// The registry's images of releases no longer kept go after the
	// retention above (registered after disk's on purpose: the hooks run
	// in order).
	if c.registry != nil {
		c.registry.Follow(c.platform.Hooks())
	}
	registryApps.Apps = c.platform
	registrySettings.Follow(c.platform.Hooks())
	// An app's buildpack cache volume goes with the app, and with its
	// old name on a rename (a cache is cheap to lose: the next build
	// makes it again).
	dropPackCache := func(ctx context.Context, app string) {
		if err := dc.RemoveOwnVolume(ctx, builder.PackCacheVolume(app)); err != nil {
			a.log.Warn("removing the buildpack cache volume", "app", app, "error", err)
		}
	}
	c.platform.Hooks().OnAppDestroyed(dropPackCache)
	c.platform.Hooks().OnAppRenamed(func(ctx context.Context, from, _ string) { dropPackCache(ctx, from) })
	c.domains = domains.New(domains.Config{Apps: c.platform, Globals: globals, Table: c.table, Resolver: c.hosts})
	c.hosts.SetReservedHosts(a.reservedHosts())
	// The instance ID first: services create and find containers with
	// it before the platform starts.
	if err := c.platform.Identify(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	if err := c.domains.SetGlobalDomains(ctx, a.Domains); err != nil {
		dc.Close()
		return nil, err
	}
	// Datastores first, so apps that link one find it running.
	svc = services.New(c.platform, dc, deploys)
	svc.SetLogger(a.log)
	renames := platform.NewRenamer(c.platform)
	c.backend = &commands.Backend{Platform: c.platform, Globals: globals, Renames: renames, Deploy: deploys, AppSpec: appSpec, Services: svc, Certs: c.certs, Keys: sshKeys, OneOff: oneOffs, Logs: appLogs, Metrics: c.metrics, Processes: processes, Disk: diskUse, Build: buildSettings, Domains: c.domains, TCP: c.tcp,
		Scheduler: selector.NewSettings(selector.Config{Store: st, Apps: c.platform}), SwarmSettings: swarm.NewSettings(c.platform, c.nodeEngines), Registry: registrySettings, SSHHostKey: func() gossh.PublicKey {
			if k := c.hostKey.Load(); k != nil {
				return *k
			}
			return nil
		}}
	c.dashboard = dashboard.New(dashboard.Config{Backend: c.backend, Logger: a.log,
		URLFor:       func(h string) string { return c.hosts.URLsFor([]string{h})[0] },
		StillGranted: c.stillGranted, Metrics: c.metrics})
	c.backend.Dashboard = c.dashboard
	// A session never outlives its app; stillGranted would refuse it at
	// its next request too, this only ends it at once.
	c.platform.Hooks().OnAppDestroyed(func(_ context.Context, app string) { c.dashboard.EndAppSessions(app) })
	c.platform.Hooks().OnAppRenamed(func(_ context.Context, from, _ string) { c.dashboard.EndAppSessions(from) })
	// Metrics are labelled by app name: a gone name goes from them too.
	c.platform.Hooks().OnAppDestroyed(func(_ context.Context, app string) { c.metrics.Forget(app) })
	c.platform.Hooks().OnAppRenamed(func(_ context.Context, from, _ string) { c.metrics.Forget(from) })
	deploys.OnDeployFinished(func(app string, d platform.DeployAttempt) {
		c.metrics.Deployed(app, d.Status, d.Finished.Sub(d.Started))
	})
	if err := svc.Boot(ctx); err != nil {
		a.log.Error("starting datastore services", "error", err)
	}
	if err := c.platform.Start(ctx); err != nil {
		dc.Close()
		return nil, err
	}
	// The routes are up: tcp mappings serve from here.
	if err := c.tcp.Start(ctx); err != nil {
		a.log.Error("tcp port mappings not served", "error", err)
	}
	// Caddy's certificate cache starts empty: custom certificates go in
	// before the first handshake, so that they win over a wildcard.
	if err := c.certs.InstallCustomCertificates(ctx); err != nil {
		a.log.Error("custom certificates not loaded; the manager serves them", "error", err)
	}
	self, err := os.Executable()
	if err != nil {
		c.tcp.Close()
		c.platform.Close()
		dc.Close()
		return nil, fmt.Errorf("find this program's path for the git hook: %w", err)
	}
	socket, socketDir, err := hookSocketPath(a.StateDir)
	if err != nil {
		c.tcp.Close()
		c.platform.Close()
		dc.Close()
		return nil, err
	}
	c.socketDir = socketDir
	c.receiver = gitrecv.NewReceiver(c.platform, renames, globals, deploys, self, socket, a.log)
	if err := c.receiver.Start(); err != nil {
		c.removeSocketDir()
		c.tcp.Close()
		c.platform.Close()
		dc.Close()
		return nil, err
	}
	c.sampler = containerSampler{
		report: func(ctx context.Context, app string) ([]platform.ProcessStatus, error) {
			rep, err := deploys.Report(ctx, app)
			return rep.Processes, err
		},
		usage: c.docker.Usage,
		// A swarm app's tasks: each read from its node's engine.
		taskUsages: func(ctx context.Context, app string) (map[string]docker.Usage, error) {
			a, err := c.platform.App(ctx, app)
			if err != nil {
				return nil, err
			}
			if pr := platform.ProcessesOf(sched, a); pr != nil {
				return pr.Usages(ctx, a)
			}
			return nil, nil
		},
	}
	// stopMetrics returns once the sampler has: Destruct closes the
	// Docker client and the platform it uses next.
	c.stopMetrics = startSampler(func(ctx context.Context) { c.metrics.Run(ctx, c.countContainers) })
	made = true
	return c, nil
}

// Destruct stops the hook socket and the event watcher. It leaves every
// container running.
func (c *core) Destruct() error {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	c.stopMetrics()
	c.tcp.Close()
	err := c.receiver.Close(ctx)
	c.removeSocketDir()
	c.platform.Close()
	c.docker.Close()
	c.swarmAPI.Close()
	c.nodeEngines.Close()
	c.registry.Close()
	return err
}

// hookSocketPath is the unix socket the git hook calls back on. A unix
// socket path is limited to about 100 bytes, so a deep state directory
// gets a socket in a new private (0700) directory of a random name in the
// temporary directory instead, returned as dir for removal. Not a fixed
// name there: another local user could make that name first and so keep
// Berth from starting (or listen on it).
func hookSocketPath(stateDir string) (socket, dir string, err error) {
	p := filepath.Join(stateDir, "hook.sock")
	if len(p) < 100 {
		return p, "", nil
	}
	dir, err = os.MkdirTemp("", "berth-hook-")
	if err != nil {
		return "", "", fmt.Errorf("hook socket: the state directory's path is too long for a unix socket, and a private temporary directory cannot be made: %w", err)
	}
	socket = filepath.Join(dir, "hook.sock")
	if len(socket) >= 100 {
		os.Remove(dir)
		return "", "", fmt.Errorf("hook socket: the paths of the state directory (%s) and of the temporary directory (%s) are both too long for a unix socket: use a shorter state_dir or set TMPDIR to a short directory", stateDir, os.TempDir())
	}
	return socket, dir, nil
}

func (c *core) removeSocketDir() {
	if c.socketDir != "" {
		os.RemoveAll(c.socketDir)
	}
}

// stillGranted says whether a dashboard session's grant holds now: its
// key is still an authorized_keys key or an added key whose scope covers
// the session's app (ssh-keys:remove ends its sessions), and the app is
// the one the session was made for (apps:destroy, apps:rename, or a new
// app under the old name end it).
func (c *core) stillGranted(ctx context.Context, g commands.LoginGrant) error {
	if g.Key != "" {
		found := false
		if fps := c.adminKeys.Load(); fps != nil && slices.Contains(*fps, g.Key) {
			found = true
		} else {
			keys, err := c.backend.Keys.List(ctx)
			if err != nil {
				return err
			}
			for _, k := range keys {
				if k.Fingerprint == g.Key && (k.App == "" || k.App == g.App) {
					found = true
					break
				}
			}
		}
		if !found {
			return fmt.Errorf("key %s is no longer authorized for this session's scope", g.Key)
		}
	}
	if g.App != "" {
		app, err := c.platform.App(ctx, g.App)
		if err != nil {
			return err
		}
		if !app.CreatedAt.Equal(g.AppCreated) {
			return fmt.Errorf("app %s was destroyed or renamed since the session began; this one is a new app", g.App)
		}
	}
	return nil
}

// countContainers gives the metrics the container counts of every app's
// current release by process type and state, as ps:report sees them, and
// the list of apps (every app shows, none that is gone), and the running
// containers' CPU and memory from Docker's stats. The sampler calls it,
// so that a scrape asks Docker nothing.
func (c *core) countContainers(ctx context.Context) {
	ctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	listed := time.Now()
	apps, err := c.platform.List(ctx)
	if err != nil {
		return // the counts of the last time stay
	}
	names := make([]string, len(apps))
	for i, a := range apps {
		names[i] = a.Name
	}
	c.metrics.Retain(names, listed)
	out := c.sampler.sample(ctx, names, c.metrics.AddUsage)
	c.metrics.SetContainers(out)
}
