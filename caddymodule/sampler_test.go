package caddymodule

import (
	"context"
	"math"
	"slices"
	"testing"
	"time"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// A tick whose budget runs out part way keeps the counts and CPU
// baselines of the apps it did not reach, and starts with them next.
func TestSamplerKeepsAppsItDidNotReach(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tick := 0
	var cancelTick context.CancelFunc
	var visited []string
	s := containerSampler{
		report: func(ctx context.Context, app string) ([]platform.ProcessStatus, error) {
			if tick == 2 && app == "b" {
				cancelTick() // the budget runs out here
			}
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			visited = append(visited, app)
			return []platform.ProcessStatus{{Name: app + ".web.1", Type: "web", State: "running", Started: t0.Add(-time.Hour)}}, nil
		},
		usage: func(ctx context.Context, name string) (docker.Usage, error) {
			if ctx.Err() != nil {
				return docker.Usage{}, ctx.Err()
			}
			// One core busy since t0, idle for the hour before.
			at := t0.Add(time.Duration(tick) * 30 * time.Second)
			return docker.Usage{CPU: at.Sub(t0), Memory: 1 << 20, Read: at}, nil
		},
	}
	apps := []string{"a", "b", "c"}
	run := func() ([]appmetrics.ContainerCount, map[string]float64) {
		tick++
		visited = nil
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		cancelTick = cancel
		cpu := map[string]float64{}
		out := s.sample(ctx, apps, func(app string, u appmetrics.Usage) { cpu[app] = u.CPU })
		return out, cpu
	}
	names := func(cs []appmetrics.ContainerCount) []string {
		var n []string
		for _, c := range cs {
			n = append(n, c.App)
		}
		slices.Sort(n)
		return n
	}
	if out, _ := run(); !slices.Equal(names(out), apps) {
		t.Fatalf("tick 1: %v", out)
	}
	out, cpu := run()
	if !slices.Equal(visited, []string{"a"}) || len(cpu) != 1 {
		t.Fatalf("tick 2 visited %v (usage of %v), want a alone", visited, cpu)
	}
	if !slices.Equal(names(out), apps) {
		t.Errorf("tick 2: the apps it did not reach lost their counts: %v", out)
	}
	if _, ok := s.prev["c"]["c.web.1"]; !ok {
		t.Error("tick 2: c's CPU baseline is lost")
	}
	// Tick 3 starts where tick 2 stopped, and b's CPU comes from its
	// baseline (1 core), which tick 2 kept.
	_, cpu = run()
	if !slices.Equal(visited, []string{"b", "c", "a"}) {
		t.Errorf("tick 3 visited %v, want b first", visited)
	}
	if math.Abs(cpu["b"]-1) > 1e-9 || math.Abs(cpu["c"]-1) > 1e-9 {
		t.Errorf("tick 3 CPU: %v", cpu)
	}
	// A gone app goes from the counts.
	apps = []string{"a"}
	if out, _ := run(); !slices.Equal(names(out), []string{"a"}) {
		t.Errorf("after b and c are gone: %v", out)
	}
}

// stop returns only once the sampler has: Destruct closes what it uses.
func TestStopSamplerWaitsForIt(t *testing.T) {
	ended := false
	stop := startSampler(func(ctx context.Context) {
		<-ctx.Done()
		time.Sleep(10 * time.Millisecond) // a last Docker call finishing
		ended = true
	})
	stop()
	if !ended {
		t.Error("stop returned while the sampler still ran")
	}
}

// A sample gives each running container's figures, and their sums.
func TestSamplerGivesEachContainer(t *testing.T) {
	t0 := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := containerSampler{
		report: func(ctx context.Context, app string) ([]platform.ProcessStatus, error) {
			return []platform.ProcessStatus{
				{Name: "a.web.1", Type: "web", State: "running", Started: t0.Add(-10 * time.Second)},
				{Name: "a.web.2", Type: "web", State: "running", Started: t0.Add(-10 * time.Second)},
				{Name: "a.worker.1", Type: "worker", State: "exited"},
			}, nil
		},
		usage: func(ctx context.Context, name string) (docker.Usage, error) {
			// web.1 was busy 5 of its 10 seconds, web.2 1 of them.
			cpu := 5 * time.Second
			if name == "a.web.2" {
				cpu = time.Second
			}
			return docker.Usage{CPU: cpu, Memory: 1 << 20, Read: t0}, nil
		},
	}
	var got appmetrics.Usage
	s.sample(context.Background(), []string{"a"}, func(_ string, u appmetrics.Usage) { got = u })
	if len(got.Containers) != 2 || got.Containers[0].Name != "a.web.1" || got.Containers[1].Name != "a.web.2" {
		t.Fatalf("containers = %+v, want web.1 and web.2 (the exited one has none)", got.Containers)
	}
	if math.Abs(got.Containers[0].CPU-.5) > 1e-9 || math.Abs(got.Containers[1].CPU-.1) > 1e-9 || math.Abs(got.CPU-.6) > 1e-9 {
		t.Errorf("CPU = %v (web.1 %v, web.2 %v), want .6 (.5, .1)", got.CPU, got.Containers[0].CPU, got.Containers[1].CPU)
	}
	if got.Memory != 2<<20 {
		t.Errorf("memory = %d, want the sum of both", got.Memory)
	}
}

// A swarm app's tasks are counted, and Docker's stats are not asked for
// them: they are no containers of Berth's engine.
func TestSamplerCountsSwarmTasksWithoutStats(t *testing.T) {
	asked := 0
	s := containerSampler{
		report: func(ctx context.Context, app string) ([]platform.ProcessStatus, error) {
			return []platform.ProcessStatus{{Name: "blog_web_3.1", Type: "web", State: "running", Node: "worker-1"}}, nil
		},
		usage: func(ctx context.Context, name string) (docker.Usage, error) {
			asked++
			return docker.Usage{}, nil
		},
	}
	out := s.sample(context.Background(), []string{"blog"}, func(string, appmetrics.Usage) {})
	if len(out) != 1 || out[0].N != 1 || out[0].State != "running" {
		t.Fatalf("counts %+v", out)
	}
	if asked != 0 {
		t.Fatalf("stats asked %d times for a swarm task", asked)
	}
}

// A swarm app's task figures come from its scheduler (each task's own
// node's engine), once per app per tick; a task it has none of gives none.
func TestSamplerGivesSwarmTasksTheirSchedulersFigures(t *testing.T) {
	asked := 0
	s := containerSampler{
		report: func(ctx context.Context, app string) ([]platform.ProcessStatus, error) {
			return []platform.ProcessStatus{
				{Name: "blog_web_3.1", Type: "web", Index: 1, State: "running", Node: "worker-1"},
				{Name: "blog_web_3.2", Type: "web", Index: 2, State: "running", Node: "worker-2"},
			}, nil
		},
		usage: func(ctx context.Context, name string) (docker.Usage, error) {
			t.Errorf("Berth's engine asked for %s", name)
			return docker.Usage{}, nil
		},
		taskUsages: func(ctx context.Context, app string) (map[string]docker.Usage, error) {
			asked++
			return map[string]docker.Usage{"blog_web_3.1": {CPU: time.Second, Memory: 5 << 20, Read: time.Now()}}, nil
		},
	}
	var got appmetrics.Usage
	s.sample(context.Background(), []string{"blog"}, func(_ string, u appmetrics.Usage) { got = u })
	if asked != 1 {
		t.Fatalf("task figures asked %d times; want once per app", asked)
	}
	if len(got.Containers) != 1 || got.Containers[0].Name != "blog_web_3.1" || got.Memory != 5<<20 {
		t.Fatalf("usage %+v", got)
	}
}
