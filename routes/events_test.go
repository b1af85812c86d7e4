package routes_test

// More unit tests of the route controller: each kind of going-away event,
// events about containers that are not routed, and the reconcile's view
// of apps and containers that changed while it looked.

import (
	"slices"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
)

// docker stop (kill, die, stop) takes the address out before the refresh
// that follows has read anything.
func TestStopEventDropsTheAddressWithoutAskingTheEngine(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	listed, _ := b.hold()
	if err := b.engine.Stop(b.ctx, id, 0); err != nil {
		t.Fatal(err)
	}
	<-listed
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v while the refresh after the stop has not finished, want none", got)
	}
}

// docker rm -f (kill, die, destroy) too.
func TestDestroyEventDropsTheAddressWithoutAskingTheEngine(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	listed, _ := b.hold()
	if err := b.engine.Remove(b.ctx, id); err != nil {
		t.Fatal(err)
	}
	<-listed
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v while the refresh after the removal has not finished, want none", got)
	}
}

// A start event alone routes a container of the app's generation: no one
// has to call Refresh.
func TestStartEventRoutesAContainerOfTheGeneration(t *testing.T) {
	b := newBed(t)
	_, addr := b.start("blog", 1, nil)
	b.eventually("the started container is routed", func() bool { return slices.Equal(b.targets("blog"), []string{addr}) })
}

// A container hidden before it starts (a scale-up's, until its checks
// pass) is not routed by its start event.
func TestHiddenContainerIsNotRoutedByItsStartEvent(t *testing.T) {
	b := newBed(t)
	_, first := b.run("blog", 1, nil)
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
	if got := b.targets("blog"); !slices.Equal(got, []string{first}) {
		t.Fatalf("targets %v after the hidden container's start, want only [%s]", got, first)
	}
}

// The death of a container that is not routed (another generation's: a
// rollout's new container that failed, an old one being retired) leaves
// the route as it is.
func TestDeathOfAnotherGenerationsContainerLeavesTheRouteAlone(t *testing.T) {
	b := newBed(t)
	_, current := b.run("blog", 1, nil)
	other, _ := b.run("blog", 2, nil)
	b.engine.Crash(other, 1)
	if err := b.engine.Remove(b.ctx, other); err != nil {
		t.Fatal(err)
	}
	b.settle()
	if got := b.targets("blog"); !slices.Equal(got, []string{current}) {
		t.Fatalf("targets %v after another generation's container died, want [%s]", got, current)
	}
}

// A container without a port label has no address to route.
func TestContainerWithoutAPortIsNotRouted(t *testing.T) {
	b := newBed(t)
	_, current := b.run("blog", 1, nil)
	b.run("blog", 1, map[string]string{docker.LabelPort: ""})
	b.refresh("blog")
	if got := b.targets("blog"); !slices.Equal(got, []string{current}) {
		t.Fatalf("targets %v, want only the container with a port [%s]", got, current)
	}
}

// A reconcile that listed a container running before it died must not
// route it again: the die event changed the route meanwhile.
func TestReconcileThatListedBeforeADeathCannotRouteTheDeadContainer(t *testing.T) {
	b := newBed(t)
	id, addr := b.run("blog", 1, nil)
	_, other := b.run("blog", 1, nil)
	b.refresh("blog")
	listed, release := b.hold()
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-listed // it has seen both running
	b.engine.Crash(id, 137)
	b.eventually("the die event takes the address out", func() bool { return slices.Equal(b.targets("blog"), []string{other}) })
	release()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); slices.Contains(got, addr) {
		t.Fatalf("targets %v: the reconcile routed the dead container again", got)
	}
}

// An app whose record is gone loses its route at the reconcile.
func TestReconcileRemovesTheRouteOfAnAppWithoutRecord(t *testing.T) {
	b := newBed(t)
	b.run("blog", 1, nil)
	b.refresh("blog")
	b.apps.remove("blog")
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.table.App("blog"); ok {
		t.Fatal("an app without a record is still routed after a reconcile")
	}
}

