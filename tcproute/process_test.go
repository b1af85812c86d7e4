package tcproute

import (
	"context"
	"net/netip"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// listing is an engine whose running containers are given.
type listing []docker.Container

func (l listing) ListRunning(_ context.Context, labels ...string) ([]docker.Container, error) {
	var out []docker.Container
next:
	for _, c := range l {
		for _, kv := range labels {
			k, v, _ := strings.Cut(kv, "=")
			if c.Labels[k] != v {
				continue next
			}
		}
		out = append(out, c)
	}
	return out, nil
}

func ctr(app, process string, gen int, ip string) docker.Container {
	return docker.Container{Running: true, IP: netip.MustParseAddr(ip), Labels: map[string]string{
		docker.LabelApp: app, docker.LabelProcess: process, docker.LabelGeneration: strconv.Itoa(gen), docker.LabelPort: "5000"}}
}

// A tcp:HOST:CONTAINER:TYPE mapping goes to the running containers of
// that process type of the app's current generation, on the mapping's
// port, and is counted under the container's berth.port address (what a
// rollout's drain counts).
func TestProcessMappingGoesToThatProcessOfTheCurrentGeneration(t *testing.T) {
	e := newEnv(t)
	port := echo(t, "api")
	e.r.cfg.Engine = listing{
		ctr("svc", "api", 2, "127.0.0.1"),
		ctr("svc", "api", 1, "127.0.0.9"), // the old generation, still draining
		ctr("svc", "web", 2, "127.0.0.8"),
	}
	e.table.SetHosts("svc", []string{"svc.example.test"})
	host := freePort(t)
	m := platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: port, Process: "api"}
	if err := e.r.Check("svc", []platform.PortMapping{m}, false); err != nil {
		t.Fatal(err)
	}
	e.apps.set("svc", m.String())
	e.apps.apps["svc"].Generation = 2
	if err := e.r.Sync(context.Background(), "svc"); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if got, err := ask(t, host, "x"); err != nil || got != "api x" {
			t.Fatalf("got %q, %v; want api x", got, err)
		}
	}
}

func TestProcessMappingOfAStoppedAppHasNoTarget(t *testing.T) {
	e := newEnv(t)
	port := echo(t, "api")
	e.r.cfg.Engine = listing{ctr("svc", "api", 1, "127.0.0.1")}
	e.table.SetHosts("svc", []string{"svc.example.test"})
	host := freePort(t)
	m := platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: port, Process: "api"}
	if err := e.r.Check("svc", []platform.PortMapping{m}, false); err != nil {
		t.Fatal(err)
	}
	e.apps.set("svc", m.String())
	e.apps.apps["svc"].Generation = 1
	e.apps.apps["svc"].Stopped = true
	if err := e.r.Sync(context.Background(), "svc"); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(t, host, "x"); err == nil {
		t.Fatalf("a stopped app answered %q", got)
	}
}

// keptOut is a route controller keeping the given containers out.
type keptOut map[string]bool

func (k keptOut) KeptOut(id string) bool { return k[id] }

// A container the route controller keeps out of routes (a scale-up's new
// one before its checks pass, a scale-down's draining one) gets no
// connection of a process-scoped mapping either.
func TestProcessMappingSkipsContainersTheControllerKeepsOut(t *testing.T) {
	e := newEnv(t)
	port := echo(t, "api")
	c := ctr("svc", "api", 1, "127.0.0.1")
	c.ID = "checking"
	e.r.cfg.Engine = listing{c}
	e.r.cfg.Routes = keptOut{"checking": true}
	e.table.SetHosts("svc", []string{"svc.example.test"})
	host := freePort(t)
	m := platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: port, Process: "api"}
	if err := e.r.Check("svc", []platform.PortMapping{m}, false); err != nil {
		t.Fatal(err)
	}
	e.apps.set("svc", m.String())
	e.apps.apps["svc"].Generation = 1
	if err := e.r.Sync(context.Background(), "svc"); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(t, host, "x"); err == nil {
		t.Fatalf("a container kept out of routes answered %q", got)
	}
}

// A connection still holding a renamed or destroyed app's old dest does
// not leave a shared listing behind for that app (it would never be
// removed): the router lists only for the mappings it serves.
func TestAnOldDestLeavesNoProcessListingBehind(t *testing.T) {
	for _, end := range []string{"rename", "destroy"} {
		t.Run(end, func(t *testing.T) {
			e := newEnv(t)
			port := echo(t, "api")
			e.r.cfg.Engine = listing{ctr("svc", "api", 2, "127.0.0.1")}
			e.table.SetHosts("svc", []string{"svc.example.test"})
			host := freePort(t)
			m := platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: port, Process: "api"}
			if err := e.r.Check("svc", []platform.PortMapping{m}, false); err != nil {
				t.Fatal(err)
			}
			e.apps.set("svc", m.String())
			e.apps.apps["svc"].Generation = 2
			if err := e.r.Sync(context.Background(), "svc"); err != nil {
				t.Fatal(err)
			}
			old := &dest{app: "svc", port: port, process: "api"}
			if got := e.r.targets(old); len(got) != 1 {
				t.Fatalf("targets while served: %v", got)
			}
			ctx := context.Background()
			if end == "rename" {
				e.hooks.renameSetup[0](ctx, "svc", "renamed")
				e.hooks.renamed[0](ctx, "svc", "renamed")
			} else {
				e.hooks.destroyed[0](ctx, "svc")
			}
			// The route and the record are still there for a moment (the
			// core drops them after the hooks): a connection of the old
			// dest asks now.
			e.r.targets(old)
			e.r.procMu.Lock()
			_, left := e.r.procs[procKey{"svc", "api"}]
			e.r.procMu.Unlock()
			if left {
				t.Fatalf("after the %s, a listing of the old app is kept for good", end)
			}
		})
	}
}
