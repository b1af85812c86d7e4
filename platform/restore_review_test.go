package platform_test

import (
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
)

// waitFor waits up to 8 s for cond: long enough for a check that waits
// ReadyTimeout (2 s in these tests) and the next one.
func (b *bed) waitFor(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second) // generous: a loaded machine (CI, helpers) runs the check cycles slowly
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func silent(fakeengine.Container) fakeengine.Behavior { return fakeengine.Behavior{Silent: true} }

// A user command does not wait for (nor is refused by) a formation check
// that is waiting for a container's checks: it pre-empts it, and the
// check leaves nothing half-done.
func TestUserCommandPreemptsTheFormationCheck(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	w := b.running("blog", "web")[0]
	// Started again, it never opens its port: its check waits.
	b.engine.BehaviorOf = silent
	b.engine.Crash(w.ID, 1)
	b.eventually("the check starts it again", func() bool { return len(b.running("blog", "web")) == 1 })
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatalf("ps:stop during a formation check: %v", err)
	}
	if n := len(b.running("blog", "web")); n != 0 || len(b.targets("blog")) != 0 {
		t.Fatalf("after ps:stop: %d running, targets %v", n, b.targets("blog"))
	}
}

// A deploy pre-empts it too; the check's unchecked container is stopped
// and never routed.
func TestDeployPreemptsTheFormationCheck(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	w := b.running("blog", "web")[0]
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		if c.Image == "berth/blog:v1" || strings.HasSuffix(c.Image, ":v1") {
			return fakeengine.Behavior{Silent: true}
		}
		return fakeengine.Behavior{}
	}
	b.engine.Crash(w.ID, 1)
	b.eventually("the check starts it again", func() bool { return len(b.running("blog", "web")) == 1 })
	b.engine.AddImage("app:v2", fakeengine.Image{Port: 5000})
	if _, err := b.deploy("blog", "app:v2"); err != nil {
		t.Fatalf("deploy during a formation check: %v", err)
	}
	if n := len(b.targets("blog")); n != 1 {
		t.Fatalf("targets %v, want the new release's one", b.targets("blog"))
	}
}

// A container that fails its checks after the formation check started it
// takes no traffic: it is stopped, and the note says so.
func TestContainerFailingItsChecksGetsNoTraffic(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	w := b.running("blog", "web")[0]
	b.engine.BehaviorOf = silent
	b.engine.Crash(w.ID, 1)
	var text string
	b.waitFor("the check reports the failure", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		if err == nil && r.FormationCheck != nil {
			text = r.FormationCheck.Text
		}
		return strings.Contains(text, "then:")
	})
	if ts := b.targets("blog"); len(ts) != 0 {
		t.Fatalf("a container that failed its checks is routed: %v (note %q)", ts, text)
	}
	if !strings.Contains(text, "takes no traffic") {
		t.Fatalf("note %q does not say the failed container takes no traffic", text)
	}
}

// An image removed behind Berth's back is not a race to retry forever in
// silence: each failed create is a try, and the note says what to do.
func TestMissingImageIsReportedAndCounted(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 2)
	rel := b.mustDeploy("blog", "app:v1")
	if err := b.engine.RemoveImage(b.ctx, rel.Image); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Remove(b.ctx, b.running("blog", "web")[0].ID); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the check gives up", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && r.FormationCheck.GaveUp
	})
	creates := 0
	for _, c := range b.engine.Calls() {
		if strings.HasPrefix(c, "Create blog") {
			creates++
		}
	}
	if creates != 1+2 {
		t.Errorf("%d creates; want the deploy's and 2 tries", creates)
	}
}

// The note of a failed create names the image and ps:rebuild.
func TestMissingImageNoteSaysRebuild(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 5)
	rel := b.mustDeploy("blog", "app:v1")
	if err := b.engine.RemoveImage(b.ctx, rel.Image); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Remove(b.ctx, b.running("blog", "web")[0].ID); err != nil {
		t.Fatal(err)
	}
	want := "image " + rel.Image + " is gone; redeploy with ps:rebuild blog"
	b.waitFor("the note names the missing image", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && strings.Contains(r.FormationCheck.Text, want)
	})
}

// An app destroyed after the check gave up on it, and created again under
// the same name, gets its own tries.
func TestRevivalsDoNotOutliveTheApp(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 1)
	b.mustDeploy("blog", "app:v1")
	b.engine.BehaviorOf = func(fakeengine.Container) fakeengine.Behavior { return fakeengine.Behavior{Exit: true, ExitCode: 1} }
	b.engine.Crash(b.running("blog", "web")[0].ID, 1)
	b.waitFor("the check gives up", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && r.FormationCheck.GaveUp
	})
	if err := b.p.Destroy(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	b.engine.BehaviorOf = nil
	b.mustDeploy("blog", "app:v1")
	if r, _ := b.d.Report(b.ctx, "blog"); r.FormationCheck != nil {
		t.Fatalf("the new blog has the old one's note: %+v", r.FormationCheck)
	}
	first := b.running("blog", "web")[0]
	if err := b.engine.Remove(b.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	b.waitFor("the new blog's container is created again", func() bool {
		w := b.running("blog", "web")
		return len(w) == 1 && w[0].ID != first.ID
	})
}

// With formation_check_revivals 0 the check only reports, and says so.
func TestNoRevivalsOnlyReports(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 0)
	b.mustDeploy("blog", "app:v1")
	b.engine.Crash(b.running("blog", "web")[0].ID, 1)
	b.waitFor("the check reports", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && strings.Contains(r.FormationCheck.Text, "only reports")
	})
	if n := len(b.running("blog", "web")); n != 0 {
		t.Fatalf("%d running; the check must not start it", n)
	}
}

// A start after a crash removes a leftover build container with its
// volumes (a herokuish build's holds the config), and this Berth's
// one-off volumes no container uses.
func TestStartRemovesOneOffsWithTheirVolumes(t *testing.T) {
	b, dir := newRestoreBed(t, 0, 3)
	b.mustDeploy("blog", "app:v1")
	id, err := b.engine.Run(b.ctx, docker.RunSpec{Image: "app:v1", Labels: map[string]string{docker.LabelOneOff: "blog"}})
	if err != nil {
		t.Fatal(err)
	}
	b.p.Close()
	bedOn(t, b.engine, dir, 0, 3)
	calls := b.engine.Calls()
	if !slices.Contains(calls, "RemoveOneOff "+id) || !slices.Contains(calls, "RemoveOrphanOneOffVolumes") {
		t.Fatalf("calls %v; want the build container removed with RemoveOneOff and orphan volumes removed", calls)
	}
}