// A reconcile that finds an app listed but gone when it looks it up skips
// that app (its destroy takes its route away) and reconciles the others:
// one app destroyed mid-reconcile does not abort the whole reconcile.
func TestReconcileThatSawAnAppVanishSkipsItAndReconcilesTheOthers(t *testing.T) {
	b := newBed(t)
	b.run("blog", 1, nil)
	b.refresh("blog")
	before := b.targets("marker")
	b.table.SetTargets("marker", nil) // a lost route the reconcile restores
	listed, release := b.hold()
	done := make(chan error, 1)
	go func() { done <- b.c.Reconcile(b.ctx) }()
	<-listed // it has the names, blog among them
	b.apps.remove("blog")
	release()
	if err := <-done; err != nil {
		t.Fatalf("the reconcile failed because blog went away: %v", err)
	}
	if _, ok := b.table.App("blog"); !ok {
		t.Fatal("the reconcile removed blog's route; the destroy does that")
	}
	if got := b.targets("marker"); !slices.Equal(got, before) {
		t.Fatalf("marker's targets %v after the reconcile, want %v restored", got, before)
	}
}

// A generation recorded without its refresh (Berth stopped between a
// rollout's record and its route switch) is routed by the reconcile: the
// new containers, none of the old.
func TestReconcileMovesTheRouteToTheRecordedGeneration(t *testing.T) {
	b := newBed(t)
	_, one := b.run("blog", 1, nil)
	_, two := b.run("blog", 2, nil)
	b.apps.set("blog", routes.App{Generation: 2, Hosts: []string{"blog.example.test"}})
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{two}) {
		t.Fatalf("targets %v, want generation 2's [%s], not %s", got, two, one)
	}
}

// When the event stream breaks (dockerd restarted), the controller opens
// it again and reconciles: what happened meanwhile, unseen, is routed.
func TestBrokenEventStreamIsReopenedAndReconciled(t *testing.T) {
	b := newBed(t)
	id, _ := b.run("blog", 1, nil)
	b.refresh("blog")
	b.engine.BreakEvents()
	b.engine.Crash(id, 137) // no stream hears it
	b.eventually("the reconcile after the reopened stream takes the dead container out", func() bool { return len(b.targets("blog")) == 0 })
	_, addr := b.start("blog", 1, nil) // the new stream hears this
	b.eventually("events reach the controller again", func() bool { return slices.Equal(b.targets("blog"), []string{addr}) })
}

// A container in Docker's restart back-off counts as running to Docker,
// but serves nothing: it is out of the route until it runs again.
func TestRestartingContainerIsNotRouted(t *testing.T) {
	b := newBed(t)
	id, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	b.engine.CrashLoop(id, 1)
	b.eventually("the crashed container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	b.table.SetTargets("blog", nil)
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v after a reconcile, want none while it restarts", got)
	}
	if err := b.engine.Restart(id); err != nil {
		t.Fatal(err)
	}
	b.eventually("the restarted container is routed again", func() bool { return slices.Equal(b.targets("blog"), []string{addr}) })
}

// docker kill -s HUP (a reload, log reopening) signals the container but
// does not stop it: it stays routed. Were it dropped as going away, it
// would stay out of the route until the going-away mark expired (a
// minute) and a reconcile ran.
func TestSignalThatDoesNotStopTheContainerKeepsItRouted(t *testing.T) {
	b := newBed(t)
	id, addr := b.run("blog", 1, nil)
	b.refresh("blog")
	if err := b.engine.Signal(id, 1); err != nil { // SIGHUP
		t.Fatal(err)
	}
	b.settle()
	if got := b.targets("blog"); !slices.Equal(got, []string{addr}) {
		t.Fatalf("targets %v after a SIGHUP, want the running container [%s]", got, addr)
	}
}

// docker kill (SIGKILL), kill -s TERM and docker stop with an image's
// own STOPSIGNAL (httpd's WINCH, nginx's QUIT, INT) take the address out
// at once, before the container has exited.
func TestKillThatStopsTheContainerDropsTheAddress(t *testing.T) {
	for _, sig := range []int{9, 15, 28, 3, 2} {
		b := newBed(t)
		id, _ := b.run("blog", 1, nil)
		b.refresh("blog")
		if err := b.engine.Signal(id, sig); err != nil {
			t.Fatal(err)
		}
		b.eventually("the killed container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	}
}

// At debug level each event and the route its refresh wrote are logged,
// so that a slow convergence can be traced (Caddy's debug option): a
// start leaves a line with the container and one with its address.
func TestStartEventAndItsRouteAreLoggedAtDebug(t *testing.T) {
	b := newBed(t)
	id, addr := b.start("blog", 1, nil)
	b.eventually("the start and its route are logged", func() bool {
		return b.logged(`msg="container event" app=blog action=start container=`+id) == 1 &&
			b.logged(`msg="routes refreshed" app=blog targets=[`+addr+`] running=1`) > 0
	})
}
