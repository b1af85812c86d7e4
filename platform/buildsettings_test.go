package platform

import (
	"context"
	"testing"

	"github.com/berth-paas/berth/store"
)

// apps:set --global disable-autocreation: off by default, on once set,
// and off again once cleared. (The other global settings of that round
// are tested in their packages: buildconfig, appspec, pssettings.)
func TestGlobalSettingsOfThisRound(t *testing.T) {
	ctx := context.Background()
	g := newGlobals(&store.Files{Dir: t.TempDir()})
	off, err := g.AutocreationDisabled(ctx)
	if off || err != nil {
		t.Fatalf("autocreation off by default: %v, %v", off, err)
	}
	if err := g.SetDisableAutocreation(ctx, true); err != nil {
		t.Fatal(err)
	}
	if off, _ = g.AutocreationDisabled(ctx); !off {
		t.Error("autocreation not off once disabled")
	}
	g.SetDisableAutocreation(ctx, false)
	if off, _ = g.AutocreationDisabled(ctx); off {
		t.Error("autocreation still off once cleared")
	}
}
