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
//
// Its parts mirror docker.Client's split (see Engine): containers.go and
// events.go, images.go, networks.go, each one platform.Engine part.
package fakeengine

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"

	cerrdefs "github.com/containerd/errdefs"

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
//
// It is made of three parts, as docker.Client is and platform.Engine
// asks: ContainerEngine (containers, one-offs, logs, events, and what a
// test does to containers behind Berth's back), ImageEngine and
// NetworkEngine, each a type of its own with its methods in its own file,
// over one state (world) and one lock. They are embedded, so tests call
// engine.Crash or engine.AddImage and set engine.BehaviorOf on the Engine
// itself, and a test of one part can be given that part alone.
type Engine struct {
	*ContainerEngine
	*ImageEngine
	*NetworkEngine
	*world
}

// world is the engine's state, which its parts share under one lock.
type world struct {
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
	w := &world{
		containers: map[string]*Container{},
		images:     map[string]*Image{},
		networks:   map[string]docker.NetworkInfo{},
		logs:       map[string]string{},
	}
	return &Engine{
		ContainerEngine: &ContainerEngine{world: w},
		ImageEngine:     &ImageEngine{world: w},
		NetworkEngine:   &NetworkEngine{world: w},
		world:           w,
	}
}

// Close stops every container's listener (call it when the test ends).
func (e *Engine) Close() {
	e.mu.Lock()
	defer e.mu.Unlock()
	for _, c := range e.containers {
		c.halt()
	}
}

// Calls returns the engine's method calls so far, as "Method arg".
func (e *world) Calls() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	return slices.Clone(e.calls)
}

// record notes a call for Calls; e.mu is held.
func (e *world) record(call string) { e.calls = append(e.calls, call) }

func notFound(what, id string) error {
	return fmt.Errorf("fake engine: no such %s: %s: %w", what, id, cerrdefs.ErrNotFound)
}

func randomHex(n int) string {
	b := make([]byte, n)
	rand.Read(b)
	return hex.EncodeToString(b)
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

// halt stops the container's listener; the engine's lock is held.
func (c *Container) halt() {
	if c.server != nil {
		c.server.Close()
		c.server, c.listener = nil, nil
	}
	c.Running, c.Restarting = false, false
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
