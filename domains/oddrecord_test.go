package domains_test

import (
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// A record whose file name is no valid app name (hand-copied state) does
// not stop setting the global domains, which start-up does: the previous
// version read such records, and Berth must not refuse to start over one.
func TestGlobalDomainsSetWithAnOddRecordName(t *testing.T) {
	dir := t.TempDir()
	st := &store.Files{Dir: filepath.Join(dir, "state")}
	if err := os.MkdirAll(filepath.Join(dir, "state", "apps"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "state", "apps", "Blog.json"), []byte(`{"name":"Blog"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	e := fakeengine.New()
	defer e.Close()
	table, hosts := routing.New(), domains.NewResolver()
	p := platform.New(platform.Config{Hosts: hosts, Store: st, Engine: e, Table: table, ReposDir: filepath.Join(dir, "repos")})
	d := domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts})
	if err := d.SetGlobalDomains(context.Background(), []string{"example.test"}); err != nil {
		t.Fatalf("SetGlobalDomains: %v", err)
	}
}
