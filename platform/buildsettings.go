package platform

import (
	"context"
	"errors"
	"fmt"
	"sync"
)

// This file holds Dokku's builds:set and builds:cancel: how many builds
// Berth keeps of an app, and the cancel of a running deploy.

// MaxBuildRetention bounds builds:set retention: every kept build holds
// its log (up to build_log_max) on the state disk.
const MaxBuildRetention = 1000

// ErrBuildCanceled is the cause of a deploy cancelled with builds:cancel.
var ErrBuildCanceled = errors.New("cancelled with builds:cancel")

// BuildRetention is how many builds of app Berth keeps: its own setting,
// else the global one, else KeepBuilds.
func (p *Platform) buildRetention(ctx context.Context, a *App) int {
	if a.BuildRetention > 0 {
		return a.BuildRetention
	}
	if g, err := loadGlobal(ctx, p.store); err == nil && g.BuildRetention > 0 {
		return g.BuildRetention
	}
	return KeepBuilds
}

// checkRetention refuses a retention Berth does not keep. A deploy key
// may lower an app's retention, or raise it back up to KeepBuilds, never
// beyond: builds fill the state disk.
func checkRetention(ctx context.Context, n int) error {
	if n < 1 || n > MaxBuildRetention {
		return fmt.Errorf("retention %d: give a whole number of builds from 1 to %d (or no value for the default, %d)", n, MaxBuildRetention, KeepBuilds)
	}
	if isDeployKey(ctx) && n > KeepBuilds {
		return fmt.Errorf("retention %d is more than a deploy key may set (at most %d): kept builds fill the host's disk, so a larger retention needs an admin key", n, KeepBuilds)
	}
	return nil
}

// SetBuildRetention sets how many builds of app Berth keeps (Dokku's
// builds:set APP retention N); 0 goes back to the global setting. Older
// builds are removed at the end of the app's next deploy, as in Dokku.
func (p *Platform) SetBuildRetention(ctx context.Context, app string, n int) error {
	if n != 0 {
		if err := checkRetention(ctx, n); err != nil {
			return err
		}
	}
	return p.update(ctx, app, func(a *App) { a.BuildRetention = n })
}

// SetGlobalBuildRetention sets how many builds Berth keeps of apps that
// set none (builds:set --global retention N); 0 goes back to KeepBuilds.
func (p *Platform) SetGlobalBuildRetention(ctx context.Context, n int) error {
	if n != 0 {
		if err := checkRetention(ctx, n); err != nil {
			return err
		}
	}
	return p.changeGlobal(ctx, "a global settings change", func(g *Global) { g.BuildRetention = n }, nil)
}

// BuildsSettings are what builds:report shows of the retention: the
// app's own (0: none), the global one (0: none) and the one that applies.
type BuildsSettings struct {
	Retention, GlobalRetention, ComputedRetention int
}

// BuildsSettings returns the retention settings of app, or the global
// ones for "".
func (p *Platform) BuildsSettings(ctx context.Context, app string) (BuildsSettings, error) {
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return BuildsSettings{}, err
	}
	s := BuildsSettings{GlobalRetention: g.BuildRetention, ComputedRetention: KeepBuilds}
	if g.BuildRetention > 0 {
		s.ComputedRetention = g.BuildRetention
	}
	if app == "" {
		return s, nil
	}
	a, err := p.App(ctx, app)
	if err != nil {
		return BuildsSettings{}, err
	}
	s.Retention = a.BuildRetention
	if a.BuildRetention > 0 {
		s.ComputedRetention = a.BuildRetention
	}
	return s, nil
}

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
func (p *Platform) CancelDeploy(ctx context.Context, app string) (b Build, running bool, err error) {
	if _, err := p.App(ctx, app); err != nil {
		return Build{}, false, err
	}
	d := p.deploys.get(app)
	if d == nil {
		return Build{}, false, nil
	}
	d.cancel(ErrBuildCanceled)
	select {
	case <-d.done:
	case <-ctx.Done():
		return Build{}, true, context.Cause(ctx)
	}
	b = Build{ID: d.build, App: app, Status: BuildCanceled}
	if d.build > 0 {
		if rec, err := p.builds.get(app, d.build); err == nil {
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
func (p *Platform) Deploying(app string) bool { return p.deploys.get(app) != nil }
