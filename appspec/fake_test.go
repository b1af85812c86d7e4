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
// was. Its locks are the platform's: an app's record changes only under
// the app's lock (UpdateApp takes it), and LockGlobal is refused while
// another holds it (platform.ErrBusy), so a test sees the package work
// with the locks as they are.
type fakeApps struct {
	mu      sync.Mutex
	records map[string][]byte
	// held are the locks taken: the app's name, or "_global", to the
	// holder's what.
	held map[string]string
}

// take takes the lock of key for what, or says who holds it.
func (f *fakeApps) take(key, what string) (func(), error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.held == nil {
		f.held = map[string]string{}
	}
	if holder, ok := f.held[key]; ok {
		return nil, platform.Errorf(platform.ErrBusy, "%s of %s is running; try again when it has finished", holder, key)
	}
	f.held[key] = what
	return func() {
		f.mu.Lock()
		defer f.mu.Unlock()
		delete(f.held, key)
	}, nil
}

// holds says whether the lock of key is taken.
func (f *fakeApps) holds(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	_, ok := f.held[key]
	return ok
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
	unlock, err := f.take(app, "a settings change")
	if err != nil {
		return err
	}
	defer unlock()
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

func (f *fakeApps) LockGlobal(what string) (func(), error) { return f.take("_global", what) }

// lockedStore is the store of the global settings document, recording
// every write of it made without the global lock (Apps.LockGlobal): the
// platform changes the document's other fields under that lock, and a
// write outside it could lose theirs.
type lockedStore struct {
	store.Store
	apps     *fakeApps
	mu       sync.Mutex
	unlocked []string // the keys written without the lock
}

func (s *lockedStore) Put(ctx context.Context, key string, doc []byte) error {
	s.check(key)
	return s.Store.Put(ctx, key, doc)
}

func (s *lockedStore) Delete(ctx context.Context, key string) error {
	s.check(key)
	return s.Store.Delete(ctx, key)
}

func (s *lockedStore) check(key string) {
	if key == globalKey && !s.apps.holds("_global") {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.unlocked = append(s.unlocked, key)
	}
}

// unlockedWrites are the writes of the global document made without the
// global lock so far.
func (s *lockedStore) unlockedWrites() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.unlocked)
}

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
	store    *lockedStore
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
	apps := &fakeApps{records: map[string][]byte{}}
	st := &lockedStore{Store: &store.Files{Dir: t.TempDir()}, apps: apps}
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
