package routes_test

// The periodic reconcile runs beside the events, not in front of them:
// with hundreds of apps it takes a while, and an event that waited behind
// it would leave a dead container's address routed.

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
)

// heldNames is an app core whose lookup of app zzz-held (which only a
// reconcile asks: it has no containers) waits, once armed, until
// released: a reconcile caught in the middle, after its listing of the
// containers and before its write.
type heldNames struct {
	*apps
	mu      sync.Mutex
	armed   bool
	entered chan struct{}
	release chan struct{}
}

// heldApp is the app whose lookup heldNames holds.
const heldApp = "zzz-held"

func (h *heldNames) Lookup(ctx context.Context, app string) (routes.App, bool, error) {
	h.mu.Lock()
	armed := h.armed && app == heldApp
	if armed {
		h.armed = false
	}
	h.mu.Unlock()
	if armed {
		close(h.entered)
		select {
		case <-h.release:
		case <-ctx.Done():
		}
	}
	return h.apps.Lookup(ctx, app)
}

// arm holds the next reconcile; it returns when one is held, and a
// function that lets it go (also called when the test ends).
func (h *heldNames) arm(t *testing.T) (release func()) {
	t.Helper()
	h.apps.set(heldApp, routes.App{Generation: 1, Hosts: []string{heldApp + ".example.test"}})
	h.mu.Lock()
	h.armed, h.entered, h.release = true, make(chan struct{}), make(chan struct{})
	entered := h.entered
	release = sync.OnceFunc(func() { close(h.release) })
	h.mu.Unlock()
	t.Cleanup(release)
	select {
	case <-entered:
	case <-time.After(5 * time.Second):
		t.Fatal("no periodic reconcile began within 5 s")
	}
	return release
}

// A die event is applied while a periodic reconcile of 500 apps runs: the
// address leaves the route at once, not when the reconcile is done. The
// reconcile is held after its listing, which shows the container running,
// so its write must not put the address back (the route changed since it
// noted it: SetIfUnchanged keeps the event's).
func TestDieEventIsAppliedWhileAReconcileRuns(t *testing.T) {
	var held *heldNames
	b := newBedWith(t, 20*time.Millisecond, func(a *apps) routes.Apps {
		held = &heldNames{apps: a}
		return held
	})
	for i := range 500 {
		b.apps.set(fmt.Sprintf("app-%03d", i), routes.App{Generation: 1, Hosts: []string{fmt.Sprintf("app-%03d.example.test", i)}})
	}
	id, addr := b.run("blog", 1, nil)
	_, other := b.run("blog", 1, nil)
	release := held.arm(t) // a reconcile is running, and stays so
	b.engine.Crash(id, 137)
	b.eventually("the die event takes the address out during the reconcile", func() bool {
		return slices.Equal(b.targets("blog"), []string{other})
	})
	release()
	b.settle() // the reconcile wrote what it found; events still flow
	if got := b.targets("blog"); slices.Contains(got, addr) {
		t.Fatalf("targets %v after the reconcile: the dead container %s is routed again", got, addr)
	}
}

// A start event is applied while a periodic reconcile runs: a restarted
// app is routed without waiting for it.
func TestStartEventIsAppliedWhileAReconcileRuns(t *testing.T) {
	var held *heldNames
	b := newBedWith(t, 20*time.Millisecond, func(a *apps) routes.Apps {
		held = &heldNames{apps: a}
		return held
	})
	held.arm(t)
	_, addr := b.start("blog", 1, nil)
	b.eventually("the started container is routed during the reconcile", func() bool {
		return slices.Equal(b.targets("blog"), []string{addr})
	})
}

// heldLookup is an app core whose Lookup of one app waits until released:
// a reconcile caught after its listing, before its write.
type heldLookup struct {
	*apps
	app     string
	entered chan struct{}
	release chan struct{}
	once    sync.Once
}

func (h *heldLookup) Lookup(ctx context.Context, app string) (routes.App, bool, error) {
	if app == h.app {
		h.once.Do(func() {
			close(h.entered)
			select {
			case <-h.release:
			case <-ctx.Done():
			}
		})
	}
	return h.apps.Lookup(ctx, app)
}

