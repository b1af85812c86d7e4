// Package appspec owns Dokku's container-settings families: network
// properties (network:set, network:create/destroy/list/info, network:set
// --global), storage mounts (storage:mount/unmount/ensure-directory),
// resource limits and reservations (resource:limit/reserve) and
// docker-options (docker-options:add/remove/clear, by phase). Each says
// how an app's containers run, not what runs: the platform decides that,
// and asks this package for its part of every container (Spec, a
// platform.SpecContributor handed in through platform.Config.Specs).
//
// Two types, because they need different things:
//   - Spec contributes to the container specs and builds (storage binds,
//     resources, docker-options, networks and their aliases), refuses
//     process types its networks cannot alias, and joins new containers to
//     their attach-post-deploy networks once they pass their checks. It
//     needs the container engine and the global network settings, not the
//     app core, so it is made before the platform.
//   - Settings are the commands' side: they validate and change the
//     settings, through the app core (Apps, a *platform.Platform).
//
// The records: an app's settings stay where they always were, fields of
// the app record (platform.App's Networks, Storage, Resources and
// DockerOptions), and network:set --global's stay the "networks" field of
// the settings/global document, so state written by earlier versions
// reads unchanged and an upgrade needs no migration. The record types are
// declared in package platform, as pure data (the app record must
// unmarshal them), and this package owns every rule about them: the
// platform only copies them on apps:clone, as it copies the whole record.
// Changes go through Apps.UpdateApp, under the app's lock; global ones
// under the global lock (Apps.LockGlobal), as certs' HSTS settings do.
// Because the settings live in the app record, they follow the app's
// life with it (destroy, rename, clone) and need no hooks of their own.
//
// Who may run which command is the commands' table's business; the one
// rule kept here is that a deploy key cannot change resource settings an
// admin set (platform.ResourceSettings.SetBy; resources.go): limits
// protect the host from the app.
package appspec

import (
	"context"
	"sync"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Engine is what the settings need of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests).
type Engine interface {
	// Network is Berth's own network, which every app is on.
	Network() string
	// CPUs is the host's number of CPUs.
	CPUs(ctx context.Context) (int, error)
	CreateNetwork(ctx context.Context, name string) error
	InspectNetwork(ctx context.Context, name string) (docker.NetworkInfo, error)
	Networks(ctx context.Context) ([]docker.NetworkInfo, error)
	RemoveNetwork(ctx context.Context, name string) error
	// Connect joins container id to a network.
	Connect(ctx context.Context, id string, a docker.Attachment) error
}

// Apps is what the settings need of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (platform.ErrAppNotFound when there
	// is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// AppNames lists every app, sorted.
	AppNames(ctx context.Context) ([]string, error)
	// UpdateApp changes the app's record under its lock; an error from
	// change leaves it as it was.
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
	// LockGlobal marks the global settings busy with what.
	LockGlobal(what string) (unlock func(), err error)
}

// SpecConfig is what a Spec is made from.
type SpecConfig struct {
	// Store holds the global settings document ("networks" field).
	Store store.Store
	// Engine joins containers to their networks.
	Engine Engine
}

// Spec is the settings' part of every container an app runs. Its methods
// are safe for concurrent use.
type Spec struct {
	store  store.Store
	engine Engine

	// mu guards global, the cached network:set --global settings,
	// read from the store at first use and replaced on every change.
	mu     sync.Mutex
	loaded bool
	global platform.NetworkSettings
}

// NewSpec returns the contributor to hand to platform.Config.Specs.
func NewSpec(cfg SpecConfig) *Spec {
	return &Spec{store: cfg.Store, engine: cfg.Engine}
}

// Config is what Settings are made from.
type Config struct {
	// Spec is the contributor whose settings these are (its engine and
	// global network settings are shared).
	Spec *Spec
	// Apps is the app core whose records hold the settings.
	Apps Apps
	// StorageDir holds the directories storage:ensure-directory makes;
	// empty refuses it.
	StorageDir string
}

// Settings change the families' settings (the commands' side). Its
// methods are safe for concurrent use.
type Settings struct {
	spec       *Spec // its engine and global network settings are the settings' too
	apps       Apps
	storageDir string
}

// New returns the settings.
func New(cfg Config) *Settings {
	return &Settings{spec: cfg.Spec, apps: cfg.Apps, storageDir: cfg.StorageDir}
}

// Interface guards: Spec is every kind of contributor the platform has.
var (
	_ platform.SpecContributor  = (*Spec)(nil)
	_ platform.TypeChecker      = (*Spec)(nil)
	_ platform.PostDeployer     = (*Spec)(nil)
	_ platform.BuildContributor = (*Spec)(nil)
)
