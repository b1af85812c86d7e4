package platform_test

// Unit tests of the rollout (scheduler/dockerlocal/rollout.go, through the platform) against the fake engine: what a
// deploy or ps:restart does to the old and new containers and to the
// route when a step fails, and in which order it retires the old ones.

import (
	"context"
	"errors"
	"io"
	"net/http"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
)

// addr is the address a web container of the beds' apps is routed at.
func addr(c fakeengine.Container) string { return c.IP.String() + ":5000" }

// settle returns once the route controller has handled every container
// event so far: it handles them in order, and a marker app's container
// leaving its route and coming back is the last of them.
func (b *bed) settle() {
	b.t.Helper()
	if len(b.running("marker", "web")) == 0 {
		b.mustDeploy("marker", "app:v1")
	}
	m := b.running("marker", "web")[0]
	b.engine.Crash(m.ID, 1)
	b.eventually("the marker leaves its route", func() bool { return len(b.targets("marker")) == 0 })
	if err := b.engine.Restart(m.ID); err != nil {
		b.t.Fatal(err)
	}
	b.eventually("the marker is routed again", func() bool { return len(b.targets("marker")) == 1 })
}

// containerWith returns the app's container (running or not) labelled
// key=value, and whether there is one.
func (b *bed) containerWith(app, key, value string) (fakeengine.Container, bool) {
	for _, c := range b.containersOf(app) {
		if c.Labels[key] == value {
			return c, true
		}
	}
	return fakeengine.Container{}, false
}

// callsOf returns the engine's calls whose argument is id, from the
// from-th call on.
func (b *bed) callsOf(id string, from int) []string {
	var out []string
	for _, c := range b.engine.Calls()[from:] {
		if strings.HasSuffix(c, " "+id) {
			out = append(out, c)
		}
	}
	return out
}

// callIndex is the position of the first call with prefix, or -1.
func callIndex(calls []string, prefix string) int {
	return slices.IndexFunc(calls, func(c string) bool { return strings.HasPrefix(c, prefix) })
}

// stopWatch records, for each container the engine is told to stop,
// whether its address was routed at that moment.
type stopWatch struct {
	mu     sync.Mutex
	routed map[string]bool // by container ID
}

func (b *bed) watchStops(app string) *stopWatch {
	w := &stopWatch{routed: map[string]bool{}}
	b.engine.BeforeStop = func(c fakeengine.Container) {
		r, _ := b.table.App(app)
		w.mu.Lock()
		defer w.mu.Unlock()
		w.routed[c.ID] = c.IP.IsValid() && slices.Contains(r.Targets, addr(c))
	}
	return w
}

func (w *stopWatch) stopped(id string) (routed, ok bool) {
	w.mu.Lock()
	defer w.mu.Unlock()
	routed, ok = w.routed[id]
	return routed, ok
}

// The field failure: a ps:restart whose container Docker refused to
// create must leave the app's only container running, routed and named as
// it was, also once every event is handled and a reconcile has run.
func TestRestartWhoseCreateIsRefusedKeepsTheOldContainerServing(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	from := len(b.engine.Calls())
	b.engine.RefuseCreate = func(spec docker.RunSpec) error {
		if spec.Labels[docker.LabelApp] != "blog" {
			return nil
		}
		return errors.New("invalid mount config")
	}
	err := b.d.Restart(b.ctx, "blog", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "invalid mount config") {
		t.Fatalf("restart error %v, want Docker's refusal", err)
	}
	b.settle()
	if err := b.p.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if c, ok := b.engine.Container(old.ID); !ok || !c.Running || c.Name != "blog.web.1" {
		t.Fatalf("the old container after the failed restart: %+v (exists %v), want it running as blog.web.1", c, ok)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(old)}) {
		t.Fatalf("targets %v after the failed restart, want the old container's [%s]", got, addr(old))
	}
	if calls := b.callsOf(old.ID, from); len(calls) != 0 {
		t.Fatalf("the failed restart touched the old container: %v", calls)
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Generation != 1 || a.Current != 1 {
		t.Fatalf("generation %d, release v%d after the failed restart; want 1 and v1", a.Generation, a.Current)
	}
}

