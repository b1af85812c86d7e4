package commands

import (
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/store"
)

type recordingTCP struct {
	app       string
	next      []platform.PortMapping
	deployKey bool
}

func (r *recordingTCP) Check(app string, next []platform.PortMapping, deployKey bool) error {
	r.app, r.next, r.deployKey = app, next, deployKey
	return nil
}
func (r *recordingTCP) Sync(context.Context, string) error { return nil }

func tcpMapping(host, ctr int) platform.PortMapping {
	return platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: ctr}
}

func TestWithoutATCPRouterTCPMappingsAreRefused(t *testing.T) {
	change := withTCP(context.Background(), &Backend{}, "db", func([]platform.PortMapping) ([]platform.PortMapping, error) {
		return []platform.PortMapping{tcpMapping(15432, 5432)}, nil
	})
	if _, err := change(nil); err == nil || !strings.Contains(err.Error(), "not served") {
		t.Fatalf("change = %v; want refused", err)
	}
}

func TestTCPCheckSeesTheNewMappingsAndWhoAsks(t *testing.T) {
	rec := &recordingTCP{}
	ctx := platform.AsDeployKey(context.Background())
	change := withTCP(ctx, &Backend{TCP: rec}, "db", func(cur []platform.PortMapping) ([]platform.PortMapping, error) {
		return append(cur, tcpMapping(15432, 5432)), nil
	})
	next, err := change([]platform.PortMapping{{Scheme: "http", HostPort: 80, ContainerPort: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.app != "db" || len(rec.next) != 2 || !rec.deployKey || len(next) != 2 {
		t.Fatalf("Check saw app %q, %v, deploy key %t; change gave %v", rec.app, rec.next, rec.deployKey, next)
	}
}

// lockProbeTCP tries to destroy the app from Sync: refused (busy) while
// the ports change still holds the app's lock.
type lockProbeTCP struct {
	p         *platform.Platform
	destroyed error
	synced    bool
	saw       []string
}

func (l *lockProbeTCP) Check(string, []platform.PortMapping, bool) error { return nil }
func (l *lockProbeTCP) Sync(ctx context.Context, app string) error {
	l.synced = true
	if a, err := l.p.App(ctx, app); err == nil {
		l.saw = a.PortMap
	}
	l.destroyed = l.p.Destroy(ctx, app)
	return nil
}

// The tcp listeners follow the saved record inside the ports change,
// with the app still locked: no destroy (or rename, or other change) of
// the app comes between the record Sync reads and the listeners it
// serves, which would leave a listener for a destroyed app.
func TestTCPSyncRunsAfterTheSaveWithTheAppLocked(t *testing.T) {
	dir := t.TempDir()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	table := routing.New()
	hosts := domains.NewResolver()
	p := platform.New(platform.Config{Hosts: hosts, Store: &store.Files{Dir: dir + "/state"}, Engine: engine, Table: table, ReposDir: dir + "/repos"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	if err := p.Create(ctx, "db"); err != nil {
		t.Fatal(err)
	}
	probe := &lockProbeTCP{p: p}
	b := &Backend{Domains: domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts}), TCP: probe}
	err := portsAdd(ctx, b, []string{"db", "tcp:15432:5432"}, IO{Stdout: io.Discard, Stderr: io.Discard})
	if !probe.synced || !slices.Equal(probe.saw, []string{"tcp:15432:5432"}) {
		t.Fatalf("Sync ran %t and saw the record %v; want it after the save", probe.synced, probe.saw)
	}
	if !errors.Is(probe.destroyed, platform.ErrBusy) {
		t.Fatalf("a destroy during Sync: %v; want it refused, the app locked by the ports change", probe.destroyed)
	}
	if err != nil {
		t.Fatal(err)
	}
}

type schedApps struct{ recs map[string]*platform.App }

func (f *schedApps) App(_ context.Context, name string) (*platform.App, error) {
	if a, ok := f.recs[name]; ok {
		return a, nil
	}
	return nil, platform.ErrAppNotFound
}
func (f *schedApps) UpdateApp(ctx context.Context, name string, change func(*platform.App) error) error {
	a, err := f.App(ctx, name)
	if err != nil {
		return err
	}
	return change(a)
}
func (f *schedApps) LockGlobal(string) (func(), error) { return func() {}, nil }

// A swarm app's targets are its nodes' addresses: a tcp mapping's
// container port there is any program of the node, so ports:add/set
// refuse it (for an app selected for swarm, or still running on it).
func TestTCPMappingsAreRefusedForSwarmApps(t *testing.T) {
	f := &schedApps{recs: map[string]*platform.App{
		"sw":      {Name: "sw", Scheduler: "swarm"},
		"running": {Name: "running", SchedulerRan: "swarm", Current: 1},
		"local":   {Name: "local"},
	}}
	b := &Backend{TCP: &recordingTCP{}, Scheduler: selector.NewSettings(selector.Config{Store: &store.Files{Dir: t.TempDir()}, Apps: f})}
	add := func(cur []platform.PortMapping) ([]platform.PortMapping, error) {
		return append(cur, tcpMapping(15432, 5432)), nil
	}
	ctx := platform.AsDeployKey(context.Background())
	for _, app := range []string{"sw", "running"} {
		if _, err := withTCP(ctx, b, app, add)(nil); err == nil || !strings.Contains(err.Error(), "serves no tcp mappings") {
			t.Errorf("%s: change = %v; want refused", app, err)
		}
	}
	if _, err := withTCP(ctx, b, "local", add)(nil); err != nil {
		t.Errorf("docker-local app refused: %v", err)
	}
}
