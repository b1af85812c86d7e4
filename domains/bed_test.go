package domains_test

import (
	"context"
	"testing"
	"time"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// bed is the app core on a fake engine with package domains wired over
// it as Berth wires them (caddymodule): the platform asks the resolver
// for the apps' hosts, the global domain is example.test. No Docker.
type bed struct {
	ctx   context.Context
	p     *platform.Platform
	d     *domains.Domains
	table *routing.Table
}

var _ domains.Apps = (*platform.Platform)(nil)

func newBed(t *testing.T) *bed {
	t.Helper()
	dir := t.TempDir()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	table := routing.New()
	hosts := domains.NewResolver()
	p := platform.New(platform.Config{Hosts: hosts, Store: &store.Files{Dir: dir + "/state"}, Engine: engine, Table: table, ReposDir: dir + "/repos"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	d := domains.New(domains.Config{Apps: p, Table: table, Resolver: hosts})
	if err := d.SetGlobalDomains(ctx, []string{"example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return &bed{ctx: ctx, p: p, d: d, table: table}
}
