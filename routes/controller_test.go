package routes_test

// Unit tests of the route controller against the in-memory engine
// (internal/fakeengine), one behaviour per test. Where a test needs a
// refresh or a reconcile caught half way (it has listed the containers
// but not yet written the route), the engine holds that listing until the
// test lets it go: that is the window the controller's rules are about.

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
)

// apps is an in-memory app core.
type apps struct {
	mu sync.Mutex
	m  map[string]routes.App
}

func (a *apps) Names(ctx context.Context) ([]string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	var out []string
	for name := range a.m {
		out = append(out, name)
	}
	slices.Sort(out)
	return out, nil
}

func (a *apps) Lookup(ctx context.Context, app string) (routes.App, bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	r, ok := a.m[app]
	return r, ok, nil
}

func (a *apps) Exists(ctx context.Context, app string) (bool, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	_, ok := a.m[app]
	return ok, nil
}

func (a *apps) set(name string, r routes.App) {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.m[name] = r
}

func (a *apps) remove(name string) {
	a.mu.Lock()
	defer a.mu.Unlock()
	delete(a.m, name)
}

// engine is the fake engine with listings that can be held.
type engine struct {
	*fakeengine.Engine
	mu     sync.Mutex
	hold   chan struct{} // the next listing waits for it to close
	listed chan struct{} // closed once that listing has been read
	// onFailure marks containers inspected as Docker shows one whose
	// restart policy on-failure:3 is restarting it after an error exit
	// (the fake does not emulate restart policies).
	onFailure map[string]bool
}

func (e *engine) Inspect(ctx context.Context, id string) (docker.Container, error) {
	c, err := e.Engine.Inspect(ctx, id)
	e.mu.Lock()
	defer e.mu.Unlock()
	if err == nil && e.onFailure[id] {
		c.RestartPolicy, c.MaxRetries = "on-failure", 3
		if !c.Running && c.ExitCode != 0 && c.RestartCount < 3 {
			// Docker counts the restart before it reports the exit.
			c.Running, c.Restarting, c.RestartCount = true, true, c.RestartCount+1
		}
	}
	return c, err
}

func (e *engine) ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error) {
	cs, err := e.Engine.ListRunning(ctx, labels...)
	e.mu.Lock()
	hold, listed := e.hold, e.listed
	e.hold, e.listed = nil, nil
	e.mu.Unlock()
	if hold != nil {
		close(listed)
		<-hold
	}
	return cs, err
}

// holdNextListing makes the next listing wait, once it has read the
// engine's state, until release is called; listed closes when it has.
func (e *engine) holdNextListing() (listed <-chan struct{}, release func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	hold, done := make(chan struct{}), make(chan struct{})
	e.hold, e.listed = hold, done
	return done, sync.OnceFunc(func() { close(hold) })
}

// bed is one started controller on a fake engine, with app blog at
// generation 1.
type bed struct {
	t      *testing.T
	c      *routes.Controller
	engine *engine
	apps   *apps
	table  *routing.Table
	ctx    context.Context
	log    *strings.Builder
	logMu  *sync.Mutex
}

func newBed(t *testing.T) *bed {
	t.Helper()
	return newBedWith(t, routes.ReconcileInterval, nil)
}

