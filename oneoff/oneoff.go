// Package oneoff owns the one-off containers a user starts: run (attached
// to the SSH session, removed when it ends), run:detached, run:list,
// run:stop, run:logs, and enter (a command inside a running process
// container). Dokku's run, enter and run:* commands.
//
// It owns no record: its containers are the engine's, found by their
// labels (docker.LabelOneOff=APP and docker.LabelRun=attached|detached),
// and the engine stamps them with this Berth's instance ID like every
// container, so a second Berth on the engine never sees them. So it
// follows no app's life either: the core stops an app's run containers
// when it is destroyed or renamed, and removes the interrupted ones at
// start, by the same labels. What a one-off runs (the current release,
// its environment, the run phase's host options) it asks of the app core
// (Apps.RunBase); the deploy pipeline's own one-offs (predeploy, the
// release command) stay the pipeline's.
package oneoff

import (
	"context"
	"fmt"
	"io"
	"maps"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// Engine is what the one-offs need of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests).
type Engine interface {
	// RunAttached runs spec attached to s and removes it when it exits
	// or ctx ends (the SSH channel closed); it returns the exit status.
	RunAttached(ctx context.Context, spec docker.RunSpec, s docker.Streams) (int, error)
	// Run starts spec on its own and returns its ID.
	Run(ctx context.Context, spec docker.RunSpec) (string, error)
	// ListRunning lists the containers with all of labels, running or not.
	ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error)
	Stop(ctx context.Context, id string, timeout time.Duration) error
	// StreamLogs copies the container's last tail lines (and, with
	// follow, what comes next) to w, each line "TIMESTAMP text".
	StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error
	// ExecAttached runs cmd in the running container id, attached to s.
	ExecAttached(ctx context.Context, id string, cmd, env []string, s docker.Streams) (int, error)
	// List and Inspect find an app's process containers (enter).
	List(ctx context.Context, labels ...string) ([]string, error)
	Inspect(ctx context.Context, id string) (docker.Container, error)
}

// Apps is what the one-offs need of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// RunBase is what a one-off of the app's current release starts
	// from: its release, environment and the run phase's host options.
	RunBase(ctx context.Context, app string) (platform.RunBase, error)
	// ProcessGlobals are the global process settings (the stop timeout).
	ProcessGlobals() platform.ProcessGlobals
	// Limits are the Caddyfile's limits (max_scale bounds detached runs).
	Limits() platform.Limits
}

// Config is what a Runner is made from.
type Config struct {
	Engine Engine
	Apps   Apps
	// MaxLines is the most lines per container run:logs shows first (the
	// Caddyfile's max_log_lines, which logs shows too and a reload may
	// change); nil or a result <= 0 means no cap.
	MaxLines func() int
	// Scheduler is the platform's: enter reaches an app whose processes
	// another scheduler runs (swarm's tasks) through it
	// (platform.ProcessesOf). nil: every app's processes are containers
	// of Engine.
	Scheduler platform.Scheduler
}

// Runner starts, lists, stops and shows the apps' one-offs. Its methods
// are safe for concurrent use.
type Runner struct {
	engine   Engine
	apps     Apps
	maxLines func() int
	sched    platform.Scheduler

	// detachedMu makes Detached's count and start one step.
	detachedMu sync.Mutex
}

// New returns the Runner of cfg.Apps' one-offs on cfg.Engine.
func New(cfg Config) *Runner {
	return &Runner{engine: cfg.Engine, apps: cfg.Apps, maxLines: cfg.MaxLines, sched: cfg.Scheduler}
}

// Options are how a `run` one-off differs from the app's processes.
type Options struct {
	// Env is run's -e/--env KEY=VALUE: set for this one-off only, over
	// the app's config.
	Env map[string]string
	// Notes receives Berth's messages about the run ("Found 'console' in
	// Procfile"): stderr, so that stdout is the program's alone.
	Notes io.Writer
}

// Run runs cmd in a one-off container of the app's current release, with
// its config, attached to s, and returns the command's exit status
// (Dokku's run). A cmd of one word that names a Procfile process type
// runs that type's command, with the rest of cmd as its arguments, as
// Dokku's run does. The container is removed when it exits or ctx ends.
func (r *Runner) Run(ctx context.Context, app string, cmd []string, opts Options, s docker.Streams) (int, error) {
	spec, err := r.spec(ctx, app, cmd, opts, "attached")
	if err != nil {
		return 1, err
	}
	return r.engine.RunAttached(ctx, spec, s)
}

// Detached starts cmd like Run, in a container that runs on its own
// (Dokku's run:detached) and is removed when it exits; it returns the
// container's name, which run:list shows and run:stop takes.
func (r *Runner) Detached(ctx context.Context, app string, cmd []string, opts Options) (string, error) {
	// Detached runs count against max_scale, as a process type's
	// containers do: nothing else bounds them, and a deploy key may
	// start them. The count and the start are one step.
	r.detachedMu.Lock()
	defer r.detachedMu.Unlock()
	running, err := r.engine.ListRunning(ctx, docker.LabelRun+"=detached", docker.LabelOneOff+"="+app)
	if err != nil {
		return "", err
	}
	n := 0
	for _, c := range running {
		if c.Running {
			n++
		}
	}
	if limit := r.apps.Limits().MaxScale; n >= limit {
		return "", platform.Errorf(platform.ErrOverLimit, "%s already runs %d detached one-offs, the most Berth allows per app (the max_scale setting of the berth block in the Caddyfile); stop some with run:stop %s, or have the admin raise max_scale", app, n, app)
	}
	spec, err := r.spec(ctx, app, cmd, opts, "detached")
	if err != nil {
		return "", err
	}
	spec.AutoRemove = true
	if _, err := r.engine.Run(ctx, spec); err != nil {
		return "", err
	}
	return spec.Name, nil
}