// The same when Docker creates the new container but refuses to start
// it: the new one is removed (its destroy event is no reason to touch the
// route), the old one serves.
func TestRestartWhoseNewContainerCannotStartKeepsTheOldContainerServing(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		if c.Labels[docker.LabelGeneration] == "2" {
			return fakeengine.Behavior{StartError: "exec: \"web\": executable file not found in $PATH"}
		}
		return fakeengine.Behavior{}
	}
	err := b.d.Restart(b.ctx, "blog", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "executable file not found") {
		t.Fatalf("restart error %v, want Docker's refusal", err)
	}
	b.settle()
	if _, ok := b.containerWith("blog", docker.LabelGeneration, "2"); ok {
		t.Fatal("the container that could not start was left behind")
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(old)}) {
		t.Fatalf("targets %v, want the old container's [%s]", got, addr(old))
	}
}

// A new container that fails its app.json check is removed; the old one
// keeps serving and the release does not change.
func TestRolloutWhoseCheckFailsRemovesTheNewContainerAndKeepsTheOld(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{tagBuilder{name: "toml", file: "app.toml", image: "app:v1", engine: e, ran: &ran}}
	})
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		if c.Labels[docker.LabelRelease] != "2" {
			return fakeengine.Behavior{}
		}
		return fakeengine.Behavior{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			http.Error(w, "not ready", http.StatusInternalServerError)
		})}
	}
	appJSON := `{"healthchecks": {"web": [{"type": "startup", "name": "health", "path": "/health", "attempts": 1}]}}`
	src := builder.Files{"app.toml": "", "app.json": appJSON}
	if _, log, err := b.deploySource("blog", src); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, log)
	}
	old := b.running("blog", "web")[0]
	_, log, err := b.deploySource("blog", src)
	if err == nil || !strings.Contains(err.Error(), `check "health" failed after 1 attempts`) || !strings.Contains(err.Error(), "answered 500") {
		t.Fatalf("deploy v2 error %v, want the failed check and its answer\n%s", err, log)
	}
	if _, ok := b.containerWith("blog", docker.LabelRelease, "2"); ok {
		t.Fatal("the container that failed its check was left behind")
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(old)}) {
		t.Fatalf("targets %v, want the old container's [%s]", got, addr(old))
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Current != 1 {
		t.Fatalf("current release v%d after the failed check, want v1", a.Current)
	}
}

// One failing container of several fails the rollout: all the new ones
// go, all the old ones serve.
func TestRolloutWhereOneOfTwoNewContainersFailsRemovesBoth(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	before := b.targets("blog")
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		failing := c.Image == "berth/blog:v2" && c.Labels[docker.LabelIndex] == "2"
		return fakeengine.Behavior{Exit: failing, ExitCode: 4}
	}
	_, err := b.deploy("blog", "app:v2")
	if err == nil || !strings.Contains(err.Error(), "web.2: the container exited with code 4") {
		t.Fatalf("deploy error %v, want web.2's exit", err)
	}
	for _, c := range b.engine.Containers() {
		if c.Image == "berth/blog:v2" {
			t.Fatalf("the failed rollout left %s behind", c.Name)
		}
	}
	if got := b.targets("blog"); len(got) != 2 || !slices.Equal(got, before) {
		t.Fatalf("targets %v, want the two old containers %v", got, before)
	}
}

// A rollout cut off while its new container is being checked (the pusher
// hung up) removes the new container; the old one serves.
func TestCutOffRolloutRemovesTheNewContainerAndKeepsTheOld(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: c.Image == "berth/blog:v2"} // its check waits
	}
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	deployed := make(chan error, 1)
	go func() {
		_, err := b.d.Deploy(ctx, deploy.DeployRequest{App: "blog", Image: "app:v2", Reason: "test", Log: io.Discard})
		deployed <- err
	}()
	b.eventually("the new container runs", func() bool {
		_, ok := b.containerWith("blog", docker.LabelRelease, "2")
		return ok
	})
	cancel()
	if err := <-deployed; err == nil {
		t.Fatal("the cut-off deploy succeeded")
	}
	if _, ok := b.containerWith("blog", docker.LabelRelease, "2"); ok {
		t.Fatal("the cut-off rollout left its container behind")
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(old)}) {
		t.Fatalf("targets %v, want the old container's [%s]", got, addr(old))
	}
}