// newBedWith is newBed with the periodic reconcile every interval, and the
// controller's app core wrapped by wrap (nil: the apps themselves).
func newBedWith(t *testing.T, interval time.Duration, wrap func(*apps) routes.Apps) *bed {
	t.Helper()
	fake := fakeengine.New()
	t.Cleanup(fake.Close)
	fake.SetInstance("test", nil)
	fake.AddImage("app", fakeengine.Image{Port: 5000})
	e := &engine{Engine: fake}
	a := &apps{m: map[string]routes.App{
		"blog":   {Generation: 1, Hosts: []string{"blog.example.test"}},
		"marker": {Generation: 1, Hosts: []string{"marker.example.test"}},
	}}
	table := routing.New()
	var logMu sync.Mutex
	var log strings.Builder
	// Debug: the trace lines of events and refreshes are checked too.
	logger := slog.New(slog.NewTextHandler(lockedWriter{&logMu, &log}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	var core routes.Apps = a
	if wrap != nil {
		core = wrap(a)
	}
	c := routes.New(e, table, core, logger)
	routes.SetReconcileInterval(c, interval)
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	if err := c.Start(ctx, nil); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(c.Close)
	return &bed{t: t, c: c, engine: e, apps: a, table: table, ctx: ctx, log: &log, logMu: &logMu}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  io.Writer
}

func (l lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// run starts a web container of app at generation gen, with extra labels,
// and returns its ID and address.
func (b *bed) run(app string, gen int, extra map[string]string) (id, addr string) {
	b.t.Helper()
	id, addr = b.start(app, gen, extra)
	b.settle()
	return id, addr
}

// start is run without waiting for the controller to handle the start.
func (b *bed) start(app string, gen int, extra map[string]string) (id, addr string) {
	b.t.Helper()
	labels := map[string]string{
		docker.LabelApp: app, docker.LabelProcess: "web",
		docker.LabelGeneration: fmt.Sprint(gen), docker.LabelPort: "5000",
	}
	for k, v := range extra {
		labels[k] = v
	}
	id, err := b.engine.Run(b.ctx, docker.RunSpec{Image: "app", Env: []string{"PORT=5000"}, Labels: labels})
	if err != nil {
		b.t.Fatal(err)
	}
	c, _ := b.engine.Container(id)
	return id, c.IP.String() + ":5000"
}

// settle returns once the controller has handled every event so far (it
// handles them in order, and the start of a marker container is the
// last), so that a held listing is the one the test means.
func (b *bed) settle() {
	b.t.Helper()
	_, addr := b.start("marker", 1, nil)
	b.eventually("the marker container is routed", func() bool { return slices.Contains(b.targets("marker"), addr) })
}

// hold is engine.holdNextListing, released at the latest when the test
// ends (before the controller closes), so that a failing test does not
// hang.
func (b *bed) hold() (listed <-chan struct{}, release func()) {
	listed, release = b.engine.holdNextListing()
	b.t.Cleanup(release)
	return listed, release
}

func (b *bed) refresh(app string) {
	b.t.Helper()
	if err := b.c.Refresh(b.ctx, app); err != nil {
		b.t.Fatal(err)
	}
}

func (b *bed) targets(app string) []string {
	r, ok := b.table.App(app)
	if !ok {
		return nil
	}
	return slices.Sorted(slices.Values(r.Targets))
}

// eventually waits up to 5 s for cond, which events make true.
func (b *bed) eventually(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func TestRefreshRoutesTheRunningContainersOfTheGeneration(t *testing.T) {
	b := newBed(t)
	_, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	if got := b.targets("blog"); !slices.Equal(got, []string{addr}) {
		t.Fatalf("targets %v, want [%s]", got, addr)
	}
	if r, ok := b.table.Lookup("blog.example.test"); !ok || r.App != "blog" {
		t.Fatalf("blog.example.test routes to %v, want blog", r)
	}
}

// The address leaves the route when the event arrives, before the
// refresh that follows has read anything from the engine: Docker may give
// a dead container's address to another app's container within
// milliseconds.
func TestDieEventDropsTheAddressWithoutAskingTheEngine(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	listed, _ := b.hold()
	b.engine.Crash(id, 137)
	// The refresh the event starts lists the containers and is held there;
	// the route must already be empty.
	<-listed
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v while the refresh after the die event has not finished, want none", got)
	}
}

// A refresh that listed the containers before a die event must not put the
// dead container's address back when it finishes after the event.
func TestRefreshThatListedBeforeADeathCannotRouteTheDeadContainer(t *testing.T) {
	b := newBed(t)
	id, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	listed, release := b.hold()
	done := make(chan error, 1)
	go func() { done <- b.c.Refresh(b.ctx, "blog") }()
	<-listed // it has seen the container running
	b.engine.Crash(id, 137)
	b.eventually("the die event takes the address out", func() bool { return len(b.targets("blog")) == 0 })
	// The event's own refresh waits for the stale one; hold its listing
	// too, so that what the stale one wrote is what the test reads.
	b.hold()
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); slices.Contains(got, addr) {
		t.Fatalf("targets %v: the stale refresh routed the dead container again", got)
	}
}

func TestStartAfterDeathRoutesTheContainerAgain(t *testing.T) {
	b := newBed(t)
	id, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	b.engine.Crash(id, 1)
	b.eventually("the dead container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	if err := b.engine.Restart(id); err != nil {
		t.Fatal(err)
	}
	b.eventually("the restarted container is routed again", func() bool { return slices.Equal(b.targets("blog"), []string{addr}) })
}

// Refreshes of one app are serialised: one that read generation 1 before
// a rollout recorded generation 2 finishes before the rollout's refresh
// starts, so it cannot put the old containers back after it.
func TestRefreshThatReadAnOlderGenerationCannotUndoANewerOne(t *testing.T) {
	b := newBed(t)
	_, old := b.run("blog", 1, nil)
	_, next := b.run("blog", 2, nil)
	listed, release := b.hold()
	stale := make(chan error, 1)
	go func() { stale <- b.c.Refresh(b.ctx, "blog") }()
	<-listed // it read generation 1 and listed the containers
	b.apps.set("blog", routes.App{Generation: 2, Hosts: []string{"blog.example.test"}})
	fresh := make(chan error, 1)
	go func() { fresh <- b.c.Refresh(b.ctx, "blog") }()
	// Were refreshes not serialised, the fresh one would finish now, and
	// the stale one would then overwrite it.
	select {
	case <-fresh:
		t.Error("the second refresh finished while the first was still running")
	case <-time.After(100 * time.Millisecond):
	}
	release()
	if err := <-stale; err != nil {
		t.Fatal(err)
	}
	b.eventually("the refresh of generation 2 has run", func() bool { return slices.Equal(b.targets("blog"), []string{next}) })
	if got := b.targets("blog"); slices.Contains(got, old) {
		t.Fatalf("targets %v route the old generation", got)
	}
}

// The reconcile writes only the routes nobody changed since it looked.
func TestReconcileKeepsARouteChangedMeanwhile(t *testing.T) {
	b := newBed(t)
	_, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	listed, release := b.hold()
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-listed
	// A change made while the reconcile looks (as an event or a rollout
	// makes): the reconcile's older view must not overwrite it.
	b.table.SetTargets("blog", []string{"192.0.2.1:5000"})
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{"192.0.2.1:5000"}) {
		t.Fatalf("targets %v after the reconcile, want the change made meanwhile, not %s", got, addr)
	}
}

func TestReconcileRestoresALostRoute(t *testing.T) {
	b := newBed(t)
	_, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	b.table.SetTargets("blog", nil) // as if an event had been dropped
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr}) {
		t.Fatalf("targets %v after reconcile, want [%s]", got, addr)
	}
}

