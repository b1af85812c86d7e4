package platform

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-paas/berth/store"
)

// A global setting that is cleared stays cleared: the document's keys the
// platform owns are not kept aside as another package's and written back.
func TestClearedGlobalSettingStaysCleared(t *testing.T) {
	ctx := context.Background()
	s := &store.Files{Dir: t.TempDir()}
	if err := saveGlobal(ctx, s, Global{RestartPolicy: "always", WaitToRetire: 9, KeepReleases: 3, StopTimeoutSeconds: 5, DisableAutocreation: true}); err != nil {
		t.Fatal(err)
	}
	g, err := loadGlobal(ctx, s)
	if err != nil {
		t.Fatal(err)
	}
	g.RestartPolicy, g.WaitToRetire, g.KeepReleases, g.StopTimeoutSeconds, g.DisableAutocreation = "", 0, 0, 0, false
	if err := saveGlobal(ctx, s, g); err != nil {
		t.Fatal(err)
	}
	if g, err = loadGlobal(ctx, s); err != nil {
		t.Fatal(err)
	}
	if g.RestartPolicy != "" || g.WaitToRetire != 0 || g.KeepReleases != 0 || g.StopTimeoutSeconds != 0 || g.DisableAutocreation {
		t.Fatalf("cleared settings came back: %+v", g)
	}
}

// A change of the global settings while another holds them is refused at
// once, naming the holder, and the document is left as it was.
func TestGlobalChangeRefusedWhileHeld(t *testing.T) {
	ctx := context.Background()
	g := newGlobals(&store.Files{Dir: t.TempDir()})
	unlock, err := g.Lock("a global TLS change")
	if err != nil {
		t.Fatal(err)
	}
	err = g.SetConfig(ctx, map[string]string{"K": "v"}, nil)
	if !errors.Is(err, ErrBusy) || err.Error() != "a global TLS change of _global is running; try again when it has finished" {
		t.Fatalf("change while held: %v", err)
	}
	if doc, err := g.Settings(ctx); err != nil || doc.Config["K"] != "" || g.Config()["K"] != "" {
		t.Fatalf("refused change was applied: %v, %v (%v)", doc.Config, g.Config(), err)
	}
	unlock()
	if err := g.SetConfig(ctx, map[string]string{"K": "v"}, nil); err != nil {
		t.Fatal(err)
	}
}

// Every change keeps the copies the rollout reads in step with the saved
// document: a ps:set --global change after a config:set --global leaves
// both current.
func TestGlobalChangesKeepTheCoresCopies(t *testing.T) {
	ctx := context.Background()
	g := newGlobals(&store.Files{Dir: t.TempDir()})
	if err := g.SetConfig(ctx, map[string]string{"K": "v"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := g.Change(ctx, "a test", func(doc *Global) error { doc.StopTimeoutSeconds = 7; return nil }); err != nil {
		t.Fatal(err)
	}
	if g.Config()["K"] != "v" || g.Process().StopTimeoutSeconds != 7 {
		t.Fatalf("config %v, process %+v", g.Config(), g.Process())
	}
}
