package platform_test

// Unit tests of what a failed change leaves (config, rollback, deploy)
// and of ps:start's two kinds of failure, against the fake engine: the
// running release keeps serving, and the record says what runs.

import (
	"io"
	"maps"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
)

// A config change whose rollout fails keeps the old config and container,
// and leaves no release or image of it.
func TestConfigChangeWhoseRolloutFailsKeepsTheOldConfig(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.SetConfig(b.ctx, "blog", map[string]string{"A": "1"}, nil, false, io.Discard); err != nil {
		t.Fatal(err)
	}
	old := b.running("blog", "web")[0]
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Exit: slices.Contains(c.Env, "A=2"), ExitCode: 1}
	}
	err := b.d.SetConfig(b.ctx, "blog", map[string]string{"A": "2"}, nil, false, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "release v3 of blog did not start") {
		t.Fatalf("config change error %v, want the release that did not start", err)
	}
	if cfg, _ := b.d.Config(b.ctx, "blog"); !maps.Equal(cfg, map[string]string{"A": "1"}) {
		t.Fatalf("config %v after the failed change, want A=1", cfg)
	}
	a, _ := b.p.App(b.ctx, "blog")
	if a.Current != 2 || len(a.Releases) != 2 {
		t.Fatalf("current v%d of %d releases, want v2 of 2", a.Current, len(a.Releases))
	}
	if slices.Contains(b.engine.Images(), "berth/blog:v3") {
		t.Fatal("the failed release's image tag was left")
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(old)}) {
		t.Fatalf("targets %v, want the running container's [%s]", got, addr(old))
	}
}

// A rollback whose container fails keeps what runs, and the config.
func TestRollbackWhoseRolloutFailsKeepsTheCurrentRelease(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	b.mustDeploy("blog", "app:v2")
	cur := b.running("blog", "web")[0]
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Exit: c.Image == "berth/blog:v3", ExitCode: 1}
	}
	if _, err := b.d.Rollback(b.ctx, "blog", 1, io.Discard); err == nil || !strings.Contains(err.Error(), "rollback of blog to v1 did not start") {
		t.Fatalf("rollback error %v", err)
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Current != 2 {
		t.Fatalf("current v%d after the failed rollback, want v2", a.Current)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(cur)}) {
		t.Fatalf("targets %v, want v2's container [%s]", got, addr(cur))
	}
}

// A failed deploy is recorded as the last attempt, is not a release, and
// a later deploy numbers past it without reusing a release's number.
func TestFailedDeployIsRecordedButIsNotARelease(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Exit: c.Image == "berth/blog:v2", ExitCode: 1}
	}
	if _, err := b.deploy("blog", "app:v2"); err == nil {
		t.Fatal("the failing deploy succeeded")
	}
	a, _ := b.p.App(b.ctx, "blog")
	if a.Current != 1 || len(a.Releases) != 1 {
		t.Fatalf("current v%d with %d releases after a failed deploy, want v1 alone", a.Current, len(a.Releases))
	}
	if d := a.LastDeploy; d == nil || d.Status != "failed" || !strings.Contains(d.Error, "exited with code 1") {
		t.Fatalf("last deploy %+v, want it failed with the reason", d)
	}
	b.engine.BehaviorOf = nil
	rel := b.mustDeploy("blog", "app:v2")
	if rel.Version <= 1 {
		t.Fatalf("the next deploy is v%d, want past v1", rel.Version)
	}
}

// ps:start of a container that runs but never passes its check stops it
// again: routed, it would take traffic it cannot serve.
func TestStartAppStopsAContainerThatRunsButFailsItsCheck(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	b.engine.BehaviorOf = silent
	_, err := b.d.StartApp(b.ctx, "blog", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "was stopped and takes no traffic") {
		t.Fatalf("ps:start error %v, want it to say the failing container was stopped", err)
	}
	if c, ok := b.engine.Container(web.ID); !ok || c.Running {
		t.Fatalf("web.1 exists %v, running %v; want it kept, stopped", ok, c.Running)
	}
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v, want none", got)
	}
}

// ps:start of a container that crashes leaves it to Docker's restart
// policy, and says so.
func TestStartAppLeavesACrashingContainerToItsRestartPolicy(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	b.engine.BehaviorOf = func(fakeengine.Container) fakeengine.Behavior { return fakeengine.Behavior{Exit: true, ExitCode: 3} }
	from := len(b.engine.Calls())
	_, err := b.d.StartApp(b.ctx, "blog", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "left to its restart policy") {
		t.Fatalf("ps:start error %v, want it to say the crash is the restart policy's", err)
	}
	if slices.Contains(b.callsOf(web.ID, from), "Stop "+web.ID) {
		t.Fatal("ps:start stopped a crashed container instead of leaving it to its restart policy")
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Stopped {
		t.Fatal("the app is still recorded stopped after ps:start")
	}
}

// ps:start of an app that runs its formation does nothing.
func TestStartAppOfARunningAppDoesNothing(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	from := len(b.engine.Calls())
	started, err := b.d.StartApp(b.ctx, "blog", io.Discard)
	if err != nil || started {
		t.Fatalf("ps:start of a running app: started %v, %v; want nothing to do", started, err)
	}
	if calls := b.engine.Calls()[from:]; len(calls) != 0 {
		t.Fatalf("ps:start of a running app called the engine: %v", calls)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(web)}) {
		t.Fatalf("targets %v, want [%s]", got, addr(web))
	}
}