// The old container leaves the route before it is told to stop: its
// in-flight requests finish, no new one reaches a stopping process.
func TestRetiredContainerIsOutOfTheRouteBeforeItStops(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	w := b.watchStops("blog")
	b.mustDeploy("blog", "app:v2")
	routed, ok := w.stopped(old.ID)
	if !ok {
		t.Fatal("the old container was never stopped")
	}
	if routed {
		t.Fatal("the old container was still routed when it was told to stop")
	}
}

// With checks disabled for a type (checks:disable), its old containers
// stop before the new ones are created: downtime, as in Dokku.
func TestChecksDisabledTypeStopsTheOldContainerFirst(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	if err := b.ps.SetChecks(b.ctx, "blog", "disable", []string{"web"}); err != nil {
		t.Fatal(err)
	}
	b.mustDeploy("blog", "app:v2")
	calls := b.engine.Calls()
	// The first deploy's create comes before; v2's must come after the
	// old container's stop.
	stop := callIndex(calls, "Stop "+old.ID)
	if stop < 0 || callIndex(calls[stop:], "Create blog.web.1.") < 0 {
		t.Fatalf("calls %v: want the old container stopped, then the new one created", calls)
	}
	if web := b.running("blog", "web"); len(web) != 1 || web[0].Image != "berth/blog:v2" {
		t.Fatalf("running %v, want v2's container", web)
	}
}

// With checks skipped (checks:skip), the old container serves until the
// new one runs, and the new one takes traffic without being checked.
func TestChecksSkippedTypeReplacesWithoutDowntimeOrChecks(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	if err := b.ps.SetChecks(b.ctx, "blog", "skip", []string{"web"}); err != nil {
		t.Fatal(err)
	}
	// It never listens: a check would fail it.
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: c.Image == "berth/blog:v2"}
	}
	b.mustDeploy("blog", "app:v2")
	calls := b.engine.Calls()
	stop := callIndex(calls, "Stop "+old.ID)
	if stop < 0 || callIndex(calls[stop:], "Create blog.web.1.") >= 0 {
		t.Fatalf("calls %v: want the new container created before the old one stops", calls)
	}
	web := b.running("blog", "web")
	if len(web) != 1 || !slices.Equal(b.targets("blog"), []string{addr(web[0])}) {
		t.Fatalf("running %v, targets %v; want v2's unchecked container routed", web, b.targets("blog"))
	}
}

// The rollout's containers end under their plain names (APP.TYPE.N) once
// the old ones, which had them, are gone.
func TestRolloutNamesTheNewContainersOnceTheOldAreGone(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	b.mustDeploy("blog", "app:v2")
	var names []string
	for _, c := range b.containersOf("blog") {
		names = append(names, c.Name)
		if c.Image != "berth/blog:v2" {
			t.Errorf("%s of %s is left", c.Name, c.Image)
		}
	}
	slices.Sort(names)
	if !slices.Equal(names, []string{"blog.web.1", "blog.web.2"}) {
		t.Fatalf("containers %v, want blog.web.1 and blog.web.2", names)
	}
}

// A worker has no port to check: it must stay up for ReadyUptime, and one
// that exits fails the deploy.
func TestWorkerThatExitsFailsTheDeploy(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		exits := c.Image == "berth/blog:v2" && c.Labels[docker.LabelProcess] == "worker"
		return fakeengine.Behavior{Exit: exits, ExitCode: 2, Output: "no queue configured\n"}
	}
	_, err := b.deploy("blog", "app:v2")
	if err == nil || !strings.Contains(err.Error(), "worker.1: the container exited with code 2") || !strings.Contains(err.Error(), "no queue configured") {
		t.Fatalf("deploy error %v, want the worker's exit and output", err)
	}
	if w := b.running("blog", "worker"); len(w) != 1 || w[0].Image != "berth/blog:v1" {
		t.Fatalf("running workers %v, want v1's", w)
	}
}

