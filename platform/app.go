package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/berth-paas/berth/store"
)

// App is an app's persistent record: one document in the store.
type App struct {
	Name      string    `json:"name"`
	CreatedAt time.Time `json:"created_at"`
	// DeployBranch is the branch whose pushes deploy. It is set by the
	// first push of main or master; pushes to other branches are stored
	// in the repository and not deployed.
	DeployBranch string `json:"deploy_branch,omitempty"`
	// GitRevEnvVar is the name of the variable that carries the deployed
	// commit (git:set APP rev-env-var); nil means GIT_REV, "" none.
	GitRevEnvVar *string `json:"git_rev_env_var,omitempty"`
	// Releases are the app's successful deploys, oldest first.
	Releases []Release `json:"releases,omitempty"`
	// Current is the Version of the release that serves, 0 for none.
	Current int `json:"current,omitempty"`
	// Generation numbers the app's rollouts (deploys, config changes,
	// restarts). Containers are labelled with theirs, and only those of the
	// app's Generation are routed, so a rollout's new containers take no
	// traffic until it records them as current.
	Generation int `json:"generation,omitempty"`
	// Formation is how many containers of each process type run.
	Formation map[string]int `json:"formation,omitempty"`
	// Config is the app's environment (config:set); the next release takes
	// a copy of it.
	Config map[string]string `json:"config,omitempty"`
	// RestartPolicy is Dokku's form of Docker's restart policy; empty means
	// DefaultRestartPolicy.
	RestartPolicy string `json:"restart_policy,omitempty"`
	// StopTimeoutSeconds is how long a container has between SIGTERM and
	// SIGKILL; 0 means the default.
	StopTimeoutSeconds int `json:"stop_timeout_seconds,omitempty"`
	// Checks are the app's zero-downtime check settings.
	Checks ChecksSettings `json:"checks,omitzero"`
	// Domains are the app's own domains (domains:add), beside its default
	// hosts under the global domains.
	Domains []string `json:"domains,omitempty"`
	// Builder is the name of the builder the app's sources are built
	// with (SetBuilder); empty means the first builder that detects the
	// source, else the default (see builder.Selector).
	Builder string `json:"builder,omitempty"`
	// BuildDir is the directory of the repository the app is built from
	// (builder:set APP build-dir DIR, for monorepos); empty means the
	// global one (builder:set --global build-dir), else the root.
	BuildDir string `json:"build_dir,omitempty"`
	// Buildpacks are the app's chosen buildpacks (buildpacks:add), in
	// order, handed to the builder; empty means it detects them.
	Buildpacks []string `json:"buildpacks,omitempty"`
	// BuildpacksStack is the builder image of the app's buildpack builds
	// (buildpacks:set-property APP stack IMAGE); empty means the global
	// one, else the builder's default (see BuilderImage).
	BuildpacksStack string `json:"buildpacks_stack,omitempty"`
	// DockerfilePath is the path of the app's Dockerfile in its source
	// (builder-dockerfile:set APP dockerfile-path); empty means
	// "Dockerfile" at the root.
	DockerfilePath string `json:"dockerfile_path,omitempty"`
	// ProxyDisabled apps are out of routing (proxy:disable) and
	// DomainsDisabled apps answer on no domain (domains:disable): their
	// containers keep running, and no host reaches them.
	ProxyDisabled   bool `json:"proxy_disabled,omitempty"`
	DomainsDisabled bool `json:"domains_disabled,omitempty"`
	// PortMap is Dokku's port mappings (ports:set), "scheme:host:container";
	// empty means the release's port (ProxyPort).
	PortMap []string `json:"port_map,omitempty"`
	// ProcfilePath is where the source's Procfile is (ps:set
	// procfile-path); empty means Procfile at the root.
	ProcfilePath string `json:"procfile_path,omitempty"`
	// LogMaxSize is the app's log retention (logs:set max-size): "10m",
	// "unlimited", or empty for applogs.DefaultMaxSize.
	LogMaxSize string `json:"log_max_size,omitempty"`
	// LogMaxSizeAllowed is the largest max-size an admin key set for the
	// app (or "unlimited"): a deploy key may set up to it, or up to
	// applogs.DefaultMaxSize when no admin set one.
	LogMaxSizeAllowed string `json:"log_max_size_allowed,omitempty"`
	// Scheduler is the scheduler the app's next rollout runs on
	// (scheduler:set APP selected; package scheduler/selector owns it):
	// "docker-local", "swarm", or empty for the global one, else
	// docker-local. SchedulerRan is the one its current generation runs
	// on, empty for docker-local, which ps:scale, ps:stop and ps:start
	// go to until the next rollout.
	Scheduler    string `json:"scheduler,omitempty"`
	SchedulerRan string `json:"scheduler_ran,omitempty"`
	// SwarmPlacement are the placement constraints of the app's swarm
	// services, in Swarm's form (node.role==manager), from its next
	// rollout (scheduler-swarm:set APP placement; package scheduler/swarm
	// owns them).
	SwarmPlacement []string `json:"swarm_placement,omitempty"`
	// Locked apps refuse deploys (apps:lock).
	Locked bool `json:"locked,omitempty"`
	// Stopped apps run no container (ps:stop) until ps:start or the next
	// rollout; their containers are kept, stopped.
	Stopped bool `json:"stopped,omitempty"`
	// KeepReleases is how many of the app's newest releases keep their
	// image (releases:set APP keep N); 0 means the global setting.
	KeepReleases int `json:"keep_releases,omitempty"`
	// BuildRetention is how many builds (record and log) Berth keeps of
	// the app (builds:set APP retention N); 0 means the global setting.
	BuildRetention int `json:"build_retention,omitempty"`
	// LastDeploy is the outcome of the app's latest deploy attempt.
	LastDeploy *DeployAttempt `json:"last_deploy,omitempty"`
	// Networks, Storage, Resources and DockerOptions are how the app's
	// containers run (network:set, storage:mount, resource:*,
	// docker-options:*). Package appspec owns them: it changes them and
	// contributes them to the containers (a SpecContributor); the
	// platform only keeps and copies them. They apply from the next
	// rollout.
	Networks      NetworkSettings     `json:"networks,omitzero"`
	Storage       []string            `json:"storage,omitempty"`
	Resources     ResourceSettings    `json:"resources,omitzero"`
	DockerOptions map[string][]string `json:"docker_options,omitempty"`
}

