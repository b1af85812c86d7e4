package appspec_test

import (
	"context"
	"slices"
	"testing"

	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/pssettings"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// wired is appspec and the real platform on one store, as caddymodule
// wires them: both write fields of the one global settings document.
type wired struct {
	st       store.Store
	engine   *fakeengine.Engine
	p        *platform.Platform
	domains  *domains.Domains
	settings *appspec.Settings
	ps       *pssettings.Settings
}

func newWired(t *testing.T) *wired {
	t.Helper()
	dir := t.TempDir()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	ctx := context.Background()
	for _, n := range []string{engine.Network(), "shared"} {
		if err := engine.CreateNetwork(ctx, n); err != nil {
			t.Fatal(err)
		}
	}
	st := &store.Files{Dir: dir + "/state"}
	spec := appspec.NewSpec(appspec.SpecConfig{Store: st, Engine: engine})
	table, hosts := routing.New(), domains.NewResolver()
	p := platform.New(platform.Config{
		Hosts: hosts, Store: st, Engine: engine, Table: table,
		ReposDir: dir + "/repos", Builds: deploy.NewBuilds(dir + "/builds"),
		Specs: []platform.SpecContributor{spec},
	})
	return &wired{
		st: st, engine: engine, p: p,
		domains:  domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts}),
		settings: appspec.New(appspec.Config{Spec: spec, Apps: p}),
		ps:       pssettings.New(pssettings.Config{Apps: p, Globals: p.Globals(), Engine: engine}),
	}
}

// check reads both sides afresh from the store: the network settings as
// a new Spec reads them at start-up, the platform's as it reads its
// document.
func (w *wired) check(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	g, err := appspec.NewSpec(appspec.SpecConfig{Store: w.st, Engine: w.engine}).Global(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(g.AttachPostDeploy, []string{"shared"}) || g.TLD != "svc.local" {
		t.Errorf("global networks read afresh = %+v; want attach-post-deploy shared, tld svc.local", g)
	}
	pg, err := w.p.Globals().Settings(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if pg.RestartPolicy != "on-failure:5" || !slices.Equal(pg.Domains, []string{"example.test"}) {
		t.Errorf("platform's global settings read afresh: restart policy %q, domains %q", pg.RestartPolicy, pg.Domains)
	}
}

func (w *wired) setNetworks(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := w.settings.SetGlobalNetwork(ctx, appspec.AttachPostDeploy, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
	if err := w.settings.SetGlobalNetwork(ctx, appspec.TLD, []string{"svc.local"}); err != nil {
		t.Fatal(err)
	}
}

func (w *wired) setPlatforms(t *testing.T) {
	t.Helper()
	ctx := context.Background()
	if err := w.ps.SetGlobalRestartPolicy(ctx, "on-failure:5"); err != nil {
		t.Fatal(err)
	}
	if err := w.domains.ChangeGlobal(ctx, "add", []string{"example.test"}); err != nil {
		t.Fatal(err)
	}
}

// network:set --global, then the platform's own global writes (ps:set
// --global, domains:add-global): the networks field is kept.
func TestPlatformGlobalWritesKeepTheNetworks(t *testing.T) {
	w := newWired(t)
	w.setNetworks(t)
	w.setPlatforms(t)
	w.check(t)
}

// The reverse: the platform's global settings, then network:set
// --global: the platform's fields are kept.
func TestGlobalNetworkWritesKeepThePlatformsSettings(t *testing.T) {
	w := newWired(t)
	w.setPlatforms(t)
	w.setNetworks(t)
	w.check(t)
}