// spec is the one-off container of a run: the current release's image,
// the app's config with opts.Env over it, the run phase's host options,
// and a name APP.run.NNNN (Dokku's), unique among the app's run
// containers.
func (r *Runner) spec(ctx context.Context, app string, cmd []string, opts Options, mode string) (docker.RunSpec, error) {
	base, err := r.apps.RunBase(ctx, app)
	if err != nil {
		return docker.RunSpec{}, err
	}
	existing, err := r.List(ctx, app)
	if err != nil {
		return docker.RunSpec{}, err
	}
	taken := map[string]bool{}
	for _, c := range existing {
		taken[c.Name] = true
	}
	var name string
	for {
		name = app + ".run." + strconv.Itoa(1000+rand.IntN(9000))
		if !taken[name] {
			break
		}
	}
	spec := docker.RunSpec{
		Name:        name,
		Image:       base.Release.Image,
		Env:         mergeEnv(base.Env, opts.Env),
		Labels:      map[string]string{docker.LabelOneOff: app, docker.LabelRun: mode},
		StopTimeout: base.StopTimeout,
		Host:        base.Host,
	}
	spec.Entrypoint, spec.Cmd = command(base.Release, cmd, opts.Notes)
	return spec, nil
}

// mergeEnv is env (KEY=VALUE) with over's variables replacing those of
// the same name, added in key order after the rest.
func mergeEnv(env []string, over map[string]string) []string {
	if len(over) == 0 {
		return env
	}
	env = slices.DeleteFunc(slices.Clone(env), func(kv string) bool {
		k, _, _ := strings.Cut(kv, "=")
		_, ok := over[k]
		return ok
	})
	for _, k := range slices.Sorted(maps.Keys(over)) {
		env = append(env, k+"="+over[k])
	}
	return env
}

// command is what a one-off of rel runs for cmd: a shell for none; the
// process type's command, with the rest of cmd as its arguments, when
// cmd's first word names one (said on notes); else cmd itself.
func command(rel platform.Release, cmd []string, notes io.Writer) (entrypoint, args []string) {
	switch {
	case len(cmd) == 0:
		return nil, []string{"/bin/sh"}
	case processType(rel, cmd[0]):
		if notes != nil {
			fmt.Fprintf(notes, "-----> Found '%s' in Procfile, running that command\n", cmd[0])
		}
		if argv, ok := rel.Launch[cmd[0]]; ok && len(argv) > 0 {
			return argv[:1], append(slices.Clone(argv[1:]), cmd[1:]...)
		}
		// The extra arguments reach the command as "$@", each as it was
		// given: none is read by the shell again.
		return nil, append([]string{"/bin/sh", "-c", rel.Processes[cmd[0]] + ` "$@"`, "sh"}, cmd[1:]...)
	default:
		return nil, cmd
	}
}

// processType reports whether name is one of the release's process
// types (its Procfile's, or its builder's launch entries).
func processType(rel platform.Release, name string) bool {
	if _, ok := rel.Processes[name]; ok {
		return true
	}
	argv, ok := rel.Launch[name]
	return ok && len(argv) > 0
}

// Container is a one-off of run or run:detached (run:list).
type Container struct {
	App     string    `json:"app"`
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Command string    `json:"command"`
	Created time.Time `json:"created_at"`
	ID      string    `json:"-"`
}

// List lists the running one-offs of run and run:detached: the app's, or
// every app's when app is "".
func (r *Runner) List(ctx context.Context, app string) ([]Container, error) {
	labels := []string{docker.LabelRun}
	if app != "" {
		if _, err := r.apps.App(ctx, app); err != nil {
			return nil, err
		}
		labels = append(labels, docker.LabelOneOff+"="+app)
	}
	cs, err := r.engine.ListRunning(ctx, labels...)
	if err != nil {
		return nil, err
	}
	out := []Container{}
	for _, c := range cs {
		if !c.Running || c.Labels[docker.LabelRun] == "" {
			continue
		}
		out = append(out, Container{
			App: c.Labels[docker.LabelOneOff], Name: c.Name, State: "running",
			Command: c.Command, Created: c.Created.UTC(), ID: c.ID,
		})
	}
	slices.SortFunc(out, func(x, y Container) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// Stop stops the app's running one-offs (run:stop APP), or the one named
// container (run:stop --container NAME, app ""), and returns the names
// it stopped. An attached run's session ends with the program's exit
// status; every run container is removed once it stops.
func (r *Runner) Stop(ctx context.Context, app, container string) ([]string, error) {
	all, err := r.List(ctx, app)
	if err != nil {
		return nil, err
	}
	var stop []Container
	for _, c := range all {
		if container == "" || c.Name == container {
			stop = append(stop, c)
		}
	}
	if container != "" && len(stop) == 0 {
		return nil, notNamed(app, container)
	}
	var names []string
	for _, c := range stop {
		timeout := platform.DefaultStopTimeoutSeconds * time.Second
		if a, err := r.apps.App(ctx, c.App); err == nil {
			timeout = platform.StopTimeoutOf(a, r.apps.ProcessGlobals())
		}
		// Stopped is enough: a detached run is removed by Docker when it
		// exits (AutoRemove), an attached one by its session.
		if err := r.engine.Stop(ctx, c.ID, timeout); err != nil {
			return names, err
		}
		names = append(names, c.Name)
	}
	return names, nil
}

// notNamed is the error of a --container that names no running run
// container (of app, when app is not "").
func notNamed(app, container string) error {
	if app != "" {
		return fmt.Errorf("no running run container of %s is named %q; run:list %s shows them", app, container, app)
	}
	return fmt.Errorf("no running run container is named %q; run:list shows them", container)
}
