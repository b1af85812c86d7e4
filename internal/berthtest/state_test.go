package berthtest

import (
	"context"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
)

// A seeded record is one Berth's own reader returns as it was written.
func TestSeedAppsWritesWhatThePlatformReads(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	now := time.Now().UTC().Truncate(time.Second)
	want := &platform.App{
		Name: "seeded", CreatedAt: now, DeployBranch: "main",
		Current: 1, Generation: 1, Formation: map[string]int{"web": 1},
		Releases: []platform.Release{{Version: 1, Image: "img", ImageID: "sha256:1", Port: 5000, CreatedAt: now}},
	}
	if err := SeedApps(ctx, dir, want, &platform.App{Name: "registered", CreatedAt: now}); err != nil {
		t.Fatal(err)
	}
	p := platform.New(platform.Config{Store: Store(dir)})
	got, err := p.App(ctx, "seeded")
	if err != nil {
		t.Fatal(err)
	}
	if got.Current != 1 || got.Generation != 1 || got.Formation["web"] != 1 || len(got.Releases) != 1 ||
		got.Releases[0].ImageID != "sha256:1" || got.Releases[0].Port != 5000 || !got.CreatedAt.Equal(now) {
		t.Errorf("read back %+v", got)
	}
	if ok, err := p.Exists(ctx, "registered"); err != nil || !ok {
		t.Errorf("registered app: exists %v, %v", ok, err)
	}
	if err := SeedApps(ctx, dir, &platform.App{Name: "../escape"}); err == nil {
		t.Error("seeded an app with an invalid name")
	}
}
