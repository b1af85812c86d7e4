package fakeengine

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"

	"github.com/berth-paas/berth/docker"
)

// ContainerEngine is the part of Engine that runs containers: it
// implements platform.ContainerEngine, and has what a test does to
// containers behind Berth's back (events.go: Crash, CrashLoop, Restart,
// Signal, BreakEvents). Its fields say how containers behave.
type ContainerEngine struct {
	// BehaviorOf decides what a starting container does; nil runs every
	// container and serves HTTP on its port. Set it before use.
	BehaviorOf func(c Container) Behavior
	// OneOffExit decides a one-off container's exit code and output; nil
	// exits 0 with no output.
	OneOffExit func(spec docker.OneOff) (int, string)
	// RefuseCreate, when it returns an error, is Docker refusing to create
	// the container (an option it rejects, a network that is gone): Create
	// returns the error and nothing is created. Set it before use.
	RefuseCreate func(spec docker.RunSpec) error
	// BeforeStop, when set, is called with the container Stop is about to
	// stop (running or not), before it stops: a test's look at the world
	// at that moment (is it still routed?). It must not call the engine.
	BeforeStop func(c Container)

	*world
}

// Container returns the container with id, and whether it exists.
func (e *ContainerEngine) Container(id string) (Container, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return Container{}, false
	}
	return *c, true
}

// Containers returns every container, one-offs included, in no order.
func (e *ContainerEngine) Containers() []Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Container, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, *c)
	}
	return out
}

// Create is docker.Client's: the container is made on its initial
// network (refused if that is gone), then joined to its other networks;
// one that cannot join them is removed again (a destroy event), and the
// create fails.
func (e *ContainerEngine) Create(ctx context.Context, spec docker.RunSpec) (string, error) {
	id, err := e.create(spec)
	if err != nil {
		return "", err
	}
	e.mu.Lock()
	var missing string
	for _, a := range spec.Host.Networks {
		if _, ok := e.networks[a.Network]; !ok {
			missing = a.Network
			break
		}
	}
	e.mu.Unlock()
	if missing != "" {
		e.Remove(context.WithoutCancel(ctx), id)
		return "", fmt.Errorf("fake engine: network %s does not exist: %w", missing, cerrdefs.ErrNotFound)
	}
	return id, nil
}

func (e *ContainerEngine) create(spec docker.RunSpec) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record("Create " + spec.Name)
	if n := spec.Host.InitialNetwork; n != "" && n != docker.DefaultNetwork {
		if _, ok := e.networks[n]; !ok {
			return "", notFound("network", n)
		}
	}
	img, ok := e.images[spec.Image]
	if !ok {
		return "", notFound("image", spec.Image)
	}
	if e.RefuseCreate != nil {
		if err := e.RefuseCreate(spec); err != nil {
			return "", fmt.Errorf("fake engine: create container %s: %w", spec.Name, err)
		}
	}
	if spec.Name != "" {
		for _, c := range e.containers {
			if c.Name == spec.Name {
				return "", fmt.Errorf("fake engine: the container name %q is already in use: %w", spec.Name, cerrdefs.ErrConflict)
			}
		}
	}
	id := randomHex(32)
	name := spec.Name
	if name == "" {
		name = "fake_" + id[:8]
	}
	cmd := spec.Cmd
	if cmd == nil {
		cmd = img.Cmd
	}
	e.containers[id] = &Container{
		Container: docker.Container{
			ID: id, Name: name, Labels: mergeLabels(img.Labels, docker.StampLabels(e.instance, spec.Labels)),
			RestartPolicy: spec.RestartPolicy, MaxRetries: spec.MaxRetries,
		},
		Image: spec.Image, Env: slices.Clone(spec.Env), Cmd: cmd, Host: spec.Host,
	}
	return id, nil
}

func (e *ContainerEngine) Start(ctx context.Context, id string) error {
	if err := e.StartExisting(ctx, id); err != nil {
		e.Remove(context.WithoutCancel(ctx), id)
		return err
	}
	return nil
}

func (e *ContainerEngine) Run(ctx context.Context, spec docker.RunSpec) (string, error) {
	id, err := e.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	return id, e.Start(ctx, id)
}

