package platform_test

// Unit tests of ps:scale (ops.go) against the fake engine: which indexes
// start and go, that new ones are checked before they take traffic, that
// surplus ones drain out of the route before they stop, and that a
// failure leaves the running containers and the formation as they were.

import (
	"context"
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

// indexes returns the sorted indexes of the app's running containers of
// typ.
func (b *bed) indexes(app, typ string) []string {
	var out []string
	for _, c := range b.running(app, typ) {
		out = append(out, c.Labels[docker.LabelIndex])
	}
	slices.Sort(out)
	return out
}

func (b *bed) scale(app string, want map[string]int) error {
	return b.d.Scale(b.ctx, app, want, io.Discard)
}

func (b *bed) formation(app string) map[string]int {
	b.t.Helper()
	f, err := b.d.Formation(b.ctx, app)
	if err != nil {
		b.t.Fatal(err)
	}
	return f
}

// Scaling up starts the next indexes and leaves the running ones alone.
func TestScaleUpStartsTheNextIndexesAndLeavesTheRunningOnes(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	first := b.running("blog", "web")[0]
	from := len(b.engine.Calls())
	if err := b.scale("blog", map[string]int{"web": 3}); err != nil {
		t.Fatal(err)
	}
	if got := b.indexes("blog", "web"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("running indexes %v, want 1 2 3", got)
	}
	if calls := b.callsOf(first.ID, from); len(calls) != 0 {
		t.Fatalf("scaling up touched web.1: %v", calls)
	}
	for _, c := range b.running("blog", "web") {
		if want := "blog.web." + c.Labels[docker.LabelIndex]; c.Name != want {
			t.Errorf("container %s, want the name %s", c.Name, want)
		}
	}
}

// A new container of a scale-up takes no traffic until its check passes.
func TestScaleUpRoutesANewContainerOnlyOnceChecked(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	before := b.targets("blog")
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: c.Labels[docker.LabelIndex] == "2"} // its check waits
	}
	ctx, cancel := context.WithCancel(b.ctx)
	defer cancel()
	scaled := make(chan error, 1)
	go func() { scaled <- b.d.Scale(ctx, "blog", map[string]int{"web": 2}, io.Discard) }()
	b.eventually("web.2 runs", func() bool { return len(b.running("blog", "web")) == 2 })
	time.Sleep(50 * time.Millisecond)
	if got := b.targets("blog"); !slices.Equal(got, before) {
		t.Fatalf("targets %v while web.2 is unchecked, want only web.1's %v", got, before)
	}
	cancel() // the scaler hangs up
	if err := <-scaled; err == nil {
		t.Fatal("a scale cut off during the check succeeded")
	}
	if _, ok := b.containerWith("blog", docker.LabelIndex, "2"); ok {
		t.Fatal("the cut-off scale left web.2 behind")
	}
	if got := b.targets("blog"); !slices.Equal(got, before) {
		t.Fatalf("targets %v after the cut-off scale, want web.1's %v", got, before)
	}
}

// A scale-up whose new container fails leaves web.1 serving, nothing
// behind, and the formation as it was.
func TestScaleUpWhoseNewContainerFailsKeepsTheFormation(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	before := b.targets("blog")
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Exit: c.Labels[docker.LabelIndex] == "2", ExitCode: 1}
	}
	err := b.scale("blog", map[string]int{"web": 2})
	if err == nil || !strings.Contains(err.Error(), "scaling web to 2") || !strings.Contains(err.Error(), "exited with code 1") {
		t.Fatalf("scale error %v, want what failed", err)
	}
	if _, ok := b.containerWith("blog", docker.LabelIndex, "2"); ok {
		t.Fatal("the failed web.2 was left behind")
	}
	if got := b.targets("blog"); !slices.Equal(got, before) {
		t.Fatalf("targets %v, want web.1's %v", got, before)
	}
	if f := b.formation("blog"); f["web"] != 1 {
		t.Fatalf("formation %v after a failed scale-up, want web=1", f)
	}
}

// A scale-up whose create Docker refuses leaves web.1 running and routed.
func TestScaleUpWhoseCreateIsRefusedKeepsServing(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	b.engine.RefuseCreate = func(spec docker.RunSpec) error {
		if spec.Labels[docker.LabelApp] == "blog" {
			return errors.New("no space left on device")
		}
		return nil
	}
	if err := b.scale("blog", map[string]int{"web": 2}); err == nil || !strings.Contains(err.Error(), "no space left") {
		t.Fatalf("scale error %v, want Docker's refusal", err)
	}
	b.settle()
	if got := b.targets("blog"); !slices.Equal(got, []string{addr(web)}) {
		t.Fatalf("targets %v, want web.1's [%s]", got, addr(web))
	}
	if f := b.formation("blog"); f["web"] != 1 {
		t.Fatalf("formation %v, want web=1", f)
	}
}

