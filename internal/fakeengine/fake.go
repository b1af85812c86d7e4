// Package fakeengine is an in-memory container engine for unit tests of
// Berth's core: it implements platform.Engine without Docker, so the
// pipeline's logic (rollout, checks, drain, reconcile, events, formation)
// is tested one behaviour at a time, in milliseconds, on any machine.
//
// It is a fake, not a mock: containers have state that the engine's
// methods change the way Docker's do (create, start, stop, remove, labels
// merged from the image, restart counts, events), and a running container
// really listens. Each one gets its own loopback address (127.B.x.y, B a block
// this test process owns) and,
// unless its Behavior says otherwise, serves HTTP on its port, so the
// platform's checks dial it and a proxy can reach it as it reaches a real
// container. It refuses what Docker refuses (a name in use, a missing
// image or network, a create or start a test makes fail: RefuseCreate,
// Behavior.StartError), and a test can do to a container what happens
// behind Berth's back (Crash, CrashLoop, Restart, docker stop and rm
// through Stop and Remove, BreakEvents). It proves nothing about Docker:
// the end-to-end suite does.
package fakeengine

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"

	"github.com/berth-paas/berth/docker"
)

// Behavior is what a container does when it starts.
type Behavior struct {
	// ExitCode, when Exit is set, is the code the container exits with at
	// once, instead of running.
	Exit     bool
	ExitCode int
	// Silent containers run but listen on no port.
	Silent bool
	// Handler answers HTTP requests; nil answers 200 with the container's
	// name.
	Handler http.Handler
	// Output is what the container writes to its log.
	Output string
	// StartError, when set, is Docker refusing to start the container (an
	// OCI runtime error: a missing executable, a mount that fails): the
	// start returns it and the container stays created, not running, as
	// in Docker. Start (not StartExisting) then removes it, as
	// docker.Client's does.
	StartError string
}

// Image is a local image.
type Image struct {
	ID     string
	Port   int // the lowest port it EXPOSEs; 0 for none
	Cmd    []string
	Labels map[string]string
}

// Container is the fake's record of a container. Tests read it through
// Engine.Container and Engine.Containers.
type Container struct {
	docker.Container
	Image   string
	Env     []string
	Cmd     []string
	Host    docker.HostOptions
	Stopped bool // stopped by Stop, not by exiting
	OneOff  bool

	listener net.Listener
	server   *http.Server
}

// Engine is the fake engine. The zero value is not usable: call New.
type Engine struct {
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

	mu sync.Mutex
	// instance and legacy are SetInstance's: as docker.Client, the fake
	// stamps the ID and lists only what carries it or is legacy.
	instance   string
	legacy     map[string]bool
	containers map[string]*Container
	images     map[string]*Image // by reference and by ID
	networks   map[string]docker.NetworkInfo
	logs       map[string]string // what each container wrote
	subs       []subscription
	calls      []string
}

// lastIP numbers the addresses containers get, across every engine of the
// test binary, so that no two containers of two tests share one.
var lastIP atomic.Uint32

// block is the second octet of this process's addresses (127.B.x.y). Test
// binaries of several packages run at once, each with its own lastIP: a
// container of one must never answer for a silent container of another.
// A process owns a block by holding a listener on 127.B.255.254, which no
// other process can then take.
var block struct {
	once   sync.Once
	octet  byte
	holder net.Listener
}

func addressBlock() byte {
	block.once.Do(func() {
		first := os.Getpid() % 150
		for i := 0; i < 150; i++ {
			o := 100 + (first+i)%150
			ln, err := net.Listen("tcp", fmt.Sprintf("127.%d.255.254:49999", o))
			if err == nil {
				block.octet, block.holder = byte(o), ln
				return
			}
		}
		panic("fake engine: no free block of loopback addresses in 127.100-249.0.0")
	})
	return block.octet
}

// New returns an empty engine with Berth's network.
func New() *Engine {
	return &Engine{
		containers: map[string]*Container{},
		images:     map[string]*Image{},
		networks:   map[string]docker.NetworkInfo{},
		logs:       map[string]string{},
	}
}

// AddImage makes ref a local image.
func (e *Engine) AddImage(ref string, img Image) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if img.ID == "" {
		img.ID = "sha256:" + randomHex(32)
	}
	i := img
	e.images[ref] = &i
	e.images[img.ID] = &i
}

// Close stops every container's listener (call it when the test ends).
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.containers {
		e.halt(c)
	}
}

// Container returns the container with id, and whether it exists.
func (e *Engine) Container(id string) (Container, bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return Container{}, false
	}
	return *c, true
}