func (e *ContainerEngine) StartExisting(ctx context.Context, id string) error {
	e.mu.Lock()
	e.record("Start " + id)
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return notFound("container", id)
	}
	if c.Running {
		e.mu.Unlock()
		return nil
	}
	b := Behavior{}
	if e.BehaviorOf != nil {
		snapshot := *c
		e.mu.Unlock()
		b = e.BehaviorOf(snapshot)
		e.mu.Lock()
	}
	if b.StartError != "" {
		// Docker records the failure on the container, which stays
		// created with exit code 127 ("executable file not found").
		c.ExitCode = 127
		e.mu.Unlock()
		return fmt.Errorf("fake engine: start container %s: %s", c.Name, b.StartError)
	}
	c.Stopped = false
	c.StartedAt = time.Now()
	e.logs[c.ID] += b.Output
	if b.Exit {
		c.ExitCode = b.ExitCode
		start, die := e.event(c, "start"), e.event(c, "die")
		e.mu.Unlock()
		e.publish(start)
		e.publish(die)
		return nil
	}
	if !c.IP.IsValid() {
		n := lastIP.Add(1)
		c.IP = netip.AddrFrom4([4]byte{127, addressBlock(), byte(n >> 8), byte(n)})
	}
	if !b.Silent {
		port := c.port()
		ln, err := net.Listen("tcp", net.JoinHostPort(c.IP.String(), strconv.Itoa(port)))
		if err != nil {
			e.mu.Unlock()
			return fmt.Errorf("fake engine: listen for %s: %w", c.Name, err)
		}
		h := b.Handler
		if h == nil {
			name := c.Name
			h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, name) })
		}
		c.listener = ln
		c.server = &http.Server{Handler: h}
		go c.server.Serve(ln)
	}
	c.Running = true
	ev := e.event(c, "start")
	e.mu.Unlock()
	e.publish(ev)
	return nil
}

func (e *ContainerEngine) RunOnce(ctx context.Context, spec docker.OneOff) (int, string, error) {
	e.mu.Lock()
	if len(spec.Entrypoint) > 0 {
		e.record(strings.TrimSpace("RunOnce entrypoint=" + strings.Join(spec.Entrypoint, " ") + " " + strings.Join(spec.Cmd, " ")))
	} else {
		e.record("RunOnce " + strings.Join(spec.Cmd, " "))
	}
	if _, ok := e.images[spec.Image]; !ok {
		e.mu.Unlock()
		return 0, "", notFound("image", spec.Image)
	}
	id := randomHex(32)
	c := &Container{Container: docker.Container{ID: id, Name: "oneoff_" + id[:8], Labels: mergeLabels(e.images[spec.Image].Labels, docker.StampLabels(e.instance, spec.Labels))},
		Image: spec.Image, Env: spec.Env, Cmd: spec.Cmd, Host: spec.Host, OneOff: true}
	e.containers[id] = c
	e.mu.Unlock()
	code, out := 0, ""
	if e.OneOffExit != nil {
		code, out = e.OneOffExit(spec)
	}
	if spec.Output != nil && out != "" {
		io.WriteString(spec.Output, out)
	}
	e.mu.Lock()
	c.ExitCode = code
	if !spec.Keep {
		delete(e.containers, id)
	}
	e.mu.Unlock()
	return code, id, nil
}

func (e *ContainerEngine) RunAttached(ctx context.Context, spec docker.RunSpec, s docker.Streams) (int, error) {
	cmd := append(slices.Clone(spec.Entrypoint), spec.Cmd...)
	code, _, err := e.RunOnce(ctx, docker.OneOff{Image: spec.Image, Cmd: cmd, Env: spec.Env, Labels: spec.Labels, Host: spec.Host, Output: s.Stdout})
	return code, err
}

func (e *ContainerEngine) ExecAttached(ctx context.Context, id string, cmd, env []string, s docker.Streams) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record("Exec " + id + " " + strings.Join(cmd, " "))
	c, ok := e.containers[id]
	if !ok {
		return 0, notFound("container", id)
	}
	if !c.Running {
		return 0, fmt.Errorf("fake engine: container %s is not running", c.Name)
	}
	return 0, nil
}

func (e *ContainerEngine) Inspect(ctx context.Context, id string) (docker.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return docker.Container{}, notFound("container", id)
	}
	out := c.Container
	out.Labels = mergeLabels(nil, c.Labels)
	if !c.Running {
		out.IP = netip.Addr{}
	}
	return out, nil
}

// SetInstance is docker.Client's.
func (e *ContainerEngine) SetInstance(id string, legacy []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instance, e.legacy = id, map[string]bool{}
	for _, l := range legacy {
		e.legacy[l] = true
	}
}

// owns is docker.Client's Owns; e.mu is held.
func (e *ContainerEngine) owns(c *Container) bool {
	return docker.OwnedBy(e.instance, e.legacy, c.ID, c.Labels)
}

