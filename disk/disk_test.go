package disk

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

func image(app string, v int) string { return fmt.Sprintf("berth/%s:v%d", app, v) }

// newDisk returns a disk on a fake core whose app name has releases
// v1..vn (the last current), each image in a fake engine.
func newDisk(t *testing.T, name string, n int) (*Disk, *fakeApps, *fakeengine.Engine) {
	t.Helper()
	e := fakeengine.New()
	t.Cleanup(e.Close)
	f := newFakeApps()
	if name != "" {
		f.add(name, n)
		for v := 1; v <= n; v++ {
			e.AddImage(image(name, v), fakeengine.Image{})
		}
	}
	return New(Config{Apps: f, Globals: f, Hooks: f, Engine: e, Builds: f}), f, e
}

func removed(e *fakeengine.Engine) []string {
	var refs []string
	for _, c := range e.Calls() {
		if ref, ok := strings.CutPrefix(c, "RemoveImage "); ok {
			refs = append(refs, ref)
		}
	}
	return refs
}

// After a rollout, the releases beyond the app's retention go with their
// images; the newest ones stay.
func TestRolloutRemovesReleasesBeyondRetention(t *testing.T) {
	_, f, e := newDisk(t, "blog", 5)
	f.apps["blog"].KeepReleases = 3
	var log strings.Builder
	if errs := f.rollOut("blog", &log); errs != nil {
		t.Fatal(errs)
	}
	if got := versions(f.apps["blog"].Releases); !slices.Equal(got, []int{3, 4, 5}) {
		t.Fatalf("releases %v, want v3..v5", got)
	}
	if got := removed(e); !slices.Equal(got, []string{image("blog", 1), image("blog", 2)}) {
		t.Fatalf("removed %v, want v1 and v2's images", got)
	}
	if !strings.Contains(log.String(), "Removed 2 old release(s) of blog with their images (v1, v2)") {
		t.Fatalf("the rollout's output says %q", log.String())
	}
}

// The record is saved before an image goes: a release the record still
// names always has its image (rollback's target).
func TestRecordIsSavedBeforeTheImagesGo(t *testing.T) {
	_, f, e := newDisk(t, "blog", 4)
	f.apps["blog"].KeepReleases = 2
	f.onSave = func() {
		if got := removed(e); len(got) > 0 {
			t.Errorf("images %v removed before the record was saved", got)
		}
	}
	f.rollOut("blog", nil)
	if len(f.saved["blog"]) != 1 || len(removed(e)) != 2 {
		t.Fatalf("saves %v, removed %v", f.saved["blog"], removed(e))
	}
}

// Within its retention an app is left as it is: no save, no removal.
func TestRolloutWithinRetentionChangesNothing(t *testing.T) {
	_, f, e := newDisk(t, "blog", 3)
	f.rollOut("blog", nil)
	if len(f.saved["blog"]) != 0 || len(removed(e)) != 0 {
		t.Fatalf("saves %v, removed %v; want none", f.saved["blog"], removed(e))
	}
}

// The current release stays even when it is older than the newest kept
// ones (after a rollback's rollout failed, say).
func TestPruneKeepsTheCurrentRelease(t *testing.T) {
	_, f, _ := newDisk(t, "blog", 5)
	f.apps["blog"].KeepReleases = 2
	f.apps["blog"].Current = 1
	f.rollOut("blog", nil)
	if got := versions(f.apps["blog"].Releases); !slices.Equal(got, []int{1, 4, 5}) {
		t.Fatalf("releases %v, want the current v1 and the newest two", got)
	}
}

// An image that a kept release names too is not removed with the
// release that goes.
func TestPruneLeavesAnImageAKeptReleaseNames(t *testing.T) {
	_, f, e := newDisk(t, "blog", 3)
	f.apps["blog"].KeepReleases = 2
	f.apps["blog"].Releases[0].Image = image("blog", 3)
	f.rollOut("blog", nil)
	if got := removed(e); len(got) != 0 {
		t.Fatalf("removed %v; v3 still names that image", got)
	}
}

// The global retention applies to apps without their own, and the
// Caddyfile's keep_releases to apps when neither is set.
func TestRetentionComesFromTheGlobalSettingThenTheCaddyfile(t *testing.T) {
	_, f, _ := newDisk(t, "blog", 6)
	f.limits.KeepReleases = 5
	f.rollOut("blog", nil)
	if got := len(f.apps["blog"].Releases); got != 5 {
		t.Fatalf("%d releases kept, want keep_releases 5", got)
	}
	f.global.KeepReleases = 2
	f.rollOut("blog", nil)
	if got := len(f.apps["blog"].Releases); got != 2 {
		t.Fatalf("%d releases kept, want the global 2", got)
	}
}

