package platform_test

// Unit tests of the formation check (scheduler/dockerlocal/formation.go) against the fake engine:
// what it starts again, when it gives up, and what it must never touch.

import (
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

// note returns the formation check's note on app, or "".
func (b *bed) note(app string) string {
	r, err := b.d.Report(b.ctx, app)
	if err != nil || r.FormationCheck == nil {
		return ""
	}
	return r.FormationCheck.Text
}

// starts counts the engine's starts of container id from the from-th
// call on.
func (b *bed) starts(id string, from int) int {
	n := 0
	for _, c := range b.callsOf(id, from) {
		if strings.HasPrefix(c, "Start ") {
			n++
		}
	}
	return n
}

// A container stopped behind Berth's back (docker stop) is started again,
// the same container, and routed once it passes its check.
func TestFormationCheckStartsAStoppedContainerAgain(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	if err := b.engine.Stop(b.ctx, web.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	b.eventually("the check starts it again and routes it", func() bool {
		c, ok := b.engine.Container(web.ID)
		return ok && c.Running && slices.Equal(b.targets("blog"), []string{addr(c)})
	})
	if n := b.note("blog"); !strings.Contains(n, "web.1: starting it again (it was stopped; try 1 of 3)") {
		t.Fatalf("note %q, want what the check did and why", n)
	}
}

// A container that keeps failing is started MaxRevivals times, then left
// down and reported.
func TestFormationCheckGivesUpAfterMaxRevivals(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 2)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	b.engine.BehaviorOf = func(fakeengine.Container) fakeengine.Behavior { return fakeengine.Behavior{Exit: true, ExitCode: 1} }
	from := len(b.engine.Calls())
	b.engine.Crash(web.ID, 1)
	b.waitFor("the check gives up", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && r.FormationCheck.GaveUp
	})
	time.Sleep(100 * time.Millisecond) // several more checks
	if n := b.starts(web.ID, from); n != 2 {
		t.Fatalf("the check started the failing container %d times, want 2 (formation_check_revivals)", n)
	}
	if n := b.note("blog"); !strings.Contains(n, "gave up on web.1") || !strings.Contains(n, "started again 2 time(s) already") {
		t.Fatalf("note %q, want it to say it gave up after 2 tries", n)
	}
}

// A new generation (a deploy) gives every container new tries.
func TestFormationCheckGivesANewGenerationNewTries(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 1)
	b.engine.AddImage("app:v2", fakeengine.Image{Port: 5000})
	b.mustDeploy("blog", "app:v1")
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Exit: c.Image == "berth/blog:v1", ExitCode: 1}
	}
	b.engine.Crash(b.running("blog", "web")[0].ID, 1)
	b.waitFor("the check gives up on v1", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && r.FormationCheck.GaveUp
	})
	b.mustDeploy("blog", "app:v2")
	web := b.running("blog", "web")[0]
	b.engine.Crash(web.ID, 1)
	b.eventually("the check starts v2's container again", func() bool {
		c, ok := b.engine.Container(web.ID)
		return ok && c.Running && len(b.targets("blog")) == 1
	})
}

// A user command pre-empts a formation check that waits for a
// container's check: the check stops the container it started, and only
// that one; the app's running container is not touched and stays routed.
func TestPreemptedFormationCheckStopsOnlyWhatItStarted(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	one, _ := b.containerWith("blog", docker.LabelIndex, "1")
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	b.engine.BehaviorOf = silent // started again, web.2 never listens: its check waits
	from := len(b.engine.Calls())
	b.engine.Crash(two.ID, 1)
	b.eventually("the check starts web.2 again", func() bool {
		c, _ := b.engine.Container(two.ID)
		return c.Running
	})
	if err := b.ps.SetStopTimeout(b.ctx, "blog", 5); err != nil {
		t.Fatalf("a settings change during a formation check: %v", err)
	}
	calls := b.callsOf(two.ID, from)
	if !slices.Contains(calls, "Stop "+two.ID) {
		t.Fatalf("calls on web.2 %v: the pre-empted check did not stop the container it started", calls)
	}
	if calls := b.callsOf(one.ID, from); len(calls) != 0 {
		t.Fatalf("the formation check touched web.1, which ran: %v", calls)
	}
	if c, _ := b.engine.Container(one.ID); !c.Running || !slices.Contains(b.targets("blog"), addr(one)) {
		t.Fatalf("web.1 running %v, targets %v; want it running and routed", c.Running, b.targets("blog"))
	}
	if slices.Contains(b.targets("blog"), addr(two)) {
		t.Fatal("web.2, which never passed its check, is routed")
	}
}

