package selector_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/store"
)

// fake is a scheduler that records the calls it gets.
type fake struct {
	name  string
	calls *[]string
	fail  bool
}

func (f fake) note(what string) { *f.calls = append(*f.calls, f.name+" "+what) }
func (f fake) Rollout(_ context.Context, a *platform.App, _ platform.Release, _ io.Writer) error {
	// The record the rollout's switch saves names who runs it.
	f.note("rollout " + a.Name + " ran=" + a.SchedulerRan)
	if f.fail {
		return errors.New("the new tasks failed")
	}
	return nil
}
func (f fake) Scale(_ context.Context, a *platform.App, _ platform.Release, _ map[string]int, _ io.Writer) error {
	f.note("scale " + a.Name)
	return nil
}
func (f fake) Stop(_ context.Context, a *platform.App, _ io.Writer) error {
	f.note("stop " + a.Name)
	return nil
}
func (f fake) Start(_ context.Context, a *platform.App, _ platform.Release, _ io.Writer) (bool, error) {
	f.note("start " + a.Name)
	return true, nil
}
func (f fake) Remove(_ context.Context, a *platform.App, _ bool) error {
	f.note("remove " + a.Name)
	return nil
}
func (f fake) Run()           {}
func (f fake) Close()         {}
func (f fake) Preempt(string) {}
func (f fake) FormationNote(string, int) (platform.FormationNote, bool) {
	return platform.FormationNote{}, false
}

type rig struct {
	calls []string
	saves int
	st    store.Store
	sel   *selector.Selector
}

func newRig(t *testing.T) *rig {
	noDrainDelay(t)
	r := &rig{st: &store.Files{Dir: t.TempDir()}}
	deps := platform.SchedulerDeps{Save: func(context.Context, *platform.App) error { r.saves++; return nil }}
	r.sel = selector.New(deps, r.st, map[string]platform.Scheduler{
		selector.DockerLocal: fake{name: "docker-local", calls: &r.calls},
		selector.Swarm:       fake{name: "swarm", calls: &r.calls},
	})
	return r
}

func TestADefaultAppRunsOnDockerLocalAndItsRecordStaysAsItWas(t *testing.T) {
	r := newRig(t)
	a := &platform.App{Name: "blog"}
	if err := r.sel.Rollout(context.Background(), a, platform.Release{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.calls, ";") != "docker-local rollout blog ran=" || r.saves != 0 || a.SchedulerRan != "" {
		t.Fatalf("calls %q, saves %d, ran %q", r.calls, r.saves, a.SchedulerRan)
	}
}

func TestARolloutOntoANewSchedulerRemovesWhatTheOldOneRan(t *testing.T) {
	r := newRig(t)
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm, Current: 1}
	if err := r.sel.Rollout(context.Background(), a, platform.Release{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if strings.Join(r.calls, ";") != "swarm rollout blog ran=swarm;docker-local remove blog" || a.SchedulerRan != selector.Swarm {
		t.Fatalf("calls %q, saves %d, ran %q", r.calls, r.saves, a.SchedulerRan)
	}
}

func TestScaleStopStartGoToTheSchedulerThatRunsTheAppUntilTheNextRollout(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	// Selected swarm, not deployed since: docker-local still runs it.
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm}
	r.sel.Scale(ctx, a, platform.Release{}, map[string]int{"web": 2}, io.Discard)
	r.sel.Stop(ctx, a, io.Discard)
	r.sel.Start(ctx, a, platform.Release{}, io.Discard)
	a.SchedulerRan = selector.Swarm
	r.sel.Scale(ctx, a, platform.Release{}, map[string]int{"web": 2}, io.Discard)
	want := "docker-local scale blog;docker-local stop blog;docker-local start blog;swarm scale blog"
	if got := strings.Join(r.calls, ";"); got != want {
		t.Fatalf("calls %q, want %q", got, want)
	}
}

func TestTheGlobalSettingAppliesToAppsThatSelectNone(t *testing.T) {
	r := newRig(t)
	ctx := context.Background()
	if err := r.st.Put(ctx, "settings/global", []byte(`{"scheduler":"swarm","builder":"pack"}`)); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		own, want string
	}{{"", selector.Swarm}, {selector.DockerLocal, selector.DockerLocal}} {
		got, err := r.sel.Selected(ctx, &platform.App{Name: "blog", Scheduler: c.own})
		if err != nil || got != c.want {
			t.Fatalf("own %q: selected %q (%v), want %q", c.own, got, err, c.want)
		}
	}
}

func TestRemoveGoesToEveryScheduler(t *testing.T) {
	r := newRig(t)
	if err := r.sel.Remove(context.Background(), &platform.App{Name: "blog"}, false); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.calls, ";"); got != "docker-local remove blog;swarm remove blog" {
		t.Fatalf("calls %q", got)
	}
}

func TestAFailedRolloutLeavesTheRecordOnTheOldScheduler(t *testing.T) {
	var calls []string
	sel := selector.New(platform.SchedulerDeps{}, &store.Files{Dir: t.TempDir()}, map[string]platform.Scheduler{
		selector.DockerLocal: fake{"docker-local", &calls, false},
		selector.Swarm:       fake{"swarm", &calls, true},
	})
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm}
	if err := sel.Rollout(context.Background(), a, platform.Release{}, io.Discard); err == nil {
		t.Fatal("no error")
	}
	if a.SchedulerRan != "" || strings.Join(calls, ";") != "swarm rollout blog ran=swarm" {
		t.Fatalf("ran %q, calls %q", a.SchedulerRan, calls)
	}
}

func TestAFirstDeployOntoSwarmRemovesNothingElsewhere(t *testing.T) {
	r := newRig(t)
	a := &platform.App{Name: "blog", Scheduler: selector.Swarm}
	if err := r.sel.Rollout(context.Background(), a, platform.Release{}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(r.calls, ";"); got != "swarm rollout blog ran=swarm" || a.SchedulerRan != selector.Swarm {
		t.Fatalf("calls %q, ran %q", got, a.SchedulerRan)
	}
}