// Containers returns every container, one-offs included, in no order.
func (e *Engine) Containers() []Container {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := make([]Container, 0, len(e.containers))
	for _, c := range e.containers {
		out = append(out, *c)
	}
	return out
}

// Crash makes a running container exit with code, as a crash would:
// its listener closes and die is reported. Docker's restart policy is not
// emulated; call Restart to bring it back as the policy would.
func (e *Engine) Crash(id string, code int) {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok || !c.Running {
		e.mu.Unlock()
		return
	}
	e.halt(c)
	c.ExitCode = code
	ev := e.event(c, "die")
	e.mu.Unlock()
	e.publish(ev)
}

// CrashLoop makes a running container exit with code and be in Docker's
// restart back-off: its listener closes, die is reported, and it shows
// as Docker shows it, Restarting (and Running: Docker counts a
// restarting container as running), until Restart starts it.
func (e *Engine) CrashLoop(id string, code int) {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok || !c.Running {
		e.mu.Unlock()
		return
	}
	e.halt(c)
	c.ExitCode = code
	c.Running, c.Restarting = true, true
	ev := e.event(c, "die")
	e.mu.Unlock()
	e.publish(ev)
}

// Restart starts a crashed container again, counting the restart, as
// Docker's restart policy does.
func (e *Engine) Restart(id string) error {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return notFound("container", id)
	}
	c.RestartCount++
	if c.Restarting {
		c.Running, c.Restarting = false, false
	}
	e.mu.Unlock()
	return e.StartExisting(context.Background(), id)
}

// Calls returns the engine's method calls so far, as "Method arg".
func (e *Engine) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

func (e *Engine) record(call string) { e.calls = append(e.calls, call) }

