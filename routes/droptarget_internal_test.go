package routes

import (
	"runtime"
	"slices"
	"sync"
	"testing"

	"github.com/berth-paas/berth/routing"
)

// A die event's drop of an old container and a rollout's write of the new
// targets, at the same moment, end with the new targets whatever the
// order: the drop must not read the route and write it back less the
// dead address over the rollout's newer write (the old release would
// serve again after "vN is serving"). Without a hook to stop dropTarget
// between a read and a write (it must have none), the test races the two
// many times; before RemoveTarget it lost the rollout's write within a
// few thousand tries.
func TestDropTargetDoesNotUndoAConcurrentWrite(t *testing.T) {
	table := routing.New()
	c := New(nil, table, nil, nil)
	newTargets := []string{"10.0.1.1:5000", "10.0.1.2:5000"}
	for i := range 20000 {
		table.SetTargets("blog", []string{"10.0.0.1:5000", "10.0.0.2:5000"})
		c.mu.Lock()
		c.targetOf["a1"] = "10.0.0.1:5000"
		c.mu.Unlock()
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		go func() {
			defer wg.Done()
			<-start
			c.dropTarget("blog", "a1")
		}()
		go func() {
			defer wg.Done()
			<-start
			runtime.Gosched()
			table.SetTargets("blog", newTargets)
		}()
		close(start)
		wg.Wait()
		r, _ := table.App("blog")
		if !slices.Equal(r.Targets, newTargets) {
			t.Fatalf("try %d: targets %v after the drop and the rollout's write, want %v", i, r.Targets, newTargets)
		}
	}
}
