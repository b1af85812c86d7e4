package pssettings

import (
	"context"
	"sync"

	"github.com/berth-paas/berth/platform"
)

// fakeApps is an app core in memory: records by name and the global
// document, each change under one mutex as the core's locks serialize
// them.
type fakeApps struct {
	mu     sync.Mutex
	apps   map[string]*platform.App
	global platform.Global
	// saves counts ChangeApp's saves.
	saves int
}

func newFakeApps(names ...string) *fakeApps {
	f := &fakeApps{apps: map[string]*platform.App{}}
	for _, n := range names {
		f.apps[n] = &platform.App{Name: n}
	}
	return f
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[name]
	if !ok {
		return nil, platform.ErrAppNotFound
	}
	c := *a
	return &c, nil
}

func (f *fakeApps) UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error {
	return f.ChangeApp(ctx, app, "a settings change", func(a *platform.App, save func() error) error {
		if err := change(a); err != nil {
			return err
		}
		return save()
	})
}

func (f *fakeApps) ChangeApp(_ context.Context, app, _ string, change func(a *platform.App, save func() error) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	stored, ok := f.apps[app]
	if !ok {
		return platform.ErrAppNotFound
	}
	a := *stored
	return change(&a, func() error {
		f.saves++
		c := a
		f.apps[app] = &c
		return nil
	})
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

func (f *fakeApps) Process() platform.ProcessGlobals {
	f.mu.Lock()
	defer f.mu.Unlock()
	return platform.ProcessGlobals{RestartPolicy: f.global.RestartPolicy, StopTimeoutSeconds: f.global.StopTimeoutSeconds, WaitToRetire: f.global.WaitToRetire}
}

// record returns app's stored record.
func (f *fakeApps) record(app string) platform.App {
	f.mu.Lock()
	defer f.mu.Unlock()
	return *f.apps[app]
}