// Scaling down stops the highest indexes, each out of the route before
// it is told to stop.
func TestScaleDownTakesTheSurplusOutOfTheRouteBeforeItStops(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.scale("blog", map[string]int{"web": 3}); err != nil {
		t.Fatal(err)
	}
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	three, _ := b.containerWith("blog", docker.LabelIndex, "3")
	w := b.watchStops("blog")
	if err := b.scale("blog", map[string]int{"web": 1}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []fakeengine.Container{two, three} {
		if routed, ok := w.stopped(c.ID); !ok || routed {
			t.Errorf("%s: stopped %v, routed then %v; want it stopped after it left the route", c.Name, ok, routed)
		}
	}
	if got := b.indexes("blog", "web"); !slices.Equal(got, []string{"1"}) {
		t.Fatalf("running indexes %v, want 1", got)
	}
}

// A surplus container serving a request is out of the route at once, but
// stops only when the request has finished.
func TestScaleDownWaitsForTheSurplusInFlightRequests(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.scale("blog", map[string]int{"web": 2}); err != nil {
		t.Fatal(err)
	}
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	done := b.table.InFlight.Begin(addr(two))
	scaled := make(chan error, 1)
	go func() { scaled <- b.scale("blog", map[string]int{"web": 1}) }()
	b.eventually("web.2 leaves the route", func() bool { return !slices.Contains(b.targets("blog"), addr(two)) })
	time.Sleep(10 * platform.DrainDelay)
	if c, ok := b.engine.Container(two.ID); !ok || !c.Running {
		t.Fatal("web.2 stopped while a request was in flight")
	}
	done()
	if err := <-scaled; err != nil {
		t.Fatal(err)
	}
	if _, ok := b.engine.Container(two.ID); ok {
		t.Fatal("web.2 was not removed once its request finished")
	}
}

// Scaling to zero empties the route and records web=0; the app's host
// stays, answered by no container.
func TestScaleToZeroEmptiesTheRoute(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.scale("blog", map[string]int{"web": 0}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.running("blog", "web")); n != 0 {
		t.Fatalf("%d web containers run at web=0", n)
	}
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v at web=0", got)
	}
	if f := b.formation("blog"); f["web"] != 0 {
		t.Fatalf("formation %v, want web=0", f)
	}
}

// A stopped app (ps:stop) starts nothing when scaled: the formation is
// recorded, and ps:start runs it.
func TestScaleOfAStoppedAppStartsNothingUntilStart(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := b.scale("blog", map[string]int{"web": 3}); err != nil {
		t.Fatal(err)
	}
	if n := len(b.running("blog", "web")); n != 0 {
		t.Fatalf("scaling a stopped app started %d containers", n)
	}
	if _, err := b.d.StartApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := b.indexes("blog", "web"); !slices.Equal(got, []string{"1", "2", "3"}) {
		t.Fatalf("after ps:start, running indexes %v, want 1 2 3", got)
	}
	if got := b.targets("blog"); len(got) != 3 {
		t.Fatalf("after ps:start, targets %v, want 3", got)
	}
}

// Scaling one type leaves the other's containers alone.
func TestScaleOfOneTypeLeavesTheOtherAlone(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.scale("blog", map[string]int{"worker": 1}); err != nil {
		t.Fatal(err)
	}
	web, worker := b.running("blog", "web")[0], b.running("blog", "worker")[0]
	from := len(b.engine.Calls())
	if err := b.scale("blog", map[string]int{"worker": 0, "web": 2}); err != nil {
		t.Fatal(err)
	}
	if calls := b.callsOf(web.ID, from); len(calls) != 0 {
		t.Fatalf("scaling touched web.1: %v", calls)
	}
	if _, ok := b.engine.Container(worker.ID); ok || len(b.running("blog", "worker")) != 0 {
		t.Fatal("worker.1 still exists at worker=0")
	}
	if f := b.formation("blog"); f["web"] != 2 || f["worker"] != 0 {
		t.Fatalf("formation %v, want web=2 worker=0", f)
	}
}

// A container removed behind Berth's back (docker rm) leaves a hole in
// the indexes; scaling up fills the hole rather than take the name of a
// container that runs.
func TestScaleUpFillsAHoleInTheIndexes(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.scale("blog", map[string]int{"web": 3}); err != nil {
		t.Fatal(err)
	}
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	if err := b.engine.Remove(b.ctx, two.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.scale("blog", map[string]int{"web": 4}); err != nil {
		t.Fatalf("scale with web.2 missing: %v", err)
	}
	if got := b.indexes("blog", "web"); !slices.Equal(got, []string{"1", "2", "3", "4"}) {
		t.Fatalf("running indexes %v, want 1 2 3 4", got)
	}
}

// Scaling down with a hole stops the indexes above the new quantity, and
// brings the formation to exactly 1..N.
func TestScaleDownWithAHoleKeepsIndexesOneToN(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.scale("blog", map[string]int{"web": 3}); err != nil {
		t.Fatal(err)
	}
	two, _ := b.containerWith("blog", docker.LabelIndex, "2")
	if err := b.engine.Remove(b.ctx, two.ID); err != nil {
		t.Fatal(err)
	}
	if err := b.scale("blog", map[string]int{"web": 2}); err != nil {
		t.Fatal(err)
	}
	if got := b.indexes("blog", "web"); !slices.Equal(got, []string{"1", "2"}) {
		t.Fatalf("running indexes %v at web=2, want 1 2", got)
	}
	if got := b.targets("blog"); len(got) != 2 {
		t.Fatalf("targets %v, want 2", got)
	}
}