// NetworkSettings are Dokku's network properties of an app (network:set;
// package appspec): the Docker networks its containers join, and when.
type NetworkSettings struct {
	// InitialNetwork is the network containers are created on. Berth's own
	// network is joined as well, before they start: Berth reaches its
	// containers there.
	InitialNetwork string `json:"initial_network,omitempty"`
	// AttachPostCreate networks are joined after a container is created
	// and before it starts.
	AttachPostCreate []string `json:"attach_post_create,omitempty"`
	// AttachPostDeploy networks are joined once a new container passes its
	// checks, before it takes traffic.
	AttachPostDeploy []string `json:"attach_post_deploy,omitempty"`
	// TLD is appended to the containers' network aliases (network:set
	// APP tld svc.cluster.local: APP.web.svc.cluster.local).
	TLD string `json:"tld,omitempty"`
}

// ResourceSettings are the app's resource limits and reservations, by
// process type (resource:limit, resource:reserve; package appspec);
// "_default_"'s apply to types without their own, and BuildProcessType's
// to builds.
type ResourceSettings struct {
	Limits       map[string]Resources `json:"limits,omitempty"`
	Reservations map[string]Resources `json:"reservations,omitempty"`
	// SetBy says who last changed these settings: "admin" or "deploy
	// key" (appspec.SetByAdmin, SetByDeployKey). Once an admin has, a
	// deploy key may read them but not change them, until an admin
	// clears them all (appspec.AdminOwned).
	SetBy string `json:"set_by,omitempty"`
}

// Resources are amounts as the user wrote them (validated when set).
type Resources struct {
	CPU        string `json:"cpu,omitempty"`
	Memory     string `json:"memory,omitempty"`
	MemorySwap string `json:"memory_swap,omitempty"`
}

// DeployAttempt records one deploy: written as "running" when it starts,
// so a deploy cut off by a crash is found and marked failed at the next
// start.
type DeployAttempt struct {
	Release  int       `json:"release"`
	GitRev   string    `json:"git_rev,omitempty"`
	Started  time.Time `json:"started_at"`
	Finished time.Time `json:"finished_at,omitzero"`
	Status   string    `json:"status"` // running, succeeded, failed
	Error    string    `json:"error,omitempty"`
}

