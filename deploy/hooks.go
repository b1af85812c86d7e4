package deploy

import (
	"context"
	"slices"
	"sync"

	"github.com/berth-paas/berth/platform"
)

// hooks are what other packages asked to be told of deploys: the end of
// each deploy (the metrics count them by result) and each build (disk
// prunes the build cache).
type hooks struct {
	mu       sync.Mutex // guards the lists; a hook runs without it
	built    []func(ctx context.Context)
	finished []func(app string, a platform.DeployAttempt)
}

// OnBuilt registers f to run after a deploy built from a source (it
// succeeded or not), off the deploy's path, in a goroutine of its own:
// disk prunes the build cache there.
func (d *Deployer) OnBuilt(f func(ctx context.Context)) {
	d.hooks.mu.Lock()
	defer d.hooks.mu.Unlock()
	d.hooks.built = append(d.hooks.built, f)
}

// OnDeployFinished registers f to run when a deploy of an app ends, with
// its record (Status succeeded or failed, Started and Finished): the
// metrics count deploys by result.
func (d *Deployer) OnDeployFinished(f func(app string, a platform.DeployAttempt)) {
	d.hooks.mu.Lock()
	defer d.hooks.mu.Unlock()
	d.hooks.finished = append(d.hooks.finished, f)
}

func (h *hooks) runBuilt(ctx context.Context) {
	h.mu.Lock()
	fs := slices.Clone(h.built)
	h.mu.Unlock()
	for _, f := range fs {
		f(ctx)
	}
}

func (h *hooks) runFinished(app string, a platform.DeployAttempt) {
	h.mu.Lock()
	fs := slices.Clone(h.finished)
	h.mu.Unlock()
	for _, f := range fs {
		f(app, a)
	}
}