// ps:restart runs the same release in a new generation of containers and
// moves the route to them.
func TestRestartRunsTheSameReleaseInANewGeneration(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	if err := b.d.Restart(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	web := b.running("blog", "web")
	if len(web) != 1 || web[0].ID == old.ID || web[0].Labels[docker.LabelGeneration] != "2" || web[0].Labels[docker.LabelRelease] != "1" {
		t.Fatalf("running %v, want one new container of v1 in generation 2", web)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(web[0])}) {
		t.Fatalf("targets %v, want the new container's", got)
	}
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("the old container was not removed")
	}
}

// ps:stop takes the app out of its route before it stops a container.
func TestStopAppEmptiesTheRouteBeforeItStopsAContainer(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	w := b.watchStops("blog")
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if routed, ok := w.stopped(web.ID); !ok || routed {
		t.Fatalf("stopped %v, routed then %v; want it stopped after it left the route", ok, routed)
	}
	if c, ok := b.engine.Container(web.ID); !ok || c.Running {
		t.Fatal("ps:stop must keep the container, stopped")
	}
}

// A container Docker stops behind Berth's back (docker stop) leaves the
// route at once, and comes back when it is started again.
func TestDockerStopTakesTheContainerOutAndStartPutsItBack(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	if err := b.engine.Stop(b.ctx, web.ID, time.Second); err != nil {
		t.Fatal(err)
	}
	b.eventually("the stopped container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	if err := b.engine.StartExisting(b.ctx, web.ID); err != nil {
		t.Fatal(err)
	}
	b.eventually("the started container is routed again", func() bool {
		return slices.Equal(b.targets("blog"), []string{addr(web)})
	})
}

// As network.txtar's ps:restart after `docker network rm`: a restart
// whose new container cannot join a network that is gone fails, and the
// app's only container serves on, routed.
func TestRestartWhoseNetworkIsGoneKeepsTheOldContainerServing(t *testing.T) {
	for _, key := range []string{"attach-post-create", "attach-post-deploy", "initial-network"} {
		t.Run(key, func(t *testing.T) {
			b := newBed(t)
			b.mustDeploy("blog", "app:v1")
			if err := b.spec.CreateNetwork(b.ctx, "gone"); err != nil {
				t.Fatal(err)
			}
			if err := b.spec.SetNetwork(b.ctx, "blog", key, []string{"gone"}); err != nil {
				t.Fatal(err)
			}
			if err := b.d.Restart(b.ctx, "blog", io.Discard); err != nil {
				t.Fatalf("restart with the network there: %v", err)
			}
			web := b.running("blog", "web")[0]
			if err := b.engine.RemoveNetwork(b.ctx, "gone"); err != nil { // docker network rm
				t.Fatal(err)
			}
			err := b.d.Restart(b.ctx, "blog", io.Discard)
			if err == nil || !strings.Contains(err.Error(), "gone") {
				t.Fatalf("restart error %v, want the missing network named", err)
			}
			b.settle()
			if err := b.p.Reconcile(b.ctx); err != nil {
				t.Fatal(err)
			}
			if cs := b.containersOf("blog"); len(cs) != 1 || cs[0].ID != web.ID || !cs[0].Running {
				t.Fatalf("containers %v, want only the old one, running", cs)
			}
			if got := b.targets("blog"); !slices.Equal(got, []string{addr(web)}) {
				t.Fatalf("targets %v, want the old container's [%s]", got, addr(web))
			}
		})
	}
}

// A type the new release's Procfile no longer has is retired with the old
// containers, and leaves the formation.
func TestRolloutRetiresATypeTheNewProcfileDropped(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{tagBuilder{name: "toml", file: "app.toml", image: "app:v1", engine: e, ran: &ran}}
	})
	v1 := builder.Files{"app.toml": "", "Procfile": "web: serve\nworker: work\n"}
	if _, log, err := b.deploySource("blog", v1); err != nil {
		t.Fatalf("deploy v1: %v\n%s", err, log)
	}
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	worker := b.running("blog", "worker")[0]
	if _, log, err := b.deploySource("blog", builder.Files{"app.toml": "", "Procfile": "web: serve\n"}); err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, log)
	}
	if _, ok := b.engine.Container(worker.ID); ok || len(b.running("blog", "worker")) != 0 {
		t.Fatal("the worker the new Procfile dropped still exists")
	}
	if f := b.formation("blog"); f["web"] != 1 || len(f) != 1 {
		t.Fatalf("formation %v, want web=1 alone", f)
	}
}
