package platform

import (
	"context"
	"io"
	"time"

	"github.com/berth-paas/berth/docker"
)

// Engine is the container engine the platform runs apps on: what it asks
// of Docker, and all it asks. *docker.Client implements it for one Docker
// engine; the fake in internal/fakeengine implements it in memory, so the
// pipeline's logic (rollout, checks, drain, reconcile, events) is unit
// tested without Docker; a Swarm scheduler is the next implementation.
//
// Builds are not the engine's: the Builders (platform.Config) hold what
// they build with.
//
// It is one interface of three parts rather than three interfaces because
// every implementation so far provides all of them, and the platform needs
// all of them.
type Engine interface {
	ContainerEngine
	ImageEngine
	NetworkEngine
}

// ContainerEngine runs, finds and removes containers, and reports what
// happens to them.
type ContainerEngine interface {
	// Create makes a container without starting it; Start starts it (one
	// that fails to start is removed); Run does both.
	Create(ctx context.Context, spec docker.RunSpec) (string, error)
	Start(ctx context.Context, id string) error
	Run(ctx context.Context, spec docker.RunSpec) (string, error)
	// StartExisting starts a stopped container as it is.
	StartExisting(ctx context.Context, id string) error
	// RunOnce runs a one-off container to its end.
	RunOnce(ctx context.Context, spec docker.OneOff) (exitCode int, id string, err error)
	// RunAttached runs a one-off container attached to the caller's
	// streams (run); ExecAttached runs a command in a running one (enter).
	RunAttached(ctx context.Context, spec docker.RunSpec, s docker.Streams) (int, error)
	ExecAttached(ctx context.Context, id string, cmd, env []string, s docker.Streams) (int, error)
	Inspect(ctx context.Context, id string) (docker.Container, error)
	// List returns the IDs of every container (running or not) with all
	// of labels ("key" or "key=value"); ListRunning the running ones,
	// inspected.
	List(ctx context.Context, labels ...string) ([]string, error)
	ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error)
	Stop(ctx context.Context, id string, timeout time.Duration) error
	Remove(ctx context.Context, id string) error
	RemoveOneOff(ctx context.Context, id string) error
	// RemoveOrphanOneOffVolumes removes this Berth's one-off volumes
	// that no container uses (a build's config volume a crash left).
	RemoveOrphanOneOffVolumes(ctx context.Context) (int, error)
	Rename(ctx context.Context, id, name string) error
	UpdateRestartPolicy(ctx context.Context, id, name string, maxRetries int) error
	// Logs returns the container's last lines; StreamLogs copies them
	// (and, with follow, what comes next) to w.
	Logs(ctx context.Context, id string, lines int) (string, error)
	StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error
	// Events streams events of app containers until ctx ends; the error
	// channel yields one error when the stream breaks.
	Events(ctx context.Context) (<-chan docker.Event, <-chan error)
	// Commit makes an image of a container (a predeploy script's changes).
	Commit(ctx context.Context, id, ref string, cmd []string) (string, error)
	// CPUs is how many CPUs the engine's host has (resource:limit checks).
	CPUs(ctx context.Context) (int, error)
	// MemTotal is the engine's host memory in bytes (the default build
	// memory limit is half of it).
	MemTotal(ctx context.Context) (int64, error)
	// SetInstance makes the engine stamp this Berth's instance ID on
	// what it creates (with every berth.* label, docker.StampLabels) and
	// list, and report events of, only containers that carry it or are
	// among legacy (docker.OwnedBy); ListLegacy lists the containers with
	// Berth's labels but no instance ID, whoever's (platform.Identify).
	SetInstance(id string, legacy []string)
	ListLegacy(ctx context.Context) ([]docker.Container, error)
}

// ImageEngine reads, names and removes local images. Nothing is pulled.
type ImageEngine interface {
	// CheckImageLabels refuses an image that sets a berth.* label
	// (docker.CheckLabels).
	CheckImageLabels(ctx context.Context, image string) error
	ImageID(ctx context.Context, ref string) (string, error)
	ExposedPort(ctx context.Context, image string) (int, bool, error)
	ImageCmd(ctx context.Context, image string) ([]string, error)
	Tag(ctx context.Context, source, target string) error
	// RemoveImage removes a tag, and the image with its unused untagged
	// parents when it was the last.
	RemoveImage(ctx context.Context, ref string) error
	// DiskUsage says what images, this Berth's volumes and the build
	// cache take; PruneBuildCache prunes the build cache to keep bytes.
	DiskUsage(ctx context.Context) (docker.DiskUsage, error)
	PruneBuildCache(ctx context.Context, keep int64) (int64, error)
}

// NetworkEngine manages Berth's network, on which the proxy dials apps,
// and the networks of network:create.
type NetworkEngine interface {
	// Network is the name of the network apps run on.
	Network() string
	EnsureNetwork(ctx context.Context) error
	CreateNetwork(ctx context.Context, name string) error
	InspectNetwork(ctx context.Context, name string) (docker.NetworkInfo, error)
	Networks(ctx context.Context) ([]docker.NetworkInfo, error)
	RemoveNetwork(ctx context.Context, name string) error
	Connect(ctx context.Context, id string, a docker.Attachment) error
}

// Each implementation is made of one type per part, and each part type
// implements its interface on its own: docker.Client of docker.ContainerAPI,
// ImageAPI and NetworkAPI (with VolumeAPI and BuildAPI beside them),
// fakeengine.Engine of fakeengine.ContainerEngine, ImageEngine and
// NetworkEngine (asserted in its tests: platform's tests import it).
var (
	_ Engine          = (*docker.Client)(nil)
	_ ContainerEngine = (*docker.ContainerAPI)(nil)
	_ ImageEngine     = (*docker.ImageAPI)(nil)
	_ NetworkEngine   = (*docker.NetworkAPI)(nil)
)