// ChecksSettings are Dokku's checks settings for an app.
type ChecksSettings struct {
	// Disabled process types (or AllTypes) are replaced with downtime: old
	// containers stop before new ones start, unchecked.
	Disabled []string `json:"disabled,omitempty"`
	// Skipped process types (or AllTypes) start beside the old ones but
	// take traffic without checks.
	Skipped []string `json:"skipped,omitempty"`
	// WaitToRetire bounds, in seconds, how long old containers may keep
	// serving in-flight requests after a rollout; 0 means the default.
	WaitToRetire int `json:"wait_to_retire,omitempty"`
}

// AllTypes stands for every process type in checks settings.
const AllTypes = "_all_"

func (c ChecksSettings) IsDisabled(typ string) bool {
	return slices.Contains(c.Disabled, AllTypes) || slices.Contains(c.Disabled, typ)
}

func (c ChecksSettings) IsSkipped(typ string) bool {
	return slices.Contains(c.Skipped, AllTypes) || slices.Contains(c.Skipped, typ)
}

// Defaults of the per-app settings.
const (
	DefaultRestartPolicy      = "on-failure:10"
	DefaultStopTimeoutSeconds = 30
	DefaultWaitToRetire       = 60
)

// Release is one deployable version of an app: an image and how to run it.
type Release struct {
	Version int    `json:"version"`
	Image   string `json:"image"`
	ImageID string `json:"image_id"`
	Port    int    `json:"port"`
	GitRev  string `json:"git_rev,omitempty"`
	// SourceImage is the local image the release was deployed from
	// (git:from-image), when it was not built from a commit.
	SourceImage string    `json:"source_image,omitempty"`
	Reason      string    `json:"reason"`
	CreatedAt   time.Time `json:"created_at"`
	// Processes is the Procfile: process type → command. Empty means one
	// web process running the image's CMD.
	Processes map[string]string `json:"processes,omitempty"`
	// Launch is the builder's argv per process type (builder.Result's
	// Launch): a type listed here starts with it instead of /bin/sh -c.
	Launch map[string][]string `json:"launch,omitempty"`
	// Builder is the builder that built the release's image; empty for
	// an image deployed as it was (git:from-image).
	Builder string `json:"builder,omitempty"`
	// AppJSON is the release's app.json, if it had one.
	AppJSON *AppJSON `json:"app_json,omitempty"`
	// Config is the environment the release runs with.
	Config map[string]string `json:"config,omitempty"`
}

// CurrentRelease returns the serving release, or false when none serves.
func (a *App) CurrentRelease() (Release, bool) {
	for _, r := range a.Releases {
		if r.Version == a.Current {
			return r, true
		}
	}
	return Release{}, false
}

// NextVersion is the version number the next release gets.
func (a *App) NextVersion() int {
	v := 0
	for _, r := range a.Releases {
		v = max(v, r.Version)
	}
	return v + 1
}

// ErrAppNotFound is returned for an app that does not exist.
var ErrAppNotFound = errors.New("app not found")

func appKey(name string) string { return "apps/" + name }

func loadApp(ctx context.Context, s store.Store, name string) (*App, error) {
	doc, err := s.Get(ctx, appKey(name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, Errorf(ErrAppNotFound, "app %q does not exist (create it with apps:create %s, or push to it)", name, name)
	}
	if err != nil {
		return nil, fmt.Errorf("read app %s: %w", name, err)
	}
	var a App
	if err := json.Unmarshal(doc, &a); err != nil {
		return nil, fmt.Errorf("app %s: its record is not valid JSON: %w", name, err)
	}
	return &a, nil
}

func saveApp(ctx context.Context, s store.Store, a *App) error {
	doc, err := json.MarshalIndent(a, "", "  ")
	if err != nil {
		return err
	}
	if err := s.Put(ctx, appKey(a.Name), doc); err != nil {
		return fmt.Errorf("save app %s: %w", a.Name, err)
	}
	return nil
}

// SaveApp writes a's record into s under the key Berth reads it from. It
// is for tools that set a state directory up before Berth starts on it
// (the benchmarks, internal/berthtest), so that they write the record the
// way Berth does instead of guessing its file layout. Inside a running
// Berth, change apps through Platform's methods: they hold the app's lock.
func SaveApp(ctx context.Context, s store.Store, a *App) error {
	if err := ValidateAppName(a.Name); err != nil {
		return err
	}
	return saveApp(ctx, s, a)
}
