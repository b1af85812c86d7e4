package caddymodule

import (
	"context"
	"errors"
	"time"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// containerSampler is what the metrics sampler keeps between ticks: each
// app's container counts and its running containers' last stats (the CPU
// baseline). A tick has one time budget for every app; when it runs out
// (a slow Docker, many apps), the apps it did not reach keep what the
// last tick found, rather than dropping out of the counts and losing
// their CPU baselines, and the next tick starts with them.
type containerSampler struct {
	report func(ctx context.Context, app string) ([]platform.ProcessStatus, error)
	usage  func(ctx context.Context, container string) (docker.Usage, error)
	// taskUsages are the figures of an app's processes that are not
	// containers of Berth's engine (swarm tasks, each read from its own
	// node's engine), by process name; nil: none.
	taskUsages func(ctx context.Context, app string) (map[string]docker.Usage, error)

	counts map[string][]appmetrics.ContainerCount // by app
	prev   map[string]map[string]docker.Usage     // by app, then container
	next   string                                 // the app to start the next tick with
}

// sample visits apps (every app there is, in a stable order) until ctx
// ends, gives addUsage each visited app's CPU and memory, and returns
// every app's container counts.
func (s *containerSampler) sample(ctx context.Context, apps []string, addUsage func(string, appmetrics.Usage)) []appmetrics.ContainerCount {
	start := 0
	for i, a := range apps {
		if a == s.next {
			start = i
		}
	}
	counts := make(map[string][]appmetrics.ContainerCount, len(apps))
	prev := make(map[string]map[string]docker.Usage, len(apps))
	s.next = ""
	for i := range apps {
		app := apps[(start+i)%len(apps)]
		procs, err := s.report(ctx, app)
		if err != nil || ctx.Err() != nil {
			// Not reached (or not readable) this time: the last figures
			// stay, and an app the budget did not reach goes first next.
			counts[app], prev[app] = s.counts[app], s.prev[app]
			if ctx.Err() != nil && s.next == "" {
				s.next = app
			}
			continue
		}
		n := map[[2]string]int{}
		var sum appmetrics.Usage
		running := 0
		seen := map[string]docker.Usage{}
		// A swarm task (Node set) is no container of Berth's engine, and
		// may run on another node: its figures come from its scheduler,
		// which reads each task's own engine, once per app.
		var tasks map[string]docker.Usage
		tasksRead := false
		for _, p := range procs {
			n[[2]string{p.Type, p.State}]++
			if p.State != "running" {
				continue
			}
			var u docker.Usage
			var err error
			if p.Node != "" {
				if !tasksRead && s.taskUsages != nil {
					tasks, _ = s.taskUsages(ctx, app)
				}
				tasksRead = true
				var ok bool
				if u, ok = tasks[p.Name]; !ok {
					err = errNoFigures
				}
			} else {
				u, err = s.usage(ctx, p.Name)
			}
			if err != nil {
				if old, ok := s.prev[app][p.Name]; ok {
					seen[p.Name] = old // its baseline stays for next time
				}
				continue
			}
			running++
			seen[p.Name] = u
			c := appmetrics.ContainerUsage{Name: p.Name, Memory: u.Memory}
			// Cores over the time since the last sample, or since the
			// container started for one not seen before (or restarted:
			// its counter began again).
			if old, ok := s.prev[app][p.Name]; ok && u.CPU >= old.CPU && u.Read.After(old.Read) {
				c.CPU = (u.CPU - old.CPU).Seconds() / u.Read.Sub(old.Read).Seconds()
			} else if up := u.Read.Sub(p.Started); up > 0 {
				c.CPU = u.CPU.Seconds() / up.Seconds()
			}
			sum.CPU += c.CPU
			sum.Memory += c.Memory
			sum.Containers = append(sum.Containers, c)
		}
		var cs []appmetrics.ContainerCount
		for k, v := range n {
			cs = append(cs, appmetrics.ContainerCount{App: app, Process: k[0], State: k[1], N: v})
		}
		counts[app], prev[app] = cs, seen
		if running > 0 {
			sum.At = time.Now()
			addUsage(app, sum)
		}
	}
	s.counts, s.prev = counts, prev
	var out []appmetrics.ContainerCount
	for _, app := range apps {
		out = append(out, counts[app]...)
	}
	return out
}

// errNoFigures: a task whose engine Berth does not reach.
var errNoFigures = errors.New("no figures of this task")

// startSampler runs run in a goroutine until the returned stop is
// called; stop returns once run has (Destruct must not leave a sampler
// using a closed Docker client or platform).
func startSampler(run func(ctx context.Context)) (stop func()) {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx)
	}()
	return func() {
		cancel()
		<-done
	}
}
