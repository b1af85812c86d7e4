package disk

import (
	"context"
	"errors"
	"io"
	"slices"
	"sync"

	"github.com/berth-paas/berth/platform"
)

// errBusy is the fake core's answer for an app another change holds.
var errBusy = errors.New("a deploy of the app is running")

// fakeApps is an app core in memory: records by name, the global
// document, the Caddyfile's limits and the hooks the disk registers.
type fakeApps struct {
	mu     sync.Mutex
	apps   map[string]*platform.App
	global platform.Global
	limits platform.Limits
	busy   map[string]bool
	// saved are the releases of each save, in order, by app.
	saved     map[string][][]int
	rolledOut []func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error
	built     []func(ctx context.Context)
	// onSave, when set, runs at each save (the engine's calls so far).
	onSave func()
}

func newFakeApps() *fakeApps {
	return &fakeApps{apps: map[string]*platform.App{}, busy: map[string]bool{}, saved: map[string][][]int{},
		limits: platform.Limits{KeepReleases: platform.DefaultKeepReleases, BuildCacheMax: 1 << 30}}
}

// add stores an app with releases v1..vn, the last current, each with
// its own image tag.
func (f *fakeApps) add(name string, n int) *platform.App {
	a := &platform.App{Name: name, Current: n}
	for v := 1; v <= n; v++ {
		a.Releases = append(a.Releases, platform.Release{Version: v, Image: image(name, v)})
	}
	f.apps[name] = a
	return a
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[name]
	if !ok {
		return nil, platform.ErrAppNotFound
	}
	c := *a
	c.Releases = slices.Clone(a.Releases)
	return &c, nil
}

func (f *fakeApps) AppNames(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.apps {
		names = append(names, n)
	}
	slices.Sort(names)
	return names, nil
}

func (f *fakeApps) ChangeApp(ctx context.Context, app, _ string, change func(a *platform.App, save func() error) error) error {
	f.mu.Lock()
	busy := f.busy[app]
	f.mu.Unlock()
	if busy {
		return errBusy
	}
	a, err := f.App(ctx, app)
	if err != nil {
		return err
	}
	return change(a, f.saver(a))
}

func (f *fakeApps) saver(a *platform.App) func() error {
	return func() error {
		if f.onSave != nil {
			f.onSave()
		}
		f.mu.Lock()
		defer f.mu.Unlock()
		c := *a
		c.Releases = slices.Clone(a.Releases)
		f.apps[a.Name] = &c
		f.saved[a.Name] = append(f.saved[a.Name], versions(a.Releases))
		return nil
	}
}

func (f *fakeApps) Settings(context.Context) (platform.Global, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.global, nil
}

func (f *fakeApps) Change(_ context.Context, _ string, change func(*platform.Global) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	g := f.global
	if err := change(&g); err != nil {
		return err
	}
	f.global = g
	return nil
}

func (f *fakeApps) Limits() platform.Limits { return f.limits }

func (f *fakeApps) OnRolledOut(h func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error) {
	f.rolledOut = append(f.rolledOut, h)
}

func (f *fakeApps) OnBuilt(h func(ctx context.Context)) { f.built = append(f.built, h) }

// rollOut runs the rollout hooks for app as the core does after a
// rollout, with the app locked.
func (f *fakeApps) rollOut(app string, log io.Writer) []error {
	a, _ := f.App(context.Background(), app)
	var errs []error
	for _, h := range f.rolledOut {
		if err := h(context.Background(), a, f.saver(a), log); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}

func versions(rels []platform.Release) []int {
	var vs []int
	for _, r := range rels {
		vs = append(vs, r.Version)
	}
	return vs
}