// A reconcile that listed a container running, and writes after the
// container's die event but before the refresh that follows it, leaves
// the container out: whether it takes traffic is decided at the write.
func TestReconcileWritingAfterADeathLeavesTheDeadContainerOut(t *testing.T) {
	var held *heldLookup
	b := newBedWith(t, routes.ReconcileInterval, func(a *apps) routes.Apps {
		held = &heldLookup{apps: a, app: "zzz", entered: make(chan struct{}), release: make(chan struct{})}
		return held
	})
	b.apps.set("zzz", routes.App{Generation: 1, Hosts: []string{"zzz.example.test"}})
	_, first := b.run("blog", 1, nil)
	// A running container of blog that is not routed yet (hidden, then
	// shown without a refresh): only the reconcile will route it.
	id, err := b.engine.Create(b.ctx, docker.RunSpec{Image: "app", Env: []string{"PORT=5000"}, Labels: map[string]string{
		docker.LabelApp: "blog", docker.LabelProcess: "web", docker.LabelGeneration: "1", docker.LabelPort: "5000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.c.Hide(id)
	if err := b.engine.StartExisting(b.ctx, id); err != nil {
		t.Fatal(err)
	}
	b.settle()
	b.c.Unhide(id)
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-held.entered // it has listed the container running and read blog
	listed, releaseRefresh := b.hold()
	b.engine.Crash(id, 137)
	<-listed // the event's refresh is under way, its write held
	close(held.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{first}) {
		t.Fatalf("targets %v after the reconcile, want only [%s]: the dead container was routed", got, first)
	}
	releaseRefresh()
}

// newHeldLookupBed is a bed whose reconcile can be held after its listing,
// at its lookup of app zzz (the last in name order).
func newHeldLookupBed(t *testing.T) (*bed, *heldLookup) {
	var held *heldLookup
	b := newBedWith(t, routes.ReconcileInterval, func(a *apps) routes.Apps {
		held = &heldLookup{apps: a, app: "zzz", entered: make(chan struct{}), release: make(chan struct{})}
		return held
	})
	b.apps.set("zzz", routes.App{Generation: 1, Hosts: []string{"zzz.example.test"}})
	t.Cleanup(func() {
		select {
		case <-held.release:
		default:
			close(held.release)
		}
	})
	return b, held
}

// An app created after a reconcile noted the routes, and destroyed before
// its write, is not routed again by it: its hosts would answer "no ready
// container" and stay taken until the next reconcile.
func TestReconcileDoesNotRouteAnAppDestroyedWhileItRan(t *testing.T) {
	b, held := newHeldLookupBed(t)
	b.apps.set("fresh", routes.App{Generation: 1, Hosts: []string{"fresh.example.test"}}) // no route yet
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-held.entered // it has read fresh's record
	b.apps.remove("fresh")
	b.c.Remove("fresh") // the destroy
	close(held.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, ok := b.table.App("fresh"); ok {
		t.Fatalf("the destroyed app fresh is routed again: %+v", r)
	}
}

// An app marked leaving while a reconcile runs loses its route at the
// write, even when the reconcile also found new targets for it.
func TestReconcileRemovesAnAppMarkedLeavingWhileItRan(t *testing.T) {
	b, held := newHeldLookupBed(t)
	_, first := b.run("blog", 1, nil)
	// A running container of blog not routed yet (hidden, then shown
	// without a refresh): the reconcile's view of blog differs from the
	// route in its targets only.
	id, err := b.engine.Create(b.ctx, docker.RunSpec{Image: "app", Env: []string{"PORT=5000"}, Labels: map[string]string{
		docker.LabelApp: "blog", docker.LabelProcess: "web", docker.LabelGeneration: "1", docker.LabelPort: "5000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.c.Hide(id)
	if err := b.engine.StartExisting(b.ctx, id); err != nil {
		t.Fatal(err)
	}
	b.settle()
	b.c.Unhide(id)
	if got := b.targets("blog"); !slices.Equal(got, []string{first}) {
		t.Fatalf("targets %v before the reconcile, want [%s]", got, first)
	}
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-held.entered // it has read blog
	leave := b.c.Leaving("blog")
	defer leave()
	close(held.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if r, ok := b.table.App("blog"); ok {
		t.Fatalf("blog, marked leaving, is still routed after the reconcile: %+v", r)
	}
}

// A going-away mark is not forgotten while a reconcile that began before
// it runs: that reconcile listed the container running, and only the mark
// keeps its write from routing the dead container's address, which the
// engine may have given to another app's container by then. (The marks
// are forgotten after a minute; a reconcile against a stuck engine can
// take longer.)
func TestGoneMarkOutlivesAReconcileThatBeganBeforeIt(t *testing.T) {
	b, held := newHeldLookupBed(t)
	_, first := b.run("blog", 1, nil)
	// A running container of blog that is not routed yet (hidden, then
	// shown without a refresh): only the reconcile will route it.
	id, err := b.engine.Create(b.ctx, docker.RunSpec{Image: "app", Env: []string{"PORT=5000"}, Labels: map[string]string{
		docker.LabelApp: "blog", docker.LabelProcess: "web", docker.LabelGeneration: "1", docker.LabelPort: "5000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	b.c.Hide(id)
	if err := b.engine.StartExisting(b.ctx, id); err != nil {
		t.Fatal(err)
	}
	b.settle()
	b.c.Unhide(id)
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-held.entered // it has listed the container running and read blog
	listed, releaseRefresh := b.hold()
	b.engine.Crash(id, 137)
	<-listed // the event's refresh is under way (the mark is set), its write held
	// The ticker forgets marks older than a minute; the mark is older than
	// no time at all, and still must stay while this reconcile runs.
	routes.ForgetGone(b.c, 0)
	close(held.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{first}) {
		t.Fatalf("targets %v after the reconcile, want only [%s]: the dead container was routed", got, first)
	}
	releaseRefresh()
}
