package platform

import (
	"context"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
)

// This file is the seam where settings families contribute to the
// containers the platform runs. The platform decides what runs (which
// image, process, release, generation) and the families how it runs:
// package appspec's networks, storage, resources and docker-options are
// the ones today (Dokku's network:*, storage:*, resource:* and
// docker-options:*). They are handed in through Config.Specs; the platform
// does not import them, and runs without any (its unit tests do).

// The phases a container runs in, as docker-options:add names them.
const (
	// PhaseDeploy is the app's process containers and the deploy's
	// one-offs (predeploy, release command).
	PhaseDeploy = "deploy"
	// PhaseRun is the one-offs of run and run:detached.
	PhaseRun = "run"
)

// Slot names the container a spec is for.
type Slot struct {
	// Phase is PhaseDeploy or PhaseRun.
	Phase string
	// Type and Index are the process type and the container's number
	// (web, 2); Type is "" for a one-off (Index 0).
	Type  string
	Index int
}

// SpecContributor adds a settings family's part to the host options of
// the containers an app runs: every rollout's containers, the deploy's
// one-offs and run's one-offs come through it. What a contributor reads
// was validated when it was set; an error means the record was edited by
// hand, and stops the container from being made.
type SpecContributor interface {
	ContributeSpec(a *App, s Slot, h *docker.HostOptions) error
}

// TypeChecker is a SpecContributor that refuses process types its
// settings cannot run (appspec: all-digit types on an app with networks).
// A rollout and a deploy ask it before they start anything.
type TypeChecker interface {
	CheckTypes(a *App, types []string) error
}

// Deployed is a new container of a rollout.
type Deployed struct {
	ID    string
	Type  string
	Index int
}

// PostDeployer is a SpecContributor with a step once a rollout's new
// containers have passed their checks and before they take traffic
// (appspec: joining the attach-post-deploy networks). An error fails the
// rollout, and the old containers keep serving.
type PostDeployer interface {
	PostDeploy(ctx context.Context, a *App, news []Deployed) error
}

// BuildSpec is what settings give an app's build.
type BuildSpec struct {
	// Options are the builder's options (docker-options:add APP build).
	Options builder.BuildOptions
	// OptionsErr says why Options could not be read (a record edited by
	// hand). It fails a build from source only: a deploy that builds
	// nothing (git:from-image, a config change's release) never uses the
	// options, and must not fail over them.
	OptionsErr error
	// Resources are the app's own limits of its builds and deploy
	// one-offs (resource:limit --process-type build). The host's build
	// defaults fill what they leave, and cap them unless ByAdmin.
	Resources docker.HostOptions
	// ByAdmin says an admin key set Resources: they may go above the
	// host's build defaults.
	ByAdmin bool
}

// BuildContributor is a SpecContributor that contributes to builds too.
type BuildContributor interface {
	ContributeBuild(a *App, b *BuildSpec) error
}

// specs are the contributors of Config.Specs, in order.
type specs []SpecContributor

// host is the host options of the container of slot s of app a: the log
// settings (logs:set max-size), then every contributor's part, in order
// (a --log-opt of docker-options wins over max-size).
func (cs specs) host(a *App, s Slot) (docker.HostOptions, error) {
	var h docker.HostOptions
	if size := a.LogMaxSize; size == LogMaxSizeUnlimited {
		h.LogOpts = map[string]string{"max-size": "", "max-file": ""} // omitted
	} else if size != "" {
		h.LogOpts = map[string]string{"max-size": size}
	}
	for _, c := range cs {
		if err := c.ContributeSpec(a, s, &h); err != nil {
			return h, err
		}
	}
	return h, nil
}

// checkTypes asks every TypeChecker whether a may run types.
func (cs specs) checkTypes(a *App, types []string) error {
	for _, c := range cs {
		if tc, ok := c.(TypeChecker); ok {
			if err := tc.CheckTypes(a, types); err != nil {
				return err
			}
		}
	}
	return nil
}

// postDeploy runs every PostDeployer's step on the checked new
// containers.
func (cs specs) postDeploy(ctx context.Context, a *App, news []Deployed) error {
	if len(news) == 0 {
		return nil
	}
	for _, c := range cs {
		if pd, ok := c.(PostDeployer); ok {
			if err := pd.PostDeploy(ctx, a, news); err != nil {
				return err
			}
		}
	}
	return nil
}

// Specs are the contributors of Config.Specs as a scheduler applies them
// (SchedulerDeps): the host options of each process, the types an app
// may run, and the step between a rollout's checks and its switch.
type Specs struct{ cs specs }

// Host is the host options of the process of slot s of app a.
func (s Specs) Host(a *App, slot Slot) (docker.HostOptions, error) { return s.cs.host(a, slot) }

// CheckTypes asks every TypeChecker whether a may run types.
func (s Specs) CheckTypes(a *App, types []string) error { return s.cs.checkTypes(a, types) }

// PostDeploy runs every PostDeployer's step on the checked new processes.
func (s Specs) PostDeploy(ctx context.Context, a *App, news []Deployed) error {
	return s.cs.postDeploy(ctx, a, news)
}

// build is what the contributors give a's build.
func (cs specs) build(a *App) (BuildSpec, error) {
	var b BuildSpec
	for _, c := range cs {
		if bc, ok := c.(BuildContributor); ok {
			if err := bc.ContributeBuild(a, &b); err != nil {
				return b, err
			}
		}
	}
	return b, nil
}
