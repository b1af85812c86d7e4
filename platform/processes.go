package platform

import (
	"context"
	"io"

	"github.com/berth-paas/berth/docker"
)

// Processes is what a scheduler whose processes are not containers of
// Berth's engine (the swarm scheduler's tasks, which may run on any node)
// tells the parts of Berth that show or reach an app's processes:
// ps:report, logs, enter, and the core's resume of exited containers.
// docker-local's processes are containers labelled with the app on
// Berth's engine, which those parts read themselves, as they always did;
// ProcessesOf says which way an app goes (issue 12's seam, issue 18).
type Processes interface {
	// Statuses lists a's processes of its current generation, as
	// ps:report shows them (State, Node and Address filled in).
	Statuses(ctx context.Context, a *App) ([]ProcessStatus, error)
	// LogStreams are the output of a's running processes of its current
	// generation, one per process.
	LogStreams(ctx context.Context, a *App) ([]LogStream, error)
	// EnterTarget is the container that runs process ("web" or "web.2";
	// the first of the type) of a's current generation, and the engine
	// it is on, for enter's exec; a clear error when no engine Berth
	// reaches has it.
	EnterTarget(ctx context.Context, a *App, process string) (ExecTarget, error)
	// Usages are the resource use of a's running processes of its
	// current generation, by their ProcessStatus.Name, for ps:report's
	// figures; a process whose engine Berth does not reach is left out.
	Usages(ctx context.Context, a *App) (map[string]docker.Usage, error)
}

// ExecTarget is a container to exec in and the engine it is on.
type ExecTarget struct {
	Container string
	// Engine is the container's engine; nil: Berth's own.
	Engine Execer
}

// Execer runs a command in a container (docker.Client's ExecAttached).
type Execer interface {
	ExecAttached(ctx context.Context, id string, cmd, env []string, s docker.Streams) (int, error)
}

// LogStream is one process's output.
type LogStream struct {
	Type  string
	Index int
	// Stream copies the process's last tail lines (all when tail < 0)
	// and, with follow, what comes next until ctx ends, to w, each line
	// "TIMESTAMP text" as Docker's container logs write them.
	Stream func(ctx context.Context, tail int, follow bool, w io.Writer) error
}

// processesFinder is a scheduler that runs some apps' processes
// elsewhere than in containers of Berth's engine (scheduler/selector).
type processesFinder interface {
	ProcessesOf(a *App) Processes
}

// ProcessesOf returns the Processes of the scheduler s (the platform's)
// that runs a's current generation, or nil when a's processes are
// containers of Berth's engine (docker-local, or a scheduler that says
// nothing), which the caller reads as it always did.
func ProcessesOf(s Scheduler, a *App) Processes {
	if f, ok := s.(processesFinder); ok {
		return f.ProcessesOf(a)
	}
	return nil
}
