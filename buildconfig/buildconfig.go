// Package buildconfig owns the settings of how an app is built: the
// builder and build directory (builder:set), the Dockerfile's path
// (builder-dockerfile:set), the buildpacks and their stack (buildpacks:*),
// how many builds are kept (builds:set retention), and the git settings of
// a deploy (git:set deploy-branch and rev-env-var). It checks every change
// of them, reports them, and resolves them for a build: Resolver is the
// platform's BuildSettings seam, which the deploy pipeline reads them
// through (the platform does not read them itself, nor import this
// package).
//
// Where the settings live. An app's own settings stay fields of its record
// (platform.App: Builder, BuildDir, DockerfilePath, Buildpacks,
// BuildpacksStack, BuildRetention, DeployBranch, GitRevEnvVar), written
// through the core's UpdateApp under the app's lock; the global ones stay
// fields of the global settings document ("settings/global": builder,
// build_dir, build_retention, deploy_branch, dockerfile_path), which this
// package reads and writes field by field under the core's global lock,
// leaving the other packages' fields as they are (as certs keeps "hsts"
// there); the global stack keeps its own document, "settings/buildpacks".
// So state written by earlier versions reads unchanged, with no migration,
// and the settings follow an app through apps:rename and apps:clone (which
// copy its record) and go with apps:destroy, without a hook: moving them
// to documents of their own would take a migration and three hooks to
// keep that true, for nothing a user sees. The deploy branch is on the
// record for a second reason: a first push of main or master pins it
// there, which is the pipeline's doing.
package buildconfig

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Apps is what the build settings need of the app core (a
// *platform.Platform).
type Apps interface {
	// App returns an app's record.
	App(ctx context.Context, name string) (*platform.App, error)
	// UpdateApp changes an app's record under its lock; an error from
	// change leaves it as it was.
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
	// LockGlobal marks the global settings busy with what.
	LockGlobal(what string) (unlock func(), err error)
}

// Globals is what the build settings read of the global settings
// document (a *platform.Globals).
type Globals interface {
	// Config is config:set --global's, which builder detection sees
	// under an app's own config.
	Config() map[string]string
}

// Repos is what the build settings need of the apps' repositories, as the
// deploy pipeline sees them (package deploy's Deployer).
type Repos interface {
	// CommitSource is the source of a commit of an app's repository.
	CommitSource(app, rev string) builder.Source
	// PointHead makes an app's repository's HEAD name its deploy branch.
	PointHead(ctx context.Context, app string)
}

// Config is what Settings are made from.
type Config struct {
	// Store keeps the global settings documents (the same store as the
	// app core's).
	Store store.Store
	// Apps is the app core whose records hold the apps' own settings.
	Apps Apps
	// Globals is the global settings document (the platform's).
	Globals Globals
	// Builders are the builders an app may choose, and detect with for
	// builder:report; nil when Berth has none.
	Builders *builder.Selector
	// Repos are the apps' repositories: builder:report's detection reads
	// the deployed commit, git:set deploy-branch points HEAD; nil: none
	// (no HEAD is moved).
	Repos Repos
}

// Settings are the build settings, for the commands that change and
// report them. Their methods are safe for concurrent use.
type Settings struct {
	store    store.Store
	apps     Apps
	globals  Globals
	builders *builder.Selector
	repos    Repos
}

// New returns the build settings kept in cfg.Store and on cfg.Apps'
// records.
func New(cfg Config) *Settings {
	s := &Settings{store: cfg.Store, apps: cfg.Apps, globals: cfg.Globals, builders: cfg.Builders, repos: cfg.Repos}
	if s.repos == nil {
		s.repos = noRepos{}
	}
	return s
}

// noRepos are the repositories of settings made without any: no HEAD
// moves, no commit is read (builder:report says so).
type noRepos struct{}

func (noRepos) CommitSource(string, string) builder.Source { return nil }
func (noRepos) PointHead(context.Context, string)          {}

// globalKey is the global settings document, which this package shares
// with the core and certs, one field each.
const globalKey = "settings/global"

// global are this package's fields of the global settings document.
type global struct {
	// Builder and BuildDir are the builder and build directory of every
	// app that sets none of its own (builder:set --global).
	Builder  string `json:"builder,omitempty"`
	BuildDir string `json:"build_dir,omitempty"`
	// BuildRetention is builds:set --global retention N; 0 means
	// platform.KeepBuilds.
	BuildRetention int `json:"build_retention,omitempty"`
	// DeployBranch is git:set --global deploy-branch: the deploy branch
	// of apps that set none; "" lets an app's first push of main or
	// master choose.
	DeployBranch string `json:"deploy_branch,omitempty"`
	// DockerfilePath is builder-dockerfile:set --global dockerfile-path:
	// the Dockerfile of apps that set none; "" means the root's.
	DockerfilePath string `json:"dockerfile_path,omitempty"`
}

func loadGlobal(ctx context.Context, s store.Store) (global, error) {
	var g global
	err := store.GetJSON(ctx, s, globalKey, &g, "global settings")
	return g, err
}

// globalOwnKeys are the JSON names of global's fields.
var globalOwnKeys = []string{"builder", "build_dir", "build_retention", "deploy_branch", "dockerfile_path"}

// changeGlobal changes this package's fields of the global settings
// document under the core's global lock, leaving the others as they are.
func (s *Settings) changeGlobal(ctx context.Context, what string, change func(*global)) error {
	unlock, err := s.apps.LockGlobal(what)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return err
	}
	change(&g)
	// Ours are written as a field each, and a cleared one goes (the
	// omitempty of the struct), as the core's saveGlobal does.
	return store.SaveFields(ctx, s.store, globalKey, globalOwnKeys, g,
		func(err error) error { return fmt.Errorf("global settings: %w", err) })
}

