package certs

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"sync"
	"testing"

	"github.com/berth-paas/berth/internal/busy"
	"github.com/berth-paas/berth/store"
)

// fakeApps is the app core as certs sees it: apps and their hosts, the
// busy lock, and the hooks, which a test fires as the platform would.
type fakeApps struct {
	mu    sync.Mutex
	hosts map[string][]string
	busy  busy.Set

	destroyed    []func(ctx context.Context, app string)
	renameSetup  []func(ctx context.Context, from, to string) error
	renamed      []func(ctx context.Context, from, to string)
	cloneSetup   []func(ctx context.Context, from, to string) error
	hostsChanged []func(ctx context.Context, app string, hosts []string)
}

var (
	errBusy     = errors.New("busy")
	errNotFound = errors.New("no such app")
)

func (f *fakeApps) Hosts(_ context.Context, app string) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	h, ok := f.hosts[app]
	if !ok {
		return nil, fmt.Errorf("app %s: %w", app, errNotFound)
	}
	return slices.Clone(h), nil
}

func (f *fakeApps) LockApp(ctx context.Context, app, what string) ([]string, func(), error) {
	unlock, holder := f.busy.Take(app, what)
	if unlock == nil {
		return nil, nil, fmt.Errorf("%s of %s is running; try again when it has finished: %w", holder, app, errBusy)
	}
	hosts, err := f.Hosts(ctx, app)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return hosts, unlock, nil
}

func (f *fakeApps) LockGlobal(what string) (func(), error) {
	unlock, holder := f.busy.Take("_global", what)
	if unlock == nil {
		return nil, fmt.Errorf("%s is running: %w", holder, errBusy)
	}
	return unlock, nil
}

func (f *fakeApps) OnAppDestroyed(h func(ctx context.Context, app string)) {
	f.destroyed = append(f.destroyed, h)
}
func (f *fakeApps) OnAppRenameSetup(h func(ctx context.Context, from, to string) error) {
	f.renameSetup = append(f.renameSetup, h)
}
func (f *fakeApps) OnAppRenamed(h func(ctx context.Context, from, to string)) {
	f.renamed = append(f.renamed, h)
}
func (f *fakeApps) OnAppCloneSetup(h func(ctx context.Context, from, to string) error) {
	f.cloneSetup = append(f.cloneSetup, h)
}
func (f *fakeApps) OnAppHostsChanged(h func(ctx context.Context, app string, hosts []string)) {
	f.hostsChanged = append(f.hostsChanged, h)
}

// setHosts gives app hosts (creating it) and fires the hosts-changed
// hooks, as a domains change does.
func (f *fakeApps) setHosts(ctx context.Context, app string, hosts ...string) {
	f.mu.Lock()
	f.hosts[app] = hosts
	f.mu.Unlock()
	for _, h := range f.hostsChanged {
		h(ctx, app, hosts)
	}
}

// destroy removes app and fires the destroyed hooks, as apps:destroy
// does once the record is gone.
func (f *fakeApps) destroy(ctx context.Context, app string) {
	f.mu.Lock()
	delete(f.hosts, app)
	f.mu.Unlock()
	for _, h := range f.destroyed {
		h(ctx, app)
	}
}

// copyApp renames or clones from to to, with the platform's order: the
// record, the setup hooks, the hosts, then (on a rename) the old app goes
// and the renamed hooks run.
func (f *fakeApps) copyApp(t *testing.T, ctx context.Context, from, to string, move bool, hosts ...string) {
	t.Helper()
	f.mu.Lock()
	f.hosts[to] = nil
	f.mu.Unlock()
	setup := f.cloneSetup
	if move {
		setup = f.renameSetup
	}
	for _, h := range setup {
		if err := h(ctx, from, to); err != nil {
			t.Fatal(err)
		}
	}
	f.setHosts(ctx, to, hosts...)
	if !move {
		return
	}
	f.mu.Lock()
	delete(f.hosts, from)
	f.mu.Unlock()
	for _, h := range f.renamed {
		h(ctx, from, to)
	}
}

// newTestCerts is Certs on a fresh store, with app "app" on hosts, a fake
// core and a fake cache.
func newTestCerts(t *testing.T, hosts ...string) (*Certs, *fakeApps, *fakeCache) {
	t.Helper()
	apps := &fakeApps{hosts: map[string][]string{"app": hosts}}
	cache := &fakeCache{}
	return New(Config{Store: &store.Files{Dir: t.TempDir()}, Apps: apps, Hooks: apps, Cache: cache}), apps, cache
}
