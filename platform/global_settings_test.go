package platform

import (
	"context"
	"testing"
	"time"

	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// An app's own setting wins over the global one, which wins over the
// default.
func TestGlobalDefaultsOrder(t *testing.T) {
	own := &App{RestartPolicy: "always", StopTimeoutSeconds: 4, Checks: ChecksSettings{WaitToRetire: 3}}
	none := &App{}
	var unset ProcessGlobals
	if got := WaitToRetireOf(none, unset); got != DefaultWaitToRetire*time.Second {
		t.Errorf("default wait %s", got)
	}
	if got := RestartPolicyOf(none, unset); got != DefaultRestartPolicy {
		t.Errorf("default policy %s", got)
	}
	if got := StopTimeoutOf(none, unset); got != DefaultStopTimeoutSeconds*time.Second {
		t.Errorf("default stop %s", got)
	}
	g := ProcessGlobals{WaitToRetire: 9, RestartPolicy: "unless-stopped", StopTimeoutSeconds: 12}
	if got := WaitToRetireOf(none, g); got != 9*time.Second {
		t.Errorf("global wait: %s", got)
	}
	if got := RestartPolicyOf(none, g); got != "unless-stopped" {
		t.Errorf("global policy: %s", got)
	}
	if got := StopTimeoutOf(none, g); got != 12*time.Second {
		t.Errorf("global stop: %s", got)
	}
	if got := WaitToRetireOf(own, g); got != 3*time.Second {
		t.Errorf("own wait: %s", got)
	}
	if got := RestartPolicyOf(own, g); got != "always" {
		t.Errorf("own policy: %s", got)
	}
	if got := StopTimeoutOf(own, g); got != 4*time.Second {
		t.Errorf("own stop: %s", got)
	}
}

// The process settings a previous version wrote in the global document
// are the ones the core applies after an upgrade: they did not move.
func TestProcessGlobalsReadFromThePreviousDocument(t *testing.T) {
	ctx := context.Background()
	st := &store.Files{Dir: t.TempDir()}
	doc := `{"restart_policy": "unless-stopped", "stop_timeout_seconds": 12, "wait_to_retire": 9, "keep_releases": 4}`
	if err := st.Put(ctx, "settings/global", []byte(doc)); err != nil {
		t.Fatal(err)
	}
	p := &Platform{store: st, table: routing.New(), globals: newGlobals(st)}
	if _, err := p.globals.Reload(ctx); err != nil {
		t.Fatal(err)
	}
	if got, want := p.ProcessGlobals(), (ProcessGlobals{RestartPolicy: "unless-stopped", StopTimeoutSeconds: 12, WaitToRetire: 9}); got != want {
		t.Fatalf("process globals %+v, want %+v", got, want)
	}
	// A change through Globals.Change keeps the core's copy current.
	if err := p.globals.Change(ctx, "a test", func(g *Global) error { g.WaitToRetire = 0; return nil }); err != nil {
		t.Fatal(err)
	}
	if got := p.ProcessGlobals().WaitToRetire; got != 0 {
		t.Fatalf("wait-to-retire %d after it was cleared", got)
	}
}

// The retention is the app's, else the global document's, else the
// Caddyfile's keep_releases, and each says where it comes from.
func TestKeepReleasesOrder(t *testing.T) {
	l := Limits{KeepReleases: 10}
	if n, from := KeepReleasesOf(&App{}, Global{}, l); n != 10 || from != "keep_releases" {
		t.Errorf("default: %d from %s", n, from)
	}
	if n, from := KeepReleasesOf(&App{}, Global{KeepReleases: 4}, l); n != 4 || from != "global" {
		t.Errorf("global: %d from %s", n, from)
	}
	if n, from := KeepReleasesOf(&App{KeepReleases: 3}, Global{KeepReleases: 4}, l); n != 3 || from != "app" {
		t.Errorf("own: %d from %s", n, from)
	}
}
