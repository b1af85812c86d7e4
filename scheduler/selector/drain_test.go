package selector_test

import (
	"bytes"
	"context"
	"strings"
	"sync"
	"testing"

	"io"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/store"
)

// waitingLog is a rollout's log that says when the drain waits.
type waitingLog struct {
	once    sync.Once
	waiting chan struct{}
}

func (w *waitingLog) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte("waiting for 1 in-flight request(s) to finish")) {
		w.once.Do(func() { close(w.waiting) })
	}
	return len(p), nil
}

// An app that moves to another scheduler: what the old one ran is
// removed only once the requests it was serving when the route moved
// have finished (the routing table's in-flight count), not after a fixed
// pause.
func TestAMoveRemovesTheOldProcessesOnceTheirRequestsFinished(t *testing.T) {
	noDrainDelay(t)
	// The fakes note their calls unlocked: the swarm rollout's note comes
	// before the log's "waiting" line (the channel orders them), the
	// removal's before Rollout returns.
	var calls []string
	table := routing.New()
	table.SetTargets("blog", []string{"10.0.0.5:5000"})
	sel := selector.New(platform.SchedulerDeps{Table: table}, &store.Files{Dir: t.TempDir()}, map[string]platform.Scheduler{
		selector.DockerLocal: fake{name: "docker-local", calls: &calls},
		selector.Swarm:       fake{name: "swarm", calls: &calls},
	})
	done := table.InFlight.Begin("10.0.0.5:5000")
	log := &waitingLog{waiting: make(chan struct{})}
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm, Current: 1}
	finished := make(chan error, 1)
	go func() { finished <- sel.Rollout(context.Background(), a, platform.Release{}, log) }()
	select {
	case err := <-finished:
		t.Fatalf("rollout ended (%v) with a request in flight", err)
	case <-log.waiting:
	}
	if got := strings.Join(calls, ";"); got != "swarm rollout blog ran=swarm" {
		t.Fatalf("calls %q while a request is in flight", got)
	}
	done()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(calls, ";"); got != "swarm rollout blog ran=swarm;docker-local remove blog" {
		t.Fatalf("calls %q", got)
	}
}

// noDrainDelay sets platform.DrainDelay to 0 for t alone.
func noDrainDelay(t *testing.T) {
	old := platform.DrainDelay
	platform.DrainDelay = 0
	t.Cleanup(func() { platform.DrainDelay = old })
}

// switcher is a scheduler whose rollout runs during (what happens
// meanwhile), then switches as the real ones do: it saves the record
// (deps.Save) and moves the route to its own target.
type switcher struct {
	fake
	save   func(context.Context, *platform.App) error
	table  *routing.Table
	during func()
}

func (f switcher) Rollout(ctx context.Context, a *platform.App, _ platform.Release, _ io.Writer) error {
	f.note("rollout " + a.Name)
	f.during()
	if err := f.save(ctx, a); err != nil {
		return err
	}
	f.table.SetTargets(a.Name, []string{"10.0.1.9:5000"})
	return nil
}

// A target the old scheduler starts while the rollout runs (a crashed
// container replaced) is drained too: the targets drained are those the
// route served when the switch saved the record, not when the rollout
// began.
func TestAMoveDrainsATargetThatAppearedDuringTheRollout(t *testing.T) {
	noDrainDelay(t)
	var calls []string
	table := routing.New()
	table.SetTargets("blog", []string{"10.0.0.5:5000"})
	var done func()
	deps := platform.SchedulerDeps{Table: table, Save: func(context.Context, *platform.App) error { return nil }}
	sel := selector.Build(deps, &store.Files{Dir: t.TempDir()}, func(deps platform.SchedulerDeps) map[string]platform.Scheduler {
		return map[string]platform.Scheduler{
			selector.DockerLocal: fake{name: "docker-local", calls: &calls},
			selector.Swarm: switcher{fake: fake{name: "swarm", calls: &calls}, save: deps.Save, table: table, during: func() {
				table.SetTargets("blog", []string{"10.0.0.5:5000", "10.0.0.6:5000"})
				done = table.InFlight.Begin("10.0.0.6:5000")
			}},
		}
	})
	log := &waitingLog{waiting: make(chan struct{})}
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm, Current: 1}
	finished := make(chan error, 1)
	go func() { finished <- sel.Rollout(context.Background(), a, platform.Release{}, log) }()
	select {
	case err := <-finished:
		t.Fatalf("rollout ended (%v) with a request in flight on a target that appeared during it (calls %q)", err, calls)
	case <-log.waiting:
	}
	done()
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(calls, ";"); got != "swarm rollout blog;docker-local remove blog" {
		t.Fatalf("calls %q", got)
	}
}