func TestHiddenContainerTakesNoTrafficUntilUnhidden(t *testing.T) {
	b := newBed(t)
	_, first := b.run("blog", 1, nil)
	id, second := b.run("blog", 1, nil)
	b.c.Hide(id)
	b.refresh("blog")
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{first}) {
		t.Fatalf("targets %v with %s hidden, want only [%s]", got, second, first)
	}
	b.c.Unhide(id)
	b.refresh("blog")
	if got := b.targets("blog"); !slices.Contains(got, second) {
		t.Fatalf("targets %v after unhiding, want %s among them", got, second)
	}
}

func TestContainersOfAnotherGenerationAreNotRouted(t *testing.T) {
	b := newBed(t)
	_, current := b.run("blog", 1, nil)
	b.run("blog", 2, nil)
	b.run("blog", 99, nil)
	b.refresh("blog")
	if got := b.targets("blog"); !slices.Equal(got, []string{current}) {
		t.Fatalf("targets %v after refresh, want only generation 1's [%s]", got, current)
	}
	b.table.SetTargets("blog", nil)
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{current}) {
		t.Fatalf("targets %v after reconcile, want only generation 1's [%s]", got, current)
	}
}

// A one-off carrying its app's labels (adopted from a Berth before
// instance IDs) is never routed.
func TestOneOffIsNotRouted(t *testing.T) {
	b := newBed(t)
	_, current := b.run("blog", 1, nil)
	b.run("blog", 1, map[string]string{docker.LabelOneOff: "blog"})
	b.refresh("blog")
	if got := b.targets("blog"); !slices.Equal(got, []string{current}) {
		t.Fatalf("targets %v after refresh, want only the process container [%s]", got, current)
	}
	b.table.SetTargets("blog", nil)
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{current}) {
		t.Fatalf("targets %v after reconcile, want only the process container [%s]", got, current)
	}
}

func TestLeavingAppIsNotRoutedAgain(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	done := b.c.Leaving("blog")
	defer done()
	b.table.Remove("blog")
	// An event about its container, a refresh and a reconcile all leave it
	// unrouted.
	b.engine.Crash(id, 137)
	if err := b.engine.Restart(id); err != nil {
		t.Fatal(err)
	}
	b.settle()
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("the leaving app was routed again after its container's events")
	}
	b.refresh("blog")
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("the leaving app was routed again by a refresh")
	}
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("the leaving app was routed again by a reconcile")
	}
}

func TestReconcileRemovesTheRouteOfALeavingApp(t *testing.T) {
	b := newBed(t)
	b.run("blog", 1, nil)
	b.refresh("blog")
	done := b.c.Leaving("blog")
	defer done()
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.table.Lookup("blog.example.test"); ok {
		t.Fatal("blog.example.test is still routed after a reconcile while blog is leaving")
	}
}