// keep below 2 is refused: the rollback target would lose its image.
func TestSetKeepReleasesRefusesLessThanTwo(t *testing.T) {
	d, f, _ := newDisk(t, "blog", 4)
	if err := d.SetKeepReleases(context.Background(), "blog", 1, nil); err == nil {
		t.Fatal("keep 1 was taken")
	}
	if f.apps["blog"].KeepReleases != 0 || len(f.saved["blog"]) != 0 {
		t.Fatal("a refused keep changed the record")
	}
}

// releases:set APP keep N prunes the app at once.
func TestSetKeepReleasesPrunesAtOnce(t *testing.T) {
	d, f, e := newDisk(t, "blog", 4)
	if err := d.SetKeepReleases(context.Background(), "blog", 2, nil); err != nil {
		t.Fatal(err)
	}
	if a := f.apps["blog"]; a.KeepReleases != 2 || !slices.Equal(versions(a.Releases), []int{3, 4}) {
		t.Fatalf("keep %d releases %v", a.KeepReleases, versions(a.Releases))
	}
	if len(removed(e)) != 2 {
		t.Fatalf("removed %v", removed(e))
	}
}

// releases:set --global keep N is kept in the global document; it prunes
// nothing until the next rollout or cleanup.
func TestSetKeepReleasesGlobalOnlySetsTheDocument(t *testing.T) {
	d, f, e := newDisk(t, "blog", 4)
	if err := d.SetKeepReleases(context.Background(), "", 2, nil); err != nil {
		t.Fatal(err)
	}
	if f.global.KeepReleases != 2 || len(removed(e)) != 0 {
		t.Fatalf("global %d removed %v", f.global.KeepReleases, removed(e))
	}
}

// cleanup of every app skips a busy one and cleans the others, then
// prunes the build cache to its bound.
func TestCleanupOfAllSkipsABusyApp(t *testing.T) {
	d, f, e := newDisk(t, "blog", 4)
	f.add("shop", 4)
	f.global.KeepReleases = 2
	f.busy["blog"] = true
	var log strings.Builder
	if err := d.Cleanup(context.Background(), "", &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "blog skipped: "+errBusy.Error()) {
		t.Fatalf("output %q does not say blog was skipped", log.String())
	}
	if len(f.apps["blog"].Releases) != 4 || len(f.apps["shop"].Releases) != 2 {
		t.Fatalf("blog has %d releases, shop %d; want 4 and 2", len(f.apps["blog"].Releases), len(f.apps["shop"].Releases))
	}
	if !slices.Contains(e.Calls(), fmt.Sprintf("PruneBuildCache %d", f.limits.BuildCacheMax)) {
		t.Fatalf("calls %v: no build cache prune", e.Calls())
	}
}

// cleanup of one app that is busy is an error, not a skip.
func TestCleanupOfABusyAppFails(t *testing.T) {
	d, f, _ := newDisk(t, "blog", 4)
	f.busy["blog"] = true
	if err := d.Cleanup(context.Background(), "blog", nil); !errors.Is(err, errBusy) {
		t.Fatalf("err = %v, want the busy error", err)
	}
}

// After a build the build cache is pruned to build_cache_max; with
// build_cache_max -1 it is not pruned.
func TestBuildPrunesTheBuildCacheToItsBound(t *testing.T) {
	_, f, e := newDisk(t, "", 0)
	for _, h := range f.built {
		h(context.Background())
	}
	if want := fmt.Sprintf("PruneBuildCache %d", f.limits.BuildCacheMax); !slices.Contains(e.Calls(), want) {
		t.Fatalf("calls %v, want %s", e.Calls(), want)
	}
	f.limits.BuildCacheMax = -1
	before := len(e.Calls())
	for _, h := range f.built {
		h(context.Background())
	}
	if len(e.Calls()) != before {
		t.Fatalf("calls %v after a build with no bound", e.Calls()[before:])
	}
}

// disk:report counts an image that several releases name once, and says
// where each retention comes from.
func TestReportCountsAnImageOnce(t *testing.T) {
	d, f, _ := newDisk(t, "blog", 3)
	f.apps["blog"].Releases[0].Image = image("blog", 2)
	f.apps["blog"].KeepReleases = 3
	f.global.KeepReleases = 4
	rep, err := d.Report(context.Background(), "")
	if err != nil {
		t.Fatal(err)
	}
	if rep.ReleaseImages != 2 || rep.ReleaseBytes != 2<<20 || rep.KeepReleases != 4 || rep.KeepReleasesFrom != "global" {
		t.Fatalf("report %+v", rep)
	}
	if len(rep.Apps) != 1 || rep.Apps[0].Releases != 3 || rep.Apps[0].Images != 2 || rep.Apps[0].Keep != 3 || rep.Apps[0].KeepFrom != "app" {
		t.Fatalf("app report %+v", rep.Apps)
	}
}

// disk:report of an app that does not exist is the core's error.
func TestReportOfAMissingAppFails(t *testing.T) {
	d, _, _ := newDisk(t, "", 0)
	if _, err := d.Report(context.Background(), "ghost"); !errors.Is(err, platform.ErrAppNotFound) {
		t.Fatalf("err = %v", err)
	}
}
