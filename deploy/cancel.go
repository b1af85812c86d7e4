package deploy

import (
	"context"
	"sync"

	"github.com/berth-paas/berth/platform"
)

// This file holds Dokku's builds:cancel: the cancel of a running deploy.

// runningDeploys are the deploys under way, by app (one at most: a deploy
// holds its app's lock), so that builds:cancel can stop one.
type runningDeploys struct {
	mu sync.Mutex
	m  map[string]*runningDeploy
}

type runningDeploy struct {
	cancel context.CancelCauseFunc
	build  int           // the build's ID, 0 when it has no record
	done   chan struct{} // closed once the deploy has ended and recorded its end
}

// add records the deploy of app; the caller calls end once the deploy has
// ended and its outcome is recorded.
func (r *runningDeploys) add(app string, build int, cancel context.CancelCauseFunc) (end func()) {
	d := &runningDeploy{cancel: cancel, build: build, done: make(chan struct{})}
	r.mu.Lock()
	if r.m == nil {
		r.m = map[string]*runningDeploy{}
	}
	r.m[app] = d
	r.mu.Unlock()
	return func() {
		r.mu.Lock()
		if r.m[app] == d {
			delete(r.m, app)
		}
		r.mu.Unlock()
		close(d.done)
	}
}

func (r *runningDeploys) get(app string) *runningDeploy {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.m[app]
}

// CancelDeploy cancels the deploy of app under way (Dokku's builds:cancel),
// as the pusher's Ctrl-C does: it stops at the step it is at, leaves
// nothing behind, and the previous release keeps serving. It returns once
// the deploy has ended and recorded its end, with the build's record (its
// Status says whether the cancel came in time: a deploy past its swap
// finishes); running is false when the app has no deploy under way.
func (d *Deployer) CancelDeploy(ctx context.Context, app string) (b platform.Build, running bool, err error) {
	if _, err := d.apps.App(ctx, app); err != nil {
		return platform.Build{}, false, err
	}
	r := d.deploys.get(app)
	if r == nil {
		return platform.Build{}, false, nil
	}
	r.cancel(platform.ErrBuildCanceled)
	select {
	case <-r.done:
	case <-ctx.Done():
		return platform.Build{}, true, context.Cause(ctx)
	}
	b = platform.Build{ID: r.build, App: app, Status: platform.BuildCanceled}
	if r.build > 0 {
		if rec, err := d.builds.get(app, r.build); err == nil {
			b = rec
		}
	}
	return b, true, nil
}

// id is the build's ID, 0 for none.
func (l *buildLog) id() int {
	if l == nil {
		return 0
	}
	return l.b.ID
}

// Deploying reports whether app has a deploy under way.
func (d *Deployer) Deploying(app string) bool { return d.deploys.get(app) != nil }
