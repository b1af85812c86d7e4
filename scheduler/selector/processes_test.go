package selector_test

import (
	"testing"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/store"
)

// remote is a fake scheduler whose processes are not containers of
// Berth's engine (as swarm's tasks).
type remote struct {
	fake
	platform.Processes
}

func TestProcessesOfIsTheRunningSchedulersOnlyWhenItRunsProcessesElsewhere(t *testing.T) {
	var calls []string
	sw := remote{fake: fake{name: "swarm", calls: &calls}}
	sel := selector.New(platform.SchedulerDeps{}, &store.Files{Dir: t.TempDir()}, map[string]platform.Scheduler{
		selector.DockerLocal: fake{name: "docker-local", calls: &calls},
		selector.Swarm:       sw,
	})
	// Selected swarm, not deployed since: docker-local's containers.
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm}
	if p := platform.ProcessesOf(sel, a); p != nil {
		t.Fatalf("docker-local app: %v", p)
	}
	a.SchedulerRan = selector.Swarm
	if p := platform.ProcessesOf(sel, a); p == nil {
		t.Fatal("swarm app: nil")
	}
}