func notFound(what, id string) error {
	return fmt.Errorf("fake engine: no such %s: %s: %w", what, id, cerrdefs.ErrNotFound)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// --- containers ---

// Create is docker.Client's: the container is made on its initial
// network (refused if that is gone), then joined to its other networks;
// one that cannot join them is removed again (a destroy event), and the
// create fails.
func (e *Engine) Create(ctx context.Context, spec docker.RunSpec) (string, error) {
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

func (e *Engine) create(spec docker.RunSpec) (string, error) {
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

// mergeLabels is Docker's rule: the image's labels, with the container's
// own over them.
func mergeLabels(image, own map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range image {
		out[k] = v
	}
	for k, v := range own {
		out[k] = v
	}
	return out
}

func (e *Engine) Start(ctx context.Context, id string) error {
	if err := e.StartExisting(ctx, id); err != nil {
		e.Remove(context.WithoutCancel(ctx), id)
		return err
	}
	return nil
}

func (e *Engine) Run(ctx context.Context, spec docker.RunSpec) (string, error) {
	id, err := e.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	return id, e.Start(ctx, id)
}

func (e *Engine) StartExisting(ctx context.Context, id string) error {
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

// port is the port the container's app listens on: its PORT variable, as
// Berth sets it, else 5000.
func (c *Container) port() int {
	for _, kv := range c.Env {
		if v, ok := strings.CutPrefix(kv, "PORT="); ok {
			if n, err := strconv.Atoi(v); err == nil {
				return n
			}
		}
	}
	return 5000
}

// halt stops the container's listener; e.mu is held.
func (e *Engine) halt(c *Container) {
	if c.server != nil {
		c.server.Close()
		c.server, c.listener = nil, nil
	}
	c.Running, c.Restarting = false, false
}

func (e *Engine) RunOnce(ctx context.Context, spec docker.OneOff) (int, string, error) {
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

func (e *Engine) RunAttached(ctx context.Context, spec docker.RunSpec, s docker.Streams) (int, error) {
	cmd := append(slices.Clone(spec.Entrypoint), spec.Cmd...)
	code, _, err := e.RunOnce(ctx, docker.OneOff{Image: spec.Image, Cmd: cmd, Env: spec.Env, Labels: spec.Labels, Host: spec.Host, Output: s.Stdout})
	return code, err
}

func (e *Engine) ExecAttached(ctx context.Context, id string, cmd, env []string, s docker.Streams) (int, error) {
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

func (e *Engine) Inspect(ctx context.Context, id string) (docker.Container, error) {
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

// matches reports whether c carries every "key" or "key=value" of labels,
// as Docker's label filter does.
func matches(c *Container, labels []string) bool {
	for _, l := range labels {
		k, v, hasValue := strings.Cut(l, "=")
		got, ok := c.Labels[k]
		if !ok || (hasValue && got != v) {
			return false
		}
	}
	return true
}

// SetInstance is docker.Client's.
func (e *Engine) SetInstance(id string, legacy []string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.instance, e.legacy = id, map[string]bool{}
	for _, l := range legacy {
		e.legacy[l] = true
	}
}

// owns is docker.Client's Owns; e.mu is held.
func (e *Engine) owns(c *Container) bool {
	return docker.OwnedBy(e.instance, e.legacy, c.ID, c.Labels)
}

// ListLegacy is docker.Client's: containers with berth.app, berth.oneoff
// or berth.service but no berth.instance.
func (e *Engine) ListLegacy(ctx context.Context) ([]docker.Container, error) {
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

func (e *Engine) List(ctx context.Context, labels ...string) ([]string, error) {
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
func (e *Engine) ListRunning(ctx context.Context, labels ...string) ([]docker.Container, error) {
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

func (e *Engine) Stop(ctx context.Context, id string, timeout time.Duration) error {
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
	e.halt(c)
	c.Stopped = true
	evs := []docker.Event{e.kill(c, 15), e.event(c, "die"), e.event(c, "stop")}
	e.mu.Unlock()
	for _, ev := range evs {
		e.publish(ev)
	}
	return nil
}

func (e *Engine) Remove(ctx context.Context, id string) error {
	e.mu.Lock()
	e.record("Remove " + id)
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return nil // as docker.Client: a missing container is not an error
	}
	var evs []docker.Event
	if c.Running {
		e.halt(c)
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
func (e *Engine) RemoveOneOff(ctx context.Context, id string) error {
	e.mu.Lock()
	e.record("RemoveOneOff " + id)
	e.mu.Unlock()
	return e.Remove(ctx, id)
}

// RemoveOrphanOneOffVolumes is recorded; the fake keeps no volumes.
func (e *Engine) RemoveOrphanOneOffVolumes(ctx context.Context) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record("RemoveOrphanOneOffVolumes")
	return 0, nil
}

func (e *Engine) Rename(ctx context.Context, id, name string) error {
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

func (e *Engine) UpdateRestartPolicy(ctx context.Context, id, name string, maxRetries int) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	c, ok := e.containers[id]
	if !ok {
		return notFound("container", id)
	}
	c.RestartPolicy, c.MaxRetries = name, maxRetries
	return nil
}

func (e *Engine) Logs(ctx context.Context, id string, lines int) (string, error) {
	e.mu.Lock()
	out := e.logs[id]
	e.mu.Unlock()
	all := strings.SplitAfter(out, "\n")
	if lines > 0 && len(all) > lines {
		all = all[len(all)-lines:]
	}
	return strings.Join(all, ""), nil
}

func (e *Engine) StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	out, err := e.Logs(ctx, id, tail)
	if err != nil {
		return err
	}
	_, err = io.WriteString(w, out)
	return err
}

// subscription is one Events stream.
type subscription struct {
	events chan docker.Event
	errs   chan error
}

// Events streams every later container event until ctx ends, or until
// BreakEvents breaks the stream.
func (e *Engine) Events(ctx context.Context) (<-chan docker.Event, <-chan error) {
	sub := subscription{events: make(chan docker.Event, 1024), errs: make(chan error, 1)}
	e.mu.Lock()
	e.subs = append(e.subs, sub)
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.unsubscribe(sub)
	}()
	return sub.events, sub.errs
}

func (e *Engine) unsubscribe(sub subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = slices.DeleteFunc(e.subs, func(s subscription) bool { return s.events == sub.events })
}

// BreakEvents breaks every open event stream, as a dockerd restart does:
// each yields an error, and events that follow reach only streams opened
// after it.
func (e *Engine) BreakEvents() {
	e.mu.Lock()
	subs := e.subs
	e.subs = nil
	e.mu.Unlock()
	for _, s := range subs {
		s.errs <- errors.New("fake engine: the event stream broke")
	}
}

// kill is the kill event of signal to c, which Docker reports with the
// signal's number among the attributes; e.mu is held.
func (e *Engine) kill(c *Container, signal int) docker.Event {
	ev := e.event(c, "kill")
	ev.Labels["signal"] = strconv.Itoa(signal)
	return ev
}

// Signal sends signal to a running container, as docker kill -s does,
// and reports the kill event. The fake's processes ignore signals: it
// runs on (Crash is a signal that ends it).
func (e *Engine) Signal(id string, signal int) error {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return notFound("container", id)
	}
	if !c.Running {
		e.mu.Unlock()
		return fmt.Errorf("fake engine: container %s is not running", c.Name)
	}
	ev := e.kill(c, signal)
	e.mu.Unlock()
	e.publish(ev)
	return nil
}

// event describes what happened to c; e.mu is held. Docker reports events
// of this Berth's app containers only (docker.Client.Events filters on
// berth.app and the instance ID).
func (e *Engine) event(c *Container, action string) docker.Event {
	return docker.Event{ContainerID: c.ID, Action: action, Labels: mergeLabels(nil, c.Labels)}
}

func (e *Engine) publish(ev docker.Event) {
	if _, ok := ev.Labels[docker.LabelApp]; !ok {
		return
	}
	e.mu.Lock()
	if !docker.OwnedBy(e.instance, e.legacy, ev.ContainerID, ev.Labels) {
		e.mu.Unlock()
		return
	}
	subs := slices.Clone(e.subs)
	e.mu.Unlock()
	for _, sub := range subs {
		select {
		case sub.events <- ev:
		default: // a subscriber that does not read loses events, as with Docker
		}
	}
}

func (e *Engine) Commit(ctx context.Context, id, ref string, cmd []string) (string, error) {
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
	e.AddImage(ref, base)
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.images[ref].ID, nil
}

func (e *Engine) CPUs(ctx context.Context) (int, error) { return 2, nil }

func (e *Engine) MemTotal(ctx context.Context) (int64, error) { return 8 << 30, nil }

// --- images ---

// CheckImageLabels is docker.Client's.
func (e *Engine) CheckImageLabels(ctx context.Context, image string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[image]
	if !ok {
		return notFound("image", image)
	}
	return docker.CheckLabels(img.Labels)
}

func (e *Engine) ImageID(ctx context.Context, ref string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[ref]
	if !ok {
		return "", notFound("image", ref)
	}
	return img.ID, nil
}

func (e *Engine) ExposedPort(ctx context.Context, image string) (int, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[image]
	if !ok {
		return 0, false, notFound("image", image)
	}
	return img.Port, img.Port != 0, nil
}

func (e *Engine) ImageCmd(ctx context.Context, image string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[image]
	if !ok {
		return nil, notFound("image", image)
	}
	return slices.Clone(img.Cmd), nil
}

func (e *Engine) Tag(ctx context.Context, source, target string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[source]
	if !ok {
		return notFound("image", source)
	}
	e.images[target] = img
	return nil
}

func (e *Engine) RemoveImage(ctx context.Context, ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record("RemoveImage " + ref)
	delete(e.images, ref)
	return nil
}

// Images returns the references the engine has (tags, not IDs), sorted.
func (e *Engine) Images() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var refs []string
	for ref, img := range e.images {
		if ref != img.ID {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	return refs
}

// DiskUsage is docker.Client's: every tag with its image's ID, size 1
// MB each; no volumes or build cache.
func (e *Engine) DiskUsage(ctx context.Context) (docker.DiskUsage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := docker.DiskUsage{Images: map[string]docker.ImageUsage{}, Volumes: map[string]int64{}}
	for ref, img := range e.images {
		if ref != img.ID {
			out.Images[ref] = docker.ImageUsage{ID: img.ID, Size: 1 << 20}
		}
	}
	return out, nil
}

// PruneBuildCache records the call; the fake has no build cache.
func (e *Engine) PruneBuildCache(ctx context.Context, keep int64) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record(fmt.Sprintf("PruneBuildCache %d", keep))
	return 0, nil
}

// ImageBuild is not faked: unit tests deploy images (DeployRequest.Image);
// builds are proven end to end.
func (e *Engine) ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return client.ImageBuildResult{}, errors.New("fake engine: builds are not faked; deploy an image")
}

// --- networks ---

func (e *Engine) Network() string { return docker.DefaultNetwork }

func (e *Engine) EnsureNetwork(ctx context.Context) error {
	return e.CreateNetwork(ctx, docker.DefaultNetwork)
}

func (e *Engine) CreateNetwork(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.networks[name]; !ok {
		e.networks[name] = docker.NetworkInfo{Name: name, ID: randomHex(32), Driver: "bridge", Berth: true}
	}
	return nil
}

func (e *Engine) InspectNetwork(ctx context.Context, name string) (docker.NetworkInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.networks[name]
	if !ok {
		return docker.NetworkInfo{}, notFound("network", name)
	}
	return n, nil
}

func (e *Engine) Networks(ctx context.Context) ([]docker.NetworkInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []docker.NetworkInfo
	for _, n := range e.networks {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b docker.NetworkInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (e *Engine) RemoveNetwork(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.networks, name)
	return nil
}

func (e *Engine) Connect(ctx context.Context, id string, a docker.Attachment) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.networks[a.Network]; !ok {
		return notFound("network", a.Network)
	}
	if _, ok := e.containers[id]; !ok {
		return notFound("container", id)
	}
	return nil
}
