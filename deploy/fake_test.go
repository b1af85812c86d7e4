package deploy

import (
	"context"
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"testing"

	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

// fakeApps is an app core in memory: records by name, one change of an
// app at a time, and a rollout that records the release it was given as
// current (as the scheduler's rollout saves it).
type fakeApps struct {
	Apps // what a test does not fake panics if called

	mu       sync.Mutex
	apps     map[string]*platform.App
	busy     map[string]string
	rollouts []platform.Release
	saves    int
}

func newFakeApps(apps ...*platform.App) *fakeApps {
	f := &fakeApps{apps: map[string]*platform.App{}, busy: map[string]string{}}
	for _, a := range apps {
		f.apps[a.Name] = a
	}
	return f
}

// clone deep-copies a record, as a load from the store would.
func clone(a *platform.App) *platform.App {
	data, _ := json.Marshal(a)
	var c platform.App
	json.Unmarshal(data, &c)
	return &c
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[name]
	if !ok {
		return nil, platform.Errorf(platform.ErrAppNotFound, "app %q does not exist", name)
	}
	return clone(a), nil
}

func (f *fakeApps) ChangeApp(ctx context.Context, app, what string, change func(a *platform.App, save func() error) error) error {
	f.mu.Lock()
	if holder, ok := f.busy[app]; ok {
		f.mu.Unlock()
		return platform.Errorf(platform.ErrBusy, "%s of %s is running", holder, app)
	}
	f.busy[app] = what
	f.mu.Unlock()
	defer func() { f.mu.Lock(); delete(f.busy, app); f.mu.Unlock() }()
	a, err := f.App(ctx, app)
	if err != nil {
		return err
	}
	return change(a, func() error { f.save(a); return nil })
}

func (f *fakeApps) save(a *platform.App) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps[a.Name] = clone(a)
	f.saves++
}

func (f *fakeApps) Limits() platform.Limits {
	return platform.Limits{MaxScale: 3, MaxContainers: 5, KeepReleases: 10}
}

func (f *fakeApps) CheckFormation(app string, formation map[string]int, what string) error {
	for _, n := range formation {
		if n > f.Limits().MaxScale {
			return platform.Errorf(platform.ErrOverLimit, "%s: over max_scale", what)
		}
	}
	return nil
}

// fakeGlobals is an empty global settings document.
type fakeGlobals struct {
	Globals // what a test does not fake panics if called
}

func (fakeGlobals) Settings(context.Context) (platform.Global, error) {
	return platform.Global{}, nil
}

func (f *fakeApps) DeployedReport(*platform.App, map[string]int) []byte { return nil }

// fakeScheduler rolls a release out by recording it as current in the
// fake core, as the scheduler's rollout saves it; nothing else is faked.
type fakeScheduler struct {
	platform.Scheduler // what a test does not fake panics if called
	apps               *fakeApps
}

func (s fakeScheduler) Rollout(_ context.Context, a *platform.App, rel platform.Release, _ io.Writer) error {
	a.Releases = append(a.Releases, rel)
	a.Current = rel.Version
	s.apps.save(a)
	s.apps.mu.Lock()
	s.apps.rollouts = append(s.apps.rollouts, rel)
	s.apps.mu.Unlock()
	return nil
}

// deployed is an app with releases v1 and v2 (current), each with its
// own config and image in engine.
func deployed(t *testing.T, engine *fakeengine.Engine) *platform.App {
	t.Helper()
	a := &platform.App{Name: "blog", Config: map[string]string{"V": "2"}}
	for v := 1; v <= 2; v++ {
		n := strconv.Itoa(v)
		engine.AddImage("berth/blog:v"+n, fakeengine.Image{ID: "sha256:v" + n, Port: 5000})
		a.Releases = append(a.Releases, platform.Release{Version: v, ImageID: "sha256:v" + n, Image: "berth/blog:v" + n,
			Config: map[string]string{"V": n}})
	}
	a.Current = 2
	return a
}
