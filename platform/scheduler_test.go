package platform_test

// The seam between the platform and its scheduler: the platform changes
// what runs only through platform.Scheduler, so a second scheduler
// (Swarm) plugs in without platform changes.

import (
	"context"
	"io"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// recorder is a platform.Scheduler that records which of its methods the
// platform calls, and runs them on the scheduler it wraps.
type recorder struct {
	platform.Scheduler
	mu    sync.Mutex
	calls []string
}

func (r *recorder) add(call string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call)
}

func (r *recorder) called() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.calls)
}

func (r *recorder) Rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	r.add("Rollout")
	return r.Scheduler.Rollout(ctx, a, rel, log)
}

func (r *recorder) Scale(ctx context.Context, a *platform.App, rel platform.Release, want map[string]int, log io.Writer) error {
	r.add("Scale")
	return r.Scheduler.Scale(ctx, a, rel, want, log)
}

func (r *recorder) Stop(ctx context.Context, a *platform.App, log io.Writer) error {
	r.add("Stop")
	return r.Scheduler.Stop(ctx, a, log)
}

func (r *recorder) Start(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) (bool, error) {
	r.add("Start")
	return r.Scheduler.Start(ctx, a, rel, log)
}

func (r *recorder) Remove(ctx context.Context, a *platform.App, grace bool) error {
	r.add("Remove")
	return r.Scheduler.Remove(ctx, a, grace)
}

func (r *recorder) Run() {
	r.add("Run")
	r.Scheduler.Run()
}

// Deploy, ps:scale, ps:stop, ps:start, ps:restart, rollback and destroy
// each reach the scheduler once, by the method that says what changes.
func TestEveryChangeOfWhatRunsGoesThroughTheScheduler(t *testing.T) {
	rec := &recorder{}
	b := newBedScheduled(t, nil, func(s platform.Scheduler) platform.Scheduler { rec.Scheduler = s; return rec })
	b.mustDeploy("blog", "app:v1")
	b.mustDeploy("blog", "app:v2")
	steps := []struct {
		what string
		do   func() error
	}{
		{"ps:scale", func() error { return b.scale("blog", map[string]int{"web": 2}) }},
		{"ps:stop", func() error { return b.d.StopApp(b.ctx, "blog", io.Discard) }},
		{"ps:start", func() error { _, err := b.d.StartApp(b.ctx, "blog", io.Discard); return err }},
		{"ps:restart", func() error { return b.d.Restart(b.ctx, "blog", io.Discard) }},
		{"releases:rollback", func() error { _, err := b.d.Rollback(b.ctx, "blog", 1, io.Discard); return err }},
		{"apps:destroy", func() error { return b.p.Destroy(b.ctx, "blog") }},
	}
	for _, s := range steps {
		if err := s.do(); err != nil {
			t.Fatalf("%s: %v", s.what, err)
		}
	}
	want := "Run Rollout Rollout Scale Stop Start Rollout Rollout Remove"
	if got := strings.Join(rec.called(), " "); got != want {
		t.Fatalf("the scheduler was called for %s, want %s", got, want)
	}
	for _, c := range b.engine.Containers() {
		if c.Labels[docker.LabelApp] == "blog" {
			t.Fatalf("container %s of the destroyed app is left", c.Name)
		}
	}
}
