package routes_test

import (
	"slices"
	"sync"
	"testing"

	"github.com/berth-paas/berth/routes"
)

// source is a target source that runs the apps in its map.
type source struct {
	mu sync.Mutex
	m  map[string][]routes.Target // by app, of generation 2
}

func (s *source) Targets(app string, generation int) ([]routes.Target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	ts, ok := s.m[app]
	return ts, ok && generation == 2
}

func TestAnAppTheTargetSourceRunsIsRoutedToItsTargets(t *testing.T) {
	b := newBed(t)
	_, old := b.run("blog", 1, nil)
	b.c.SetTargetSource(&source{m: map[string][]routes.Target{"blog": {{ID: "task1", Addr: "10.0.0.9:30001"}}}})
	b.apps.set("blog", routes.App{Generation: 2, Hosts: []string{"blog.example.test"}})
	b.refresh("blog")
	if got := b.targets("blog"); !slices.Equal(got, []string{"10.0.0.9:30001"}) {
		t.Fatalf("targets %v, want the source's (not %s)", got, old)
	}
	// A hidden target (checks pending, draining) takes no traffic.
	b.c.Hide("task1")
	b.refresh("blog")
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v with the task hidden", got)
	}
}

func TestAnAppTheTargetSourceDoesNotRunIsRoutedToItsContainers(t *testing.T) {
	b := newBed(t)
	_, addr := b.run("blog", 1, nil)
	b.c.SetTargetSource(&source{m: map[string][]routes.Target{"blog": {{ID: "task1", Addr: "10.0.0.9:30001"}}}})
	b.refresh("blog")
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, []string{addr}) {
		t.Fatalf("targets %v, want the container's %s", got, addr)
	}
}

// A route's targets say whether they are the source's (Route.Remote):
// the tcp router serves no mapping on them, without reading the record.
// A refresh and a reconcile both write the mark with the targets, and
// take it away when the app's containers are routed again.
func TestTheRouteSaysItsTargetsAreRemoteWhenTheSourceRunsTheApp(t *testing.T) {
	b := newBed(t)
	b.run("blog", 1, nil)
	src := &source{m: map[string][]routes.Target{"blog": {{ID: "task1", Addr: "10.0.0.9:30001"}}}}
	b.c.SetTargetSource(src)
	remote := func() bool {
		r, ok := b.table.App("blog")
		return ok && r.Remote
	}
	b.refresh("blog")
	if remote() {
		t.Fatal("containers' route marked remote")
	}
	b.apps.set("blog", routes.App{Generation: 2, Hosts: []string{"blog.example.test"}})
	b.refresh("blog")
	if !remote() {
		t.Fatal("the source's targets not marked remote after a refresh")
	}
	// Even with no target (all hidden): the app runs elsewhere.
	b.c.Hide("task1")
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if !remote() {
		t.Fatal("not marked remote after a reconcile")
	}
	b.apps.set("blog", routes.App{Generation: 1, Hosts: []string{"blog.example.test"}})
	if err := b.c.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if remote() {
		t.Fatal("still marked remote once its containers are routed")
	}
}