// A formation check that recreates a missing container which then fails
// its check stops that one, and never stops, removes or unroutes a
// container that runs and is routed.
func TestFormationCheckNeverStopsARunningRoutedContainer(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 1)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	one, _ := b.containerWith("blog", docker.LabelIndex, "1")
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	b.engine.BehaviorOf = silent
	from := len(b.engine.Calls())
	unrouted := make(chan struct{}, 1)
	stopWatch := b.watchStops("blog")
	go func() { // web.1 must stay routed throughout
		for {
			select {
			case <-b.ctx.Done():
				return
			case <-time.After(2 * time.Millisecond):
			}
			if !slices.Contains(b.targets("blog"), addr(one)) {
				unrouted <- struct{}{}
				return
			}
		}
	}()
	if err := b.engine.Remove(b.ctx, two.ID); err != nil { // docker rm -f
		t.Fatal(err)
	}
	b.waitFor("the check reports the recreated web.2's failure", func() bool { return strings.Contains(b.note("blog"), "then:") })
	select {
	case <-unrouted:
		t.Fatal("web.1 left the route during the formation check")
	default:
	}
	if calls := b.callsOf(one.ID, from); len(calls) != 0 {
		t.Fatalf("the formation check touched web.1, which ran: %v", calls)
	}
	if _, ok := stopWatch.stopped(one.ID); ok {
		t.Fatal("web.1 was stopped")
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(one)}) {
		t.Fatalf("targets %v, want web.1's only", got)
	}
	again, ok := b.containerWith("blog", docker.LabelIndex, "2")
	if !ok || again.Running {
		t.Fatalf("the recreated web.2 (exists %v, running %v) must be kept, stopped", ok, again.Running)
	}
}

// An app stopped with ps:stop is no drift: the check starts nothing.
func TestFormationCheckLeavesAStoppedAppStopped(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	from := len(b.engine.Calls())
	time.Sleep(100 * time.Millisecond) // several checks
	if n := b.starts(web.ID, from); n != 0 || len(b.running("blog", "web")) != 0 {
		t.Fatalf("the check started the stopped app's container %d times", n)
	}
}

// Berth's start restores what stopped and leaves what runs alone: the
// running container is not stopped, restarted or replaced, and is routed
// before the restored one has passed its check.
func TestStartRestoresWhatStoppedAndLeavesWhatRuns(t *testing.T) {
	b, dir := newRestoreBed(t, 0, 3)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	one, _ := b.containerWith("blog", docker.LabelIndex, "1")
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	b.p.Close()
	b.engine.Crash(two.ID, 0) // exits 0: an on-failure policy leaves it down
	// Started again, web.2 never listens: its check waits, and fails.
	b.engine.BehaviorOf = silent
	from := len(b.engine.Calls())
	b2 := bedOn(t, b.engine, dir, 0, 3)
	b2.eventually("web.1 is routed", func() bool { return slices.Equal(b2.targets("blog"), []string{addr(one)}) })
	b2.eventually("the start restores web.2", func() bool {
		c, _ := b2.engine.Container(two.ID)
		return c.Running
	})
	if got := b2.targets("blog"); !slices.Equal(got, []string{addr(one)}) {
		t.Fatalf("targets %v while web.2 is unchecked, want web.1's only", got)
	}
	b2.waitFor("the restore reports web.2's failure", func() bool { return strings.Contains(b2.note("blog"), "then:") })
	if calls := b2.callsOf(one.ID, from); len(calls) != 0 {
		t.Fatalf("the restore touched web.1, which ran: %v", calls)
	}
	if got := b2.targets("blog"); !slices.Equal(got, []string{addr(one)}) {
		t.Fatalf("targets %v after web.2 failed, want web.1's only", got)
	}
}

