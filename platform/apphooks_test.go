package platform

import (
	"context"
	"errors"
	"slices"
	"testing"
)

// A pre- or setup hook's error stops the hooks after it (and the change);
// post- hooks all run, in the order they were registered.
func TestAppHooksRunInOrderAndPreHooksStopAtTheFirstError(t *testing.T) {
	var h Hooks
	var ran []string
	stop := errors.New("stop")
	h.destroying = append(h.destroying,
		func(context.Context, string) error { ran = append(ran, "pre1"); return nil },
		func(context.Context, string) error { ran = append(ran, "pre2"); return stop },
		func(context.Context, string) error { ran = append(ran, "pre3"); return nil })
	h.destroyed = append(h.destroyed,
		func(_ context.Context, app string) { ran = append(ran, "post1 "+app) },
		func(_ context.Context, app string) { ran = append(ran, "post2 "+app) })
	ctx := context.Background()
	if err := h.runDestroying(ctx, "web"); !errors.Is(err, stop) {
		t.Fatalf("runDestroying = %v, want the second hook's error", err)
	}
	h.runDestroyed(ctx, "web")
	if want := []string{"pre1", "pre2", "post1 web", "post2 web"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}

// A rename runs the rename setup hooks, a clone the clone setup hooks.
func TestAppCopySetupRunsTheHooksOfItsKind(t *testing.T) {
	var h Hooks
	var ran []string
	h.renameSetup = append(h.renameSetup, func(_ context.Context, from, to string) error { ran = append(ran, "rename "+from+"→"+to); return nil })
	h.cloneSetup = append(h.cloneSetup, func(_ context.Context, from, to string) error { ran = append(ran, "clone "+from+"→"+to); return nil })
	ctx := context.Background()
	if err := h.runCopySetup(ctx, "a", "b", true); err != nil {
		t.Fatal(err)
	}
	if err := h.runCopySetup(ctx, "a", "c", false); err != nil {
		t.Fatal(err)
	}
	if want := []string{"rename a→b", "clone a→c"}; !slices.Equal(ran, want) {
		t.Fatalf("ran %v, want %v", ran, want)
	}
}
