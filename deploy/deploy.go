// Package deploy is Berth's deploy pipeline and what it runs: a push
// (Push: the ref updates planned by repo.PlanPush, the deploy branch's
// commit built and rolled out), ps:rebuild, git:sync, git:from-image and
// git:report; the build (the builder's choice over package builder's
// Selector, the build's resources and timeout, the predeploy script and
// release command); the build records and logs (builds:list, :output,
// :cancel); releases, ps:rollback, config:set's config release,
// ps:restart, ps:scale and the formation. It calls the scheduler
// (platform.Scheduler) for rollouts and scales, and ends a rollout's log
// with the app's URLs (the core's DeployedReport).
//
// Records stay where earlier versions wrote them, so an upgrade reads
// everything unchanged: the releases, the formation, the config and the
// last deploy on the app record (changed under the app's lock through
// the core, Apps.ChangeApp), the builds under builds/APP/ID.json and
// ID.log (Builds). The build records follow the apps through the core:
// platform.Config.Builds is the same *Builds, which the core removes
// with an app (and before a new app takes its name), moves with a rename
// and marks failed at start when a deploy was cut off.
//
// The direction of the imports: deploy imports platform (the App,
// Release and Build types, error kinds, the Scheduler and BuildSettings
// seams), never the other way round. The core calls into what this
// package owns only through interfaces it is given (platform.BuildRecords),
// as it calls the scheduler; its own changes that roll a release out (a
// rename, proxy:disable) use its rollout directly. Other packages follow
// the pipeline through its hooks (OnBuilt: disk; OnDeployFinished: the
// metrics); the commands reach it through commands.Backend's Deploy
// field, the git door through gitrecv.Pusher.
package deploy

import (
	"context"
	"io"
	"log/slog"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/repo"
)

// Apps is what the pipeline needs of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// ChangeApp runs change on the app's record under its lock, busy with
	// what ("a deploy"); save writes the record.
	ChangeApp(ctx context.Context, app, what string, change func(a *platform.App, save func() error) error) error
	// ProcessGlobals are ps:set --global's, for ps:report.
	ProcessGlobals() platform.ProcessGlobals
	// Limits are the Caddyfile's bounds (max_scale, build_timeout, ...).
	Limits() platform.Limits
	// CheckFormation refuses a formation over the limits, saying what
	// asked for it.
	CheckFormation(app string, formation map[string]int, what string) error
	// ReleaseEnv is the environment of a release's containers (DYNO=dyno).
	ReleaseEnv(a *platform.App, rel platform.Release, dyno string) []string
	// DeployedReport is the end of a deploy's log: the app's URLs and
	// formation.
	DeployedReport(a *platform.App, formation map[string]int) []byte
}

// Globals is what the pipeline reads of the global settings document (a
// *platform.Globals).
type Globals interface {
	// Settings reads the document (releases:set --global's keep, for
	// rollback's message).
	Settings(ctx context.Context) (platform.Global, error)
	// Config is config:set --global's, under every app's.
	Config() map[string]string
}

// Engine is what the pipeline needs of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests).
type Engine interface {
	// Tag gives an image (by ID) another name.
	Tag(ctx context.Context, id, ref string) error
	// RemoveImage removes a tag, and the image with its unused untagged
	// parents when it was the last.
	RemoveImage(ctx context.Context, ref string) error
	// ImageID, ExposedPort, ImageCmd and CheckImageLabels read an image.
	ImageID(ctx context.Context, ref string) (string, error)
	ExposedPort(ctx context.Context, ref string) (int, bool, error)
	ImageCmd(ctx context.Context, ref string) ([]string, error)
	CheckImageLabels(ctx context.Context, ref string) error
	// RunOnce runs a deploy's one-off (predeploy, release command,
	// postdeploy); RemoveOneOff removes a kept one, Commit makes an image
	// of it.
	RunOnce(ctx context.Context, o docker.OneOff) (code int, id string, err error)
	RemoveOneOff(ctx context.Context, id string) error
	Commit(ctx context.Context, id, ref string, cmd []string) (string, error)
	// MemTotal is the host's memory (a build's default limit is half).
	MemTotal(ctx context.Context) (int64, error)
	// List and Inspect find an app's containers (ps:report).
	List(ctx context.Context, labels ...string) ([]string, error)
	Inspect(ctx context.Context, id string) (docker.Container, error)
}

