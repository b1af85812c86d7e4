package platform_test

import (
	"slices"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// Releases beyond the app's retention go with their images, after the
// rollout; the current release and the one before it (rollback's target)
// stay, and a rollback to a kept one works.
func TestRetentionRemovesOldReleaseImages(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "ret"); err != nil {
		t.Fatal(err)
	}
	if err := b.disk.SetKeepReleases(b.ctx, "ret", 1, nil); err == nil {
		t.Fatal("keep 1 was taken; it must be refused (the rollback target would go)")
	}
	if err := b.disk.SetKeepReleases(b.ctx, "ret", 2, nil); err != nil {
		t.Fatal(err)
	}
	for _, img := range []string{"app:v1", "app:v2", "app:v1", "app:v2"} {
		if _, err := b.deploy("ret", img); err != nil {
			t.Fatal(err)
		}
	}
	var ours []string
	for _, ref := range b.engine.Images() {
		if len(ref) > 6 && ref[:6] == "berth/" {
			ours = append(ours, ref)
		}
	}
	if want := []string{"berth/ret:v3", "berth/ret:v4"}; !slices.Equal(ours, want) {
		t.Fatalf("release images %v, want %v", ours, want)
	}
	// The images Berth did not make are left.
	for _, ref := range []string{"app:v1", "app:v2"} {
		if !slices.Contains(b.engine.Images(), ref) {
			t.Fatalf("%s was removed; Berth did not make it", ref)
		}
	}
	rels, _, err := b.d.Releases(b.ctx, "ret")
	if err != nil {
		t.Fatal(err)
	}
	if len(rels) != 2 || rels[0].Version != 4 || rels[1].Version != 3 {
		t.Fatalf("releases %+v, want v4 and v3", rels)
	}
	rel, err := b.d.Rollback(b.ctx, "ret", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 5 {
		t.Fatalf("rollback made v%d, want v5", rel.Version)
	}
	rep, err := b.disk.Report(b.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReleaseImages != 2 || len(rep.Apps) != 1 || rep.Apps[0].Releases != 2 || rep.Apps[0].Keep != 2 || rep.Apps[0].KeepFrom != "app" {
		t.Fatalf("disk report %+v", rep)
	}
	if rep.KeepReleases != platform.DefaultKeepReleases {
		t.Fatalf("global keep %d, want the default %d", rep.KeepReleases, platform.DefaultKeepReleases)
	}
}
