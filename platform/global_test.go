package platform

import (
	"context"
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
