package routes

import (
	"testing"

	"github.com/berth-paas/berth/routing"
)

type oneTask struct{}

func (oneTask) Targets(string, int) ([]Target, bool) {
	return []Target{{ID: "task1", Addr: "10.0.0.9:30001"}}, true
}

// targetOf serves container events (dropTarget); a target source's tasks
// have none, so an entry for one would never be dropped: every task a
// swarm app ever had would stay in the map.
func TestASourcedTargetIsNotKeptForContainerEvents(t *testing.T) {
	c := New(nil, routing.New(), nil, nil)
	c.SetTargetSource(oneTask{})
	cands, elsewhere := c.sourced("sw", 1)
	if !elsewhere {
		t.Fatal("the source does not run the app")
	}
	c.mu.Lock()
	targets := c.liveLocked(cands)
	kept := len(c.targetOf)
	c.mu.Unlock()
	if len(targets) != 1 || kept != 0 {
		t.Fatalf("targets %v, %d kept in targetOf; want the task routed and nothing kept", targets, kept)
	}
}