// Config is what a Deployer is made from.
type Config struct {
	Apps Apps
	// Globals is the global settings document (the platform's).
	Globals Globals
	Engine  Engine
	// Scheduler runs the apps' formations (the one the platform was
	// given: package scheduler/selector, which runs each app on
	// docker-local or swarm): rollouts and scales.
	Scheduler platform.Scheduler
	// Specs contribute to the deploy's one-offs and its build (package
	// appspec's settings families), as to the apps' containers.
	Specs platform.Specs
	// Builders picks the builder of each deploy of a source (package
	// builder); nil refuses such deploys (images only).
	Builders *builder.Selector
	// BuildSettings resolves the apps' build settings (package
	// buildconfig); nil builds every app with the defaults.
	BuildSettings platform.BuildSettings
	// Repos are the apps' repositories (the platform's, which follow the
	// apps' lives).
	Repos *repo.Store
	// Builds keeps the build records and logs (NewBuilds; the same value
	// the platform is given as its BuildRecords).
	Builds *Builds
	// Logger receives what happens; nil means discard.
	Logger *slog.Logger
}

// Deployer runs the apps' deploys and releases. Its methods are safe for
// concurrent use: every change takes the app's lock through the core.
type Deployer struct {
	apps          Apps
	globals       Globals
	engine        Engine
	sched         platform.Scheduler
	specs         platform.Specs
	builders      *builder.Selector
	buildSettings platform.BuildSettings
	repos         *repo.Store
	builds        Builds
	log           *slog.Logger

	// deploys are the deploys under way, for builds:cancel.
	deploys runningDeploys
	// hooks are the OnBuilt and OnDeployFinished registrations.
	hooks hooks
	// scripts run the deploy scripts (predeploy, release, postdeploy).
	scripts scripts
}

// New returns a Deployer.
func New(cfg Config) *Deployer {
	d := &Deployer{apps: cfg.Apps, globals: cfg.Globals, engine: cfg.Engine, sched: cfg.Scheduler, specs: cfg.Specs,
		builders: cfg.Builders, buildSettings: cfg.BuildSettings, repos: cfg.Repos, log: cfg.Logger}
	d.scripts = scripts{engine: cfg.Engine, specs: cfg.Specs, apps: cfg.Apps}
	if d.buildSettings == nil {
		d.buildSettings = platform.DefaultBuildSettings{}
	}
	if cfg.Builds != nil {
		d.builds = *cfg.Builds
	}
	if d.log == nil {
		d.log = slog.New(slog.DiscardHandler)
	}
	return d
}

// NewBuilds returns the store of build records and logs under dir
// (DIR/APP/ID.json and ID.log, where earlier versions wrote them); an
// empty dir keeps none.
func NewBuilds(dir string) *Builds { return &Builds{dir: dir} }

// rollout runs rel as a's formation (the scheduler's rollout) and ends
// the log with the app's URLs. a must be locked.
func (d *Deployer) rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	if err := d.sched.Rollout(ctx, a, rel, log); err != nil {
		return err
	}
	log.Write(d.apps.DeployedReport(a, a.Formation))
	return nil
}

// buildSettingsOf resolves a's build settings (see
// platform.BuildSettings.Of).
func (d *Deployer) buildSettingsOf(ctx context.Context, a *platform.App) (platform.AppBuildSettings, error) {
	return d.buildSettings.Of(ctx, a)
}

// deployBranchOf is the branch whose pushes deploy a, "" when its first
// push of main or master chooses. A failure to read the global settings
// leaves the app's own (or none), as it always did.
func (d *Deployer) deployBranchOf(ctx context.Context, a *platform.App) string {
	// The app's own branch wins and is the core's record (a first push
	// writes it): no settings documents need reading for it, and a push
	// asks this several times.
	if a.DeployBranch != "" {
		return a.DeployBranch
	}
	s, _ := d.buildSettingsOf(ctx, a)
	return s.DeployBranch
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