// ListLegacy is docker.Client's: containers with berth.app, berth.oneoff
// or berth.service but no berth.instance.
func (e *ContainerEngine) ListLegacy(ctx context.Context) ([]docker.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []docker.Container
	for _, c := range e.containers {
		_, stamped := c.Labels[docker.LabelInstance]
		if stamped || !(matches(c, []string{docker.LabelApp}) || matches(c, []string{docker.LabelOneOff}) || matches(c, []string{docker.LabelService})) {
			continue
		}
		out = append(out, docker.Container{ID: c.ID, Name: c.Name, Labels: mergeLabels(nil, c.Labels), Running: c.Running, Restarting: c.Restarting})
	}
	return out, nil
}

func (e *ContainerEngine) List(ctx context.Context, labels ...string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var ids []string
	for id, c := range e.containers {
		if matches(c, labels) && e.owns(c) {
			ids = append(ids, id)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// ListRunning is docker.Client's: every matching container, running or
// not, with what a listing carries (no restart count or exit code).
func (e *ContainerEngine) ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []docker.Container
	for _, c := range e.containers {
		if !matches(c, labels) || !e.owns(c) {
			continue
		}
		ct := docker.Container{ID: c.ID, Name: c.Name, Labels: mergeLabels(nil, c.Labels), Running: c.Running, Restarting: c.Restarting}
		if c.Running {
			ct.IP = c.IP
		}
		out = append(out, ct)
	}
	slices.SortFunc(out, func(a, b docker.Container) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (e *ContainerEngine) Stop(ctx context.Context, id string, timeout time.Duration) error {
	e.mu.Lock()
	e.record("Stop " + id)
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return notFound("container", id)
	}
	if e.BeforeStop != nil {
		snapshot := *c
		e.mu.Unlock()
		e.BeforeStop(snapshot)
		e.mu.Lock()
		if c, ok = e.containers[id]; !ok {
			e.mu.Unlock()
			return notFound("container", id)
		}
	}
	if !c.Running {
		e.mu.Unlock()
		return nil
	}
	c.halt()
	c.Stopped = true
	evs := []docker.Event{e.kill(c, 15), e.event(c, "die"), e.event(c, "stop")}
	e.mu.Unlock()
	for _, ev := range evs {
		e.publish(ev)
	}
	return nil
}

func (e *ContainerEngine) Remove(ctx context.Context, id string) error {
	e.mu.Lock()
	e.record("Remove " + id)
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return nil // as docker.Client: a missing container is not an error
	}
	var evs []docker.Event
	if c.Running {
		c.halt()
		evs = append(evs, e.kill(c, 9), e.event(c, "die"))
	}
	evs = append(evs, e.event(c, "destroy"))
	delete(e.containers, id)
	e.mu.Unlock()
	for _, ev := range evs {
		e.publish(ev)
	}
	return nil
}

// RemoveOneOff is Remove, recorded as "RemoveOneOff ID" (it removes the
// container's anonymous volumes too).
func (e *ContainerEngine) RemoveOneOff(ctx context.Context, id string) error {
	e.mu.Lock()
	e.record("RemoveOneOff " + id)
	e.mu.Unlock()
	return e.Remove(ctx, id)
}

// RemoveOrphanOneOffVolumes is recorded; the fake keeps no volumes.
func (e *ContainerEngine) RemoveOrphanOneOffVolumes(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record("RemoveOrphanOneOffVolumes")
	return 0, nil
}

func (e *ContainerEngine) Rename(ctx context.Context, id, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return notFound("container", id)
	}
	// Docker refuses a name another container has.
	for _, other := range e.containers {
		if other != c && other.Name == name {
			return fmt.Errorf("fake engine: rename %s: the container name %q is already in use: %w", c.Name, name, cerrdefs.ErrConflict)
		}
	}
	c.Name = name
	return nil
}

func (e *ContainerEngine) UpdateRestartPolicy(ctx context.Context, id, name string, maxRetries int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return notFound("container", id)
	}
	c.RestartPolicy, c.MaxRetries = name, maxRetries
	return nil
}

func (e *ContainerEngine) Logs(ctx context.Context, id string, lines int) (string, error) {
	e.mu.Lock()
	out := e.logs[id]
	e.mu.Unlock()
	all := strings.SplitAfter(out, "\n")
	if lines > 0 && len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, ""), nil
}

func (e *ContainerEngine) StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	out, err := e.Logs(ctx, id, tail)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, out)
	return err
}

func (e *ContainerEngine) Commit(ctx context.Context, id, ref string, cmd []string) (string, error) {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return "", notFound("container", id)
	}
	base := *e.images[c.Image]
	e.mu.Unlock()
	base.ID = ""
	if cmd != nil {
		base.Cmd = cmd
	}
	e.addImage(ref, base)
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.images[ref].ID, nil
}

func (e *ContainerEngine) CPUs(ctx context.Context) (int, error) { return 2, nil }

func (e *ContainerEngine) MemTotal(ctx context.Context) (int64, error) { return 8 << 30, nil }
