package buildconfig

import (
	"context"
	"encoding/json"
	"errors"
	"sync"
	"testing"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// fakeApps is the app core as the build settings see it: records in the
// store under the core's keys (apps/NAME, as the core writes them), one
// change at a time.
type fakeApps struct {
	t     *testing.T
	store store.Store
	mu    sync.Mutex
	// sources are the commits CommitSource gives, by rev.
	sources map[string]builder.Source
	// heads records PointHead's calls, by app.
	heads []string
	// globalBusy makes LockGlobal refuse, as a held global lock does.
	globalBusy bool
}

func (f *fakeApps) App(ctx context.Context, name string) (*platform.App, error) {
	doc, err := f.store.Get(ctx, "apps/"+name)
	if errors.Is(err, store.ErrNotFound) {
		return nil, platform.Errorf(platform.ErrAppNotFound, "app %q does not exist", name)
	}
	if err != nil {
		return nil, err
	}
	var a platform.App
	if err := json.Unmarshal(doc, &a); err != nil {
		return nil, err
	}
	return &a, nil
}

func (f *fakeApps) put(a *platform.App) {
	f.t.Helper()
	doc, err := json.Marshal(a)
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.store.Put(context.Background(), "apps/"+a.Name, doc); err != nil {
		f.t.Fatal(err)
	}
}

func (f *fakeApps) UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, err := f.App(ctx, app)
	if err != nil {
		return err
	}
	if err := change(a); err != nil {
		return err
	}
	f.put(a)
	return nil
}

func (f *fakeApps) LockGlobal(what string) (func(), error) {
	if f.globalBusy {
		return nil, errors.New(what + " is refused: the global settings are busy")
	}
	f.mu.Lock()
	return f.mu.Unlock, nil
}

func (f *fakeApps) Config() map[string]string { return map[string]string{} }

func (f *fakeApps) CommitSource(_, rev string) builder.Source { return f.sources[rev] }

func (f *fakeApps) PointHead(_ context.Context, app string) { f.heads = append(f.heads, app) }

// fileBuilder detects a source by one file.
type fileBuilder struct{ name, file string }

func (b fileBuilder) Name() string { return b.name }

func (b fileBuilder) Detect(ctx context.Context, src builder.Source, _ map[string]string) (bool, string, error) {
	_, ok, err := src.ReadFile(ctx, b.file)
	if ok {
		return true, "found " + b.file, err
	}
	return false, b.file, err
}

func (b fileBuilder) Build(context.Context, builder.Request) (builder.Result, error) {
	return builder.Result{}, errors.New("fileBuilder builds nothing")
}

// bed is a Settings over a fake core with the app "blog", and the
// resolver the platform would read them through.
type bed struct {
	t        *testing.T
	ctx      context.Context
	store    *store.Files
	apps     *fakeApps
	settings *Settings
	resolver *Resolver
}

func newBed(t *testing.T) *bed {
	t.Helper()
	st := &store.Files{Dir: t.TempDir()}
	sel, err := builder.NewSelector("", fileBuilder{"dockerfile", "Dockerfile"}, fileBuilder{"pack", "project.toml"})
	if err != nil {
		t.Fatal(err)
	}
	apps := &fakeApps{t: t, store: st, sources: map[string]builder.Source{}}
	apps.put(&platform.App{Name: "blog"})
	return &bed{t: t, ctx: context.Background(), store: st, apps: apps,
		settings: New(Config{Store: st, Apps: apps, Globals: apps, Builders: sel, Repos: apps}), resolver: NewResolver(st, nil)}
}

// of resolves the settings of app as the deploy pipeline does.
func (b *bed) of(app string) platform.AppBuildSettings {
	b.t.Helper()
	a, err := b.apps.App(b.ctx, app)
	if err != nil {
		b.t.Fatal(err)
	}
	s, err := b.resolver.Of(b.ctx, a)
	if err != nil {
		b.t.Fatal(err)
	}
	return s
}

func (b *bed) app(name string) *platform.App {
	b.t.Helper()
	a, err := b.apps.App(b.ctx, name)
	if err != nil {
		b.t.Fatal(err)
	}
	return a
}

func (b *bed) must(err error) {
	b.t.Helper()
	if err != nil {
		b.t.Fatal(err)
	}
}