// Resolver resolves an app's build settings for a build: it is the
// platform's BuildSettings seam (platform.Config.BuildSettings). It needs
// only the store: the app's record comes with each call.
type Resolver struct {
	store store.Store
	log   *slog.Logger
}

// NewResolver returns the resolver of the settings kept in st.
func NewResolver(st store.Store, log *slog.Logger) *Resolver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Resolver{store: st, log: log}
}

var _ platform.BuildSettings = (*Resolver)(nil)

// Of resolves a's build settings: its own, else the global ones, else the
// defaults. When the global settings document cannot be read it returns
// the app's own over the defaults, with the error.
func (r *Resolver) Of(ctx context.Context, a *platform.App) (platform.AppBuildSettings, error) {
	s := platform.AppBuildSettings{
		Builder:        a.Builder,
		BuildDir:       a.BuildDir,
		DockerfilePath: a.DockerfilePath,
		Buildpacks:     a.Buildpacks,
		Stack:          a.BuildpacksStack,
		Retention:      a.BuildRetention,
		DeployBranch:   a.DeployBranch,
	}
	if s.Stack == "" {
		// An unreadable global stack builds with the builder's default,
		// as it always did: the stack is an optimisation of the build,
		// not worth failing a deploy for.
		if g, err := loadBuildpacksGlobal(ctx, r.store); err != nil {
			r.log.Warn("reading the global buildpacks stack; using the builder's default", "error", err)
		} else {
			s.Stack = g.Stack
		}
	}
	g, err := loadGlobal(ctx, r.store)
	if err == nil {
		s.GlobalDeployBranch = g.DeployBranch
		if s.Builder == "" && g.Builder != "" {
			s.Builder, s.GlobalBuilder = g.Builder, true
		}
		if s.BuildDir == "" {
			s.BuildDir = g.BuildDir
		}
		if s.DockerfilePath == "" && g.DockerfilePath != "" {
			s.DockerfilePath, s.GlobalDockerfilePath = g.DockerfilePath, true
		}
		// Only a positive number is a retention: a hand-edited 0 or
		// negative one is unset, as it always was (a negative count
		// would make the pruning slice past its builds).
		if s.Retention <= 0 && g.BuildRetention > 0 {
			s.Retention = g.BuildRetention
		}
		if s.DeployBranch == "" {
			s.DeployBranch = g.DeployBranch
		}
	}
	if s.Retention <= 0 {
		s.Retention = platform.KeepBuilds
	}
	return s, err
}

// RevEnvVar is the variable that carries the deployed commit into a's
// containers: its git:set rev-env-var, else GIT_REV; "" for none.
func (r *Resolver) RevEnvVar(a *platform.App) string {
	if a == nil || a.GitRevEnvVar == nil {
		return platform.DefaultGitRevEnvVar
	}
	return *a.GitRevEnvVar
}