// A container Docker's restart policy is restarting is Docker's: the
// formation check neither starts, stops nor removes it, and ps:report
// says it is restarting.
func TestFormationCheckLeavesARestartingContainerToDocker(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	from := len(b.engine.Calls())
	b.engine.CrashLoop(web.ID, 1)
	b.eventually("the crashed container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	time.Sleep(100 * time.Millisecond) // several checks
	if calls := b.callsOf(web.ID, from); len(calls) != 0 {
		t.Fatalf("the formation check acted on a container Docker is restarting: %v", calls)
	}
	if r, _ := b.d.Report(b.ctx, "blog"); !strings.HasPrefix(r.Status, "restarting") {
		t.Fatalf("status %q, want restarting", r.Status)
	}
	if err := b.engine.Restart(web.ID); err != nil {
		t.Fatal(err)
	}
	b.eventually("the restarted container is routed again", func() bool {
		return slices.Equal(b.targets("blog"), []string{addr(web)})
	})
}

// With checks disabled the old container goes before the new one starts
// (downtime, as in Dokku); if the new one then fails, the app runs
// nothing until the formation check brings the current release back.
func TestFormationCheckRevivesAnAppWhoseDowntimeRolloutFailed(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.engine.AddImage("app:v2", fakeengine.Image{Port: 5000})
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	if err := b.ps.SetChecks(b.ctx, "blog", "disable", []string{"web"}); err != nil {
		t.Fatal(err)
	}
	b.engine.RefuseCreate = func(spec docker.RunSpec) error {
		if spec.Image == "berth/blog:v2" {
			return errors.New("invalid mount config")
		}
		return nil
	}
	if _, err := b.deploy("blog", "app:v2"); err == nil {
		t.Fatal("the refused deploy succeeded")
	}
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("with checks disabled, the old container was not removed before the new one was created")
	}
	b.eventually("the check runs v1 again, routed", func() bool {
		web := b.running("blog", "web")
		return len(web) == 1 && web[0].ID != old.ID && web[0].Image == "berth/blog:v1" && slices.Equal(b.targets("blog"), []string{addr(web[0])})
	})
}

// An image without a Procfile runs its command as any type ps:scale
// names; the check watches those types too.
func TestFormationCheckStartsAScaledTypeOfAnImageWithoutAProcfile(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	worker := b.running("blog", "worker")[0]
	if err := b.engine.Stop(b.ctx, worker.ID, time.Second); err != nil { // docker stop
		t.Fatal(err)
	}
	b.waitFor("the check starts the worker again", func() bool {
		c, _ := b.engine.Container(worker.ID)
		return c.Running
	})
}

// An app another scheduler runs (swarm: platform.App.SchedulerRan) has no
// containers here: the check creates none for it.
func TestFormationCheckLeavesAnAppAnotherSchedulerRuns(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	if err := b.p.UpdateApp(b.ctx, "blog", func(a *platform.App) error { a.SchedulerRan = "swarm"; return nil }); err != nil {
		t.Fatal(err)
	}
	if err := b.engine.Remove(b.ctx, web.ID); err != nil {
		t.Fatal(err)
	}
	time.Sleep(300 * time.Millisecond) // fifteen checks
	if cs := b.running("blog", "web"); len(cs) != 0 {
		t.Fatalf("the check made %d container(s) for an app swarm runs", len(cs))
	}
}