// ps:stop of a scaled app stops every type's containers and keeps them.
func TestStopAppStopsEveryTypeAndKeepsTheContainers(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2, "worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	cs := b.containersOf("blog")
	if len(cs) != 3 {
		t.Fatalf("%d containers after ps:stop, want the 3 kept", len(cs))
	}
	for _, c := range cs {
		if c.Running {
			t.Errorf("%s (%s) still runs", c.Name, c.Labels[docker.LabelProcess])
		}
	}
	if r, _ := b.d.Report(b.ctx, "blog"); r.Status != "stopped" {
		t.Fatalf("status %q, want stopped", r.Status)
	}
}

// "Fix and deploy": a deploy replaces a container Docker is restarting in
// a crash loop, and the new one is routed.
func TestDeployReplacesACrashLoopingContainer(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	b.engine.CrashLoop(old.ID, 1)
	b.eventually("the crashing container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	b.mustDeploy("blog", "app:v2")
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("the crash-looping container is still there")
	}
	web := b.running("blog", "web")
	if len(web) != 1 || web[0].Image != "berth/blog:v2" || !slices.Equal(b.targets("blog"), []string{addr(web[0])}) {
		t.Fatalf("running %v, targets %v; want v2's container routed", web, b.targets("blog"))
	}
}

// A deploy runs a stopped app again (ps:stop lasts until the next
// rollout), and its stopped containers go.
func TestDeployOfAStoppedAppRunsItAgain(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	b.mustDeploy("blog", "app:v2")
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("the stopped container of v1 is still there")
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Stopped {
		t.Fatal("the app is still recorded stopped after a deploy")
	}
	if web := b.running("blog", "web"); len(web) != 1 || !slices.Equal(b.targets("blog"), []string{addr(web[0])}) {
		t.Fatalf("running %v, targets %v; want v2's container routed", web, b.targets("blog"))
	}
}

// apps:destroy pre-empts a formation check waiting for a container's
// check, and nothing of the app is left: no container, no route.
func TestDestroyPreemptsTheFormationCheck(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 3)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	b.engine.BehaviorOf = silent
	b.engine.Crash(web.ID, 1)
	b.eventually("the check starts it again", func() bool {
		c, _ := b.engine.Container(web.ID)
		return c.Running
	})
	if err := b.p.Destroy(b.ctx, "blog"); err != nil {
		t.Fatalf("destroy during a formation check: %v", err)
	}
	time.Sleep(100 * time.Millisecond) // several more checks
	if cs := b.containersOf("blog"); len(cs) != 0 {
		t.Fatalf("containers %v of the destroyed app remain", cs)
	}
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("the destroyed app is still routed")
	}
}

// config:import --replace: the config becomes the set given, the removed
// keys read under the lock and returned; the global one too.
func TestReplaceConfig(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.SetConfig(b.ctx, "blog", map[string]string{"A": "1", "B": "1", "Z": "1"}, nil, true, io.Discard); err != nil {
		t.Fatal(err)
	}
	gone, err := b.d.ReplaceConfig(b.ctx, "blog", map[string]string{"B": "2", "C": "3"}, false, io.Discard)
	if err != nil || !slices.Equal(gone, []string{"A", "Z"}) {
		t.Fatalf("removed %v, %v; want [A Z]", gone, err)
	}
	if cfg, _ := b.d.Config(b.ctx, "blog"); !maps.Equal(cfg, map[string]string{"B": "2", "C": "3"}) {
		t.Fatalf("config %v", cfg)
	}
	if _, err := b.d.ReplaceConfig(b.ctx, "blog", map[string]string{"1BAD": "x"}, false, io.Discard); err == nil {
		t.Fatal("a bad name was taken")
	}
	if cfg, _ := b.d.Config(b.ctx, "blog"); !maps.Equal(cfg, map[string]string{"B": "2", "C": "3"}) {
		t.Fatalf("config %v after a refused replace", cfg)
	}
	if err := b.p.Globals().SetConfig(b.ctx, map[string]string{"G": "1", "H": "1"}, nil); err != nil {
		t.Fatal(err)
	}
	gone, err = b.p.Globals().ReplaceConfig(b.ctx, map[string]string{"H": "2"})
	if err != nil || !slices.Equal(gone, []string{"G"}) || !maps.Equal(b.p.Globals().Config(), map[string]string{"H": "2"}) {
		t.Fatalf("global: removed %v, %v; config %v", gone, err, b.p.Globals().Config())
	}
}
