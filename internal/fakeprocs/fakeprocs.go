// Package fakeprocs is, for unit tests, a scheduler that runs some apps'
// processes elsewhere than in containers of Berth's engine (as the swarm
// scheduler's tasks): platform.ProcessesOf finds a Processes in memory for
// them, and nil (docker-local's containers) for the others.
package fakeprocs

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// Scheduler is Scheduler (the wrapped one; may be nil when only
// ProcessesOf is called) whose apps named in Remote run on Processes.
type Scheduler struct {
	platform.Scheduler
	Remote    map[string]bool
	Processes *Processes
}

// ProcessesOf is the seam platform.ProcessesOf asks.
func (s *Scheduler) ProcessesOf(a *platform.App) platform.Processes {
	if s.Remote[a.Name] {
		return s.Processes
	}
	return nil
}

// Processes answers with what the test put in it and notes what it was
// asked.
type Processes struct {
	mu sync.Mutex
	// List is what Statuses returns.
	List []platform.ProcessStatus
	// Output is each process's ("web.1") output, lines "TIMESTAMP text".
	Output map[string]string
	// Target and TargetErr are EnterTarget's answer.
	Target    platform.ExecTarget
	TargetErr error
	// Usage is what Usages returns.
	Usage map[string]docker.Usage
	// Asked are the calls made: "statuses", "logs web.1 tail=N follow=B",
	// "enter PROCESS".
	Asked []string
}

func (p *Processes) note(s string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.Asked = append(p.Asked, s)
}

// Calls returns the calls made so far.
func (p *Processes) Calls() []string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Clone(p.Asked)
}

func (p *Processes) Statuses(context.Context, *platform.App) ([]platform.ProcessStatus, error) {
	p.note("statuses")
	return slices.Clone(p.List), nil
}

// LogStreams gives one stream per Output entry, in dyno order; a stream
// writes the last tail lines and ignores follow.
func (p *Processes) LogStreams(context.Context, *platform.App) ([]platform.LogStream, error) {
	var out []platform.LogStream
	for _, dyno := range slices.Sorted(maps.Keys(p.Output)) {
		typ, idx, _ := strings.Cut(dyno, ".")
		var n int
		fmt.Sscan(idx, &n)
		text := p.Output[dyno]
		out = append(out, platform.LogStream{Type: typ, Index: n, Stream: func(_ context.Context, tail int, follow bool, w io.Writer) error {
			p.note(fmt.Sprintf("logs %s tail=%d follow=%t", dyno, tail, follow))
			// Whole lines, each with its newline, as Docker writes them:
			// nothing at all for tail 0.
			lines := strings.SplitAfter(text, "\n")
			if lines[len(lines)-1] == "" {
				lines = lines[:len(lines)-1]
			}
			if tail >= 0 && tail < len(lines) {
				lines = lines[len(lines)-tail:]
			}
			_, err := io.WriteString(w, strings.Join(lines, ""))
			return err
		}})
	}
	return out, nil
}

func (p *Processes) EnterTarget(_ context.Context, _ *platform.App, process string) (platform.ExecTarget, error) {
	p.note("enter " + process)
	return p.Target, p.TargetErr
}

func (p *Processes) Usages(context.Context, *platform.App) (map[string]docker.Usage, error) {
	p.note("usages")
	return maps.Clone(p.Usage), nil
}
