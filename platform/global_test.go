package platform

import (
	"context"
	"errors"
	"testing"
	"time"

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

// pausedGet is a store whose next Get of the global document, once
// armed, reads it and then waits for release before it returns.
type pausedGet struct {
	store.Store
	armed   chan struct{} // closed: pause the next Get
	read    chan struct{} // closed when the paused Get has read
	release chan struct{}
}

func (s *pausedGet) Get(ctx context.Context, key string) ([]byte, error) {
	doc, err := s.Store.Get(ctx, key)
	select {
	case <-s.armed:
		s.armed = make(chan struct{}) // only once
		close(s.read)
		<-s.release
	default:
	}
	return doc, err
}

// A Reload that read the document before a change saved it cannot set
// its older copy over the change's: the rollouts would use stale global
// config until the next change.
func TestReloadDoesNotUndoAChangeSavedMeanwhile(t *testing.T) {
	ctx := context.Background()
	s := &pausedGet{Store: &store.Files{Dir: t.TempDir()}, armed: make(chan struct{}), read: make(chan struct{}), release: make(chan struct{})}
	g := newGlobals(s)
	close(s.armed)
	reloaded := make(chan error)
	go func() { _, err := g.Reload(ctx); reloaded <- err }()
	<-s.read // Reload has read the document (no config yet)
	changed := make(chan error)
	go func() { changed <- g.SetConfig(ctx, map[string]string{"A": "1"}, nil) }()
	// The change either waits for the Reload (right) or saves and sets
	// its copy now, before the Reload sets its older one (the fault).
	select {
	case err := <-changed:
		if err != nil {
			t.Fatal(err)
		}
		changed = nil
	case <-time.After(200 * time.Millisecond):
	}
	close(s.release)
	if err := <-reloaded; err != nil {
		t.Fatal(err)
	}
	if changed != nil {
		if err := <-changed; err != nil {
			t.Fatal(err)
		}
	}
	if got := g.Config()["A"]; got != "1" {
		t.Fatalf("after a change saved during a Reload the core's copy of A is %q, want 1", got)
	}
}
