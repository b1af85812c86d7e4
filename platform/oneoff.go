package platform

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
)

// RunOptions are how a `run` one-off differs from the app's processes.
type RunOptions struct {
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
// Dokku's run does.
func (p *Platform) Run(ctx context.Context, app string, cmd []string, opts RunOptions, s docker.Streams) (int, error) {
	spec, err := p.runSpec(ctx, app, cmd, opts, "attached")
	if err != nil {
		return 1, err
	}
	return p.docker.RunAttached(ctx, spec, s)
}

// RunDetached starts cmd like Run, in a container that runs on its own
// (Dokku's run:detached) and is removed when it exits; it returns the
// container's name, which run:list shows and run:stop takes.
func (p *Platform) RunDetached(ctx context.Context, app string, cmd []string, opts RunOptions) (string, error) {
	// Detached runs count against max_scale, as a process type's
	// containers do: nothing else bounds them, and a deploy key may
	// start them. The count and the start are one step.
	detachedMu.Lock()
	defer detachedMu.Unlock()
	running, err := p.docker.ListRunning(ctx, docker.LabelRun+"=detached", docker.LabelOneOff+"="+app)
	if err != nil {
		return "", err
	}
	n := 0
	for _, c := range running {
		if c.Running {
			n++
		}
	}
	if limit := p.Limits().MaxScale; n >= limit {
		return "", Errorf(ErrOverLimit, "%s already runs %d detached one-offs, the most Berth allows per app (the max_scale setting of the berth block in the Caddyfile); stop some with run:stop %s, or have the admin raise max_scale", app, n, app)
	}
	spec, err := p.runSpec(ctx, app, cmd, opts, "detached")
	if err != nil {
		return "", err
	}
	spec.AutoRemove = true
	if _, err := p.docker.Run(ctx, spec); err != nil {
		return "", err
	}
	return spec.Name, nil
}

// detachedMu makes RunDetached's count and start one step.
var detachedMu sync.Mutex

// runSpec is the one-off container of a run: the current release's
// image, the app's config with opts.Env over it, the run phase's host
// options, and a name APP.run.NNNN (Dokku's), unique among the app's
// run containers.
func (p *Platform) runSpec(ctx context.Context, app string, cmd []string, opts RunOptions, mode string) (docker.RunSpec, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return docker.RunSpec{}, err
	}
	rel, err := currentRelease(a)
	if err != nil {
		return docker.RunSpec{}, err
	}
	host, err := p.specs.host(a, Slot{Phase: PhaseRun})
	if err != nil {
		return docker.RunSpec{}, err
	}
	existing, err := p.RunContainers(ctx, app)
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
	// DYNO stays run.1 for every one-off, as it was before runs had
	// names: scripts read it to tell a one-off from a process.
	env := p.releaseEnv(a, rel, "run.1")
	if len(opts.Env) > 0 {
		env = slices.DeleteFunc(env, func(kv string) bool {
			k, _, _ := strings.Cut(kv, "=")
			_, over := opts.Env[k]
			return over
		})
		for _, k := range sortedKeys(opts.Env) {
			env = append(env, k+"="+opts.Env[k])
		}
	}
	spec := docker.RunSpec{
		Name:        name,
		Image:       rel.Image,
		Env:         env,
		Labels:      map[string]string{docker.LabelOneOff: app, docker.LabelRun: mode},
		StopTimeout: StopTimeoutOf(a, p.ProcessGlobals()),
		Host:        host,
	}
	switch {
	case len(cmd) == 0:
		spec.Cmd = []string{"/bin/sh"}
	case procfileType(rel, cmd[0]):
		if opts.Notes != nil {
			fmt.Fprintf(opts.Notes, "-----> Found '%s' in Procfile, running that command\n", cmd[0])
		}
		if argv, ok := rel.Launch[cmd[0]]; ok && len(argv) > 0 {
			spec.Entrypoint, spec.Cmd = argv[:1], append(slices.Clone(argv[1:]), cmd[1:]...)
		} else {
			// The extra arguments reach the command as "$@", each as it
			// was given: none is read by the shell again.
			spec.Cmd = append([]string{"/bin/sh", "-c", rel.Processes[cmd[0]] + ` "$@"`, "sh"}, cmd[1:]...)
		}
	default:
		spec.Cmd = cmd
	}
	return spec, nil
}

// procfileType reports whether name is one of the release's process
// types (its Procfile's, or its builder's launch entries).
func procfileType(rel Release, name string) bool {
	if _, ok := rel.Processes[name]; ok {
		return true
	}
	argv, ok := rel.Launch[name]
	return ok && len(argv) > 0
}

// RunContainer is a one-off of run or run:detached (run:list).
type RunContainer struct {
	App     string    `json:"app"`
	Name    string    `json:"name"`
	State   string    `json:"state"`
	Command string    `json:"command"`
	Created time.Time `json:"created_at"`
	ID      string    `json:"-"`
}

// RunContainers lists the running one-offs of run and run:detached: the
// app's, or every app's when app is "".
func (p *Platform) RunContainers(ctx context.Context, app string) ([]RunContainer, error) {
	labels := []string{docker.LabelRun}
	if app != "" {
		if _, err := p.App(ctx, app); err != nil {
			return nil, err
		}
		labels = append(labels, docker.LabelOneOff+"="+app)
	}
	cs, err := p.docker.ListRunning(ctx, labels...)
	if err != nil {
		return nil, err
	}
	out := []RunContainer{}
	for _, c := range cs {
		if !c.Running || c.Labels[docker.LabelRun] == "" {
			continue
		}
		out = append(out, RunContainer{
			App: c.Labels[docker.LabelOneOff], Name: c.Name, State: "running",
			Command: c.Command, Created: c.Created.UTC(), ID: c.ID,
		})
	}
	slices.SortFunc(out, func(x, y RunContainer) int { return strings.Compare(x.Name, y.Name) })
	return out, nil
}

// StopRun stops the app's running one-offs (run:stop APP), or the one
// named container (run:stop --container NAME, app ""), and returns the
// names it stopped. An attached run's session ends with the program's
// exit status; every run container is removed once it stops.
func (p *Platform) StopRun(ctx context.Context, app, container string) ([]string, error) {
	all, err := p.RunContainers(ctx, app)
	if err != nil {
		return nil, err
	}
	var stop []RunContainer
	for _, c := range all {
		if container == "" || c.Name == container {
			stop = append(stop, c)
		}
	}
	if container != "" && len(stop) == 0 {
		if app != "" {
			return nil, fmt.Errorf("no running run container of %s is named %q; run:list %s shows them", app, container, app)
		}
		return nil, fmt.Errorf("no running run container is named %q; run:list shows them", container)
	}
	var names []string
	for _, c := range stop {
		timeout := DefaultStopTimeoutSeconds * time.Second
		if a, err := p.App(ctx, c.App); err == nil {
			timeout = StopTimeoutOf(a, p.ProcessGlobals())
		}
		// Stopped is enough: a detached run is removed by Docker when it
		// exits (AutoRemove), an attached one by its session.
		if err := p.docker.Stop(ctx, c.ID, timeout); err != nil {
			return names, err
		}
		names = append(names, c.Name)
	}
	return names, nil
}