// A refresh that read the app's record before a destroy deleted it does
// not route the app again after the destroy took the route away.
func TestRefreshThatReadTheRecordBeforeADestroyDoesNotRouteItAgain(t *testing.T) {
	b := newBed(t)
	b.run("blog", 1, nil)
	b.refresh("blog")
	listed, release := b.hold()
	done := make(chan error, 1)
	go func() { done <- b.c.Refresh(b.ctx, "blog") }()
	<-listed // it has read the record
	b.apps.remove("blog")
	b.c.Remove("blog")
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("the destroyed app was routed again")
	}
}

func TestAppWithoutRecordLosesItsRouteAtRefresh(t *testing.T) {
	b := newBed(t)
	b.run("blog", 1, nil)
	b.refresh("blog")
	b.apps.remove("blog")
	b.refresh("blog")
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("an app without a record is still routed")
	}
}

func TestExhaustedRestartPolicyIsLogged(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	// The fake's containers have restart policy "no": an error exit is
	// final.
	b.engine.Crash(id, 3)
	b.eventually("the failure is logged", func() bool {
		b.logMu.Lock()
		defer b.logMu.Unlock()
		return strings.Contains(b.log.String(), "app container failed: exited with code 3 (restart policy no)")
	})
}

func TestStoppedAppsExitIsNotAFailure(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	b.apps.set("blog", routes.App{Generation: 1, Hosts: []string{"blog.example.test"}, Stopped: true})
	b.engine.Crash(id, 3)
	b.settle()
	b.logMu.Lock()
	defer b.logMu.Unlock()
	if strings.Contains(b.log.String(), "app container failed") {
		t.Fatalf("a stopped app's exit was logged as a failure:\n%s", b.log.String())
	}
}

func TestExhausted(t *testing.T) {
	for _, tc := range []struct {
		c    docker.Container
		want bool
	}{
		{docker.Container{ExitCode: 1, RestartPolicy: "no"}, true},
		{docker.Container{ExitCode: 0, RestartPolicy: "no"}, false},
		{docker.Container{ExitCode: 1, RestartPolicy: "on-failure", MaxRetries: 3, RestartCount: 3}, true},
		{docker.Container{ExitCode: 1, RestartPolicy: "on-failure", MaxRetries: 3, RestartCount: 2}, false},
		{docker.Container{ExitCode: 1, RestartPolicy: "always"}, false},
		{docker.Container{ExitCode: 1, RestartPolicy: "no", Restarting: true}, false},
	} {
		if got, why := routes.Exhausted(tc.c); got != tc.want {
			t.Errorf("Exhausted(%+v) = %v (%q), want %v", tc.c, got, why, tc.want)
		}
	}
}

func (b *bed) logged(s string) int {
	b.logMu.Lock()
	defer b.logMu.Unlock()
	return strings.Count(b.log.String(), s)
}

// A crash loop is logged once per burst of restarts, and again when the
// restart policy gives up; a rollout's retiring containers (another
// generation) are not crashes.
func TestCrashBurstIsLoggedOnceAndTheGivingUp(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	b.engine.mu.Lock()
	b.engine.onFailure = map[string]bool{id: true}
	b.engine.mu.Unlock()
	for i := 0; i < 3; i++ {
		b.engine.Crash(id, 3)
		b.eventually("the crash is seen", func() bool { return b.logged("app container") > 0 })
		b.settle()
		if err := b.engine.Restart(id); err != nil {
			t.Fatal(err)
		}
	}
	b.engine.Crash(id, 3) // the fourth exit: restart count 3 of 3, Docker gives up
	b.eventually("the giving up is logged", func() bool {
		return b.logged("app container failed: crash loop, gave up after 3 restarts: exited with code 3 (restart policy on-failure:3 exhausted)") == 1
	})
	if n := b.logged("app container crashed (exit code 3); Docker is restarting it (restart 1 of 3, restart policy on-failure:3)"); n != 1 {
		t.Fatalf("%d lines for the burst, want 1:\n%s", n, b.log.String())
	}

	old, _ := b.run("blog", 1, nil)
	b.apps.set("blog", routes.App{Generation: 2, Hosts: []string{"blog.example.test"}})
	b.engine.Crash(old, 3)
	b.settle()
	if n := b.logged("app container"); n != 2 {
		t.Fatalf("an exit of another generation was logged:\n%s", b.log.String())
	}
}

// KeptOut says which containers the controller keeps out of routes
// (hidden ones), for traffic routed outside the table.
func TestKeptOutFollowsHideAndUnhide(t *testing.T) {
	b := newBed(t)
	if b.c.KeptOut("c1") {
		t.Fatal("a container never hidden is kept out")
	}
	b.c.Hide("c1")
	if !b.c.KeptOut("c1") {
		t.Fatal("a hidden container is not kept out")
	}
	b.c.Unhide("c1")
	if b.c.KeptOut("c1") {
		t.Fatal("an unhidden container is still kept out")
	}
}
