// Package applogs shows what apps write: the output of an app's running
// containers (logs, merged in time order or followed), the log of its last
// failed deploy (logs:failed), and the retention of its containers' logs
// (logs:set max-size, logs:report).
//
// It owns no document of its own: the containers' output is the engine's,
// the build logs are the deploy pipeline's build records, and the
// max-size setting stays on the app record (log_max_size, where it always
// was, so existing state reads unchanged), which the core turns into the
// containers' log options. So it follows no app's life either. It is given
// the engine and the app core at construction.
package applogs

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
)

// DefaultMaxLines is how many lines per container `logs -n` shows at most
// unless the Caddyfile's max_log_lines says otherwise.
const DefaultMaxLines = 10000

// Engine is what the logs need of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests).
type Engine interface {
	// List returns the IDs of the containers with all of labels.
	List(ctx context.Context, labels ...string) ([]string, error)
	Inspect(ctx context.Context, id string) (docker.Container, error)
	// StreamLogs copies the container's last tail lines (and, with
	// follow, what comes next) to w, each line "TIMESTAMP text".
	StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error
}

// Apps is what the logs need of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// UpdateApp changes the app's record under its lock; an error from
	// change leaves it as it was.
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
}

// Builds are the apps' build records (package deploy's Deployer).
type Builds interface {
	// Builds lists the app's kept builds, newest first; BuildOutput
	// returns one's record and log.
	Builds(ctx context.Context, app string) ([]platform.Build, error)
	BuildOutput(ctx context.Context, app string, id int) (platform.Build, io.ReadCloser, error)
}

// Config is what Logs are made from.
type Config struct {
	Engine Engine
	Apps   Apps
	// Builds are read by logs:failed.
	Builds Builds
	// MaxLines caps logs -n (SetMaxLines); 0 means DefaultMaxLines.
	MaxLines int
	// Scheduler is the platform's: an app whose processes another
	// scheduler runs (swarm's tasks) has its output read through it
	// (platform.ProcessesOf). nil: every app's processes are containers
	// of Engine.
	Scheduler platform.Scheduler
}

// Logs shows the apps' output. Its methods are safe for concurrent use.
type Logs struct {
	engine   Engine
	apps     Apps
	builds   Builds
	sched    platform.Scheduler
	maxLines atomic.Int64
}

// New returns the logs of cfg.Apps' apps, read from cfg.Engine.
func New(cfg Config) *Logs {
	l := &Logs{engine: cfg.Engine, apps: cfg.Apps, builds: cfg.Builds, sched: cfg.Scheduler}
	l.SetMaxLines(cfg.MaxLines)
	return l
}

// SetMaxLines sets how many lines per container Show shows at most (the
// Caddyfile's max_log_lines, which a reload may change); n <= 0 means
// DefaultMaxLines.
func (l *Logs) SetMaxLines(n int) {
	if n <= 0 {
		n = DefaultMaxLines
	}
	l.maxLines.Store(int64(n))
}

// MaxLines is the most lines per container logs shows (SetMaxLines).
func (l *Logs) MaxLines() int { return l.linesCap() }

func (l *Logs) linesCap() int {
	if n := l.maxLines.Load(); n > 0 {
		return int(n)
	}
	return DefaultMaxLines
}

// Options select what Show shows.
type Options struct {
	// Lines is how many lines of each container to show first; negative
	// means all (which is capped at the maximum, see SetMaxLines).
	Lines int
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
	// Process limits the output to one process type ("web") or one
	// container ("web.1").
	Process string
}

// Show writes the output of the app's running release, each line as
// Dokku does: "TIMESTAMP app[web.1]: line". Without Follow the lines of all
// containers are merged in time order as they are read (a k-way merge that
// holds one line per container), so memory does not grow with the logs.
// More lines per container than the maximum (or all of them, a negative
// Lines) are capped at the maximum, with a note on notes saying so.
func (l *Logs) Show(ctx context.Context, app string, opts Options, w, notes io.Writer) error {
	a, err := l.apps.App(ctx, app)
	if err != nil {
		return err
	}
	cs, err := l.streams(ctx, a)
	if err != nil {
		return err
	}
	cs = slices.DeleteFunc(cs, func(c platform.LogStream) bool {
		dyno := c.Type + "." + strconv.Itoa(c.Index)
		return opts.Process != "" && opts.Process != c.Type && opts.Process != dyno
	})
	if len(cs) == 0 {
		if opts.Process != "" {
			return fmt.Errorf("%s runs no %s container", app, opts.Process)
		}
		return fmt.Errorf("%s runs no container: push to it, or ps:scale it", app)
	}
	if max := l.linesCap(); opts.Lines < 0 || opts.Lines > max {
		fmt.Fprintf(notes, "berth: showing the last %d lines per container, the most logs shows (the max_log_lines option of the Caddyfile's berth block sets it); use -t to follow the output instead\n", max)
		opts.Lines = max
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	sources := make([]logSource, len(cs))
	for i, c := range cs {
		prefix := fmt.Sprintf("%s[%s.%d]: ", app, c.Type, c.Index)
		pr, pw := io.Pipe()
		// A pipe holds nothing: the engine's stream waits until the merge
		// takes the line it wrote.
		sources[i] = logSource{r: pr, prefix: prefix}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := c.Stream(ctx, opts.Lines, opts.Follow, pw)
			pw.CloseWithError(err)
			if err != nil {
				errs <- err
			}
		}()
	}
	var werr error
	if opts.Follow {
		werr = followLogs(w, sources)
	} else {
		werr = mergeLogs(w, sources)
	}
	// A writer that failed (the client went away) leaves streams unread:
	// end them.
	cancel()
	for _, s := range sources {
		s.r.CloseWithError(errOutputClosed)
	}
	wg.Wait()
	close(errs)
	if werr != nil {
		return werr
	}
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// streams are the outputs of a's processes of its current generation
// (its running release's), one-offs left out: those logs shows. A
// scheduler whose processes are not containers of Berth's engine (swarm)
// gives its own; docker-local's are the app's containers.
func (l *Logs) streams(ctx context.Context, a *platform.App) ([]platform.LogStream, error) {
	if pr := platform.ProcessesOf(l.sched, a); pr != nil {
		return pr.LogStreams(ctx, a)
	}
	cs, err := routes.AppContainers(ctx, l.engine, a.Name, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return nil, err
	}
	out := make([]platform.LogStream, len(cs))
	for i, c := range cs {
		index, _ := strconv.Atoi(c.Labels[docker.LabelIndex])
		out[i] = platform.LogStream{Type: c.Labels[docker.LabelProcess], Index: index,
			Stream: func(ctx context.Context, tail int, follow bool, w io.Writer) error {
				return l.engine.StreamLogs(ctx, c.ID, tail, follow, w)
			}}
	}
	return out, nil
}

// FailedDeploy writes the log of the app's latest failed deploy to w
// (Dokku's logs:failed); found is false when none of the builds Berth
// keeps failed.
func (l *Logs) FailedDeploy(ctx context.Context, app string, w io.Writer) (found bool, err error) {
	builds, err := l.builds.Builds(ctx, app)
	if err != nil {
		return false, err
	}
	for _, b := range builds {
		if b.Status != "failed" {
			continue
		}
		_, log, err := l.builds.BuildOutput(ctx, app, b.ID)
		if err != nil {
			return false, err
		}
		defer log.Close()
		_, err = io.Copy(w, log)
		return true, err
	}
	return false, nil
}
