package appspec

import (
	"context"
	"encoding/json"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// fakeApps is an app core that keeps records as JSON, as the store does:
// a change works on a copy, and a refused change leaves the record as it
// was.
type fakeApps struct {
	mu      sync.Mutex
	records map[string][]byte
}

func (f *fakeApps) put(t *testing.T, a *platform.App) {
	t.Helper()
	data, err := json.Marshal(a)
	if err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[a.Name] = data
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	data, ok := f.records[name]
	if !ok {
		return nil, platform.ErrAppNotFound
	}
	var a platform.App
	return &a, json.Unmarshal(data, &a)
}

func (f *fakeApps) AppNames(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var names []string
	for n := range f.records {
		names = append(names, n)
	}
	sort.Strings(names)
	return names, nil
}

func (f *fakeApps) UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error {
	a, err := f.App(ctx, app)
	if err != nil {
		return err
	}
	if err := change(a); err != nil {
		return err
	}
	data, err := json.Marshal(a)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.records[app] = data
	return nil
}

func (f *fakeApps) LockGlobal(string) (func(), error) { return func() {}, nil }

// connectingEngine is the fake engine, recording the networks containers
// are joined to.
type connectingEngine struct {
	*fakeengine.Engine
	mu        sync.Mutex
	connected []string // "ID NETWORK ALIAS..."
}

func (e *connectingEngine) Connect(_ context.Context, id string, a docker.Attachment) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.connected = append(e.connected, id+" "+a.Network+" "+strings.Join(a.Aliases, ","))
	return nil
}

// fixture is the settings over a fake app core with one app, "app", and a
// fake engine with the networks named.
type fixture struct {
	settings *Settings
	spec     *Spec
	apps     *fakeApps
	engine   *connectingEngine
	store    store.Store
}

func newFixture(t *testing.T, networks ...string) *fixture {
	t.Helper()
	engine := &connectingEngine{Engine: fakeengine.New()}
	t.Cleanup(engine.Close)
	for _, n := range slices.Concat([]string{engine.Network()}, networks) {
		if err := engine.CreateNetwork(context.Background(), n); err != nil {
			t.Fatal(err)
		}
	}
	st := &store.Files{Dir: t.TempDir()}
	apps := &fakeApps{records: map[string][]byte{}}
	apps.put(t, &platform.App{Name: "app"})
	spec := NewSpec(SpecConfig{Store: st, Engine: engine})
	return &fixture{
		settings: New(Config{Spec: spec, Apps: apps, StorageDir: t.TempDir()}),
		spec:     spec, apps: apps, engine: engine, store: st,
	}
}

func (f *fixture) app(t *testing.T, name string) *platform.App {
	t.Helper()
	a, err := f.apps.App(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return a
}
