package platform

import (
	"context"
	"time"

	"github.com/berth-paas/berth/docker"
)

// RunBase is what a one-off of run or run:detached starts from, as the
// app core knows it: package oneoff adds the command, the name and the
// labels. It is the one door from oneoff into the core's private parts
// (the release's environment, the spec contributors' run slot), so that
// oneoff need not know how either is made.
type RunBase struct {
	App     *App
	Release Release
	// Env is the release's environment with DYNO=run.1, as every one-off
	// has had since before runs had names: scripts read it to tell a
	// one-off from a process.
	Env []string
	// Host is the run phase's host options from the spec contributors
	// (networks, storage, resources, docker-options ... run).
	Host docker.HostOptions
	// StopTimeout is how long the one-off gets between SIGTERM and SIGKILL.
	StopTimeout time.Duration
}

// RunBase returns the base of a one-off of app's current release: an
// error if the app has no record (ErrAppNotFound) or no release yet
// (ErrNotDeployed), or if a contributor cannot read its settings.
func (p *Platform) RunBase(ctx context.Context, app string) (RunBase, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return RunBase{}, err
	}
	rel, err := currentRelease(a)
	if err != nil {
		return RunBase{}, err
	}
	host, err := p.specs.host(a, Slot{Phase: PhaseRun})
	if err != nil {
		return RunBase{}, err
	}
	return RunBase{
		App: a, Release: rel, Env: p.ReleaseEnv(a, rel, "run.1"), Host: host,
		StopTimeout: StopTimeoutOf(a, p.ProcessGlobals()),
	}, nil
}
