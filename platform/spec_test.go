package platform

import (
	"context"
	"errors"
	"reflect"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/store"
)

// fakeSpec is a settings family that contributes fixed settings and
// records what the platform asked of it.
type fakeSpec struct {
	label    string // added as label "family" to every container
	logOpt   string // a max-size log option, as docker-options would give
	refuse   string // a process type CheckTypes refuses
	build    BuildSpec
	slots    []Slot
	deployed []Deployed
}

func (f *fakeSpec) ContributeSpec(a *App, s Slot, h *docker.HostOptions) error {
	f.slots = append(f.slots, s)
	o := docker.HostOptions{Labels: map[string]string{"family": f.label}}
	if f.logOpt != "" {
		o.LogOpts = map[string]string{"max-size": f.logOpt}
	}
	*h = h.Merge(o)
	return nil
}

func (f *fakeSpec) CheckTypes(a *App, types []string) error {
	for _, t := range types {
		if t == f.refuse {
			return errors.New("type " + t + " refused")
		}
	}
	return nil
}

func (f *fakeSpec) PostDeploy(_ context.Context, a *App, news []Deployed) error {
	f.deployed = append(f.deployed, news...)
	return nil
}

func (f *fakeSpec) ContributeBuild(a *App, b *BuildSpec) error {
	*b = f.build
	return nil
}

// logs:set max-size is the platform's; a contributor's --log-opt wins.
func TestContributedLogOptionsWinOverMaxSize(t *testing.T) {
	a := &App{Name: "api", LogMaxSize: "20m"}
	h, err := specs{}.host(a, Slot{Phase: PhaseRun})
	if err != nil || h.LogOpts["max-size"] != "20m" {
		t.Fatalf("no contributor: %v, %v", h.LogOpts, err)
	}
	h, err = specs{&fakeSpec{logOpt: "1m"}}.host(a, Slot{Phase: PhaseRun})
	if err != nil || h.LogOpts["max-size"] != "1m" {
		t.Fatalf("with a --log-opt: %v, %v", h.LogOpts, err)
	}
}

// The post-deploy step gets every checked container, with its type and
// number.
func TestPostDeployGetsTheCheckedContainers(t *testing.T) {
	f := &fakeSpec{}
	news := []Deployed{{ID: "c1", Type: "web", Index: 1}, {ID: "c2", Type: "worker", Index: 3}}
	if err := (specs{f}).postDeploy(context.Background(), &App{Name: "api"}, news); err != nil {
		t.Fatal(err)
	}
	want := []Deployed{{ID: "c1", Type: "web", Index: 1}, {ID: "c2", Type: "worker", Index: 3}}
	if !reflect.DeepEqual(f.deployed, want) {
		t.Fatalf("deployed %+v, want %+v", f.deployed, want)
	}
}

// A run one-off asks the contributors for the run phase's part, with no
// process type.
func TestRunOneOffTakesTheRunSlot(t *testing.T) {
	ctx := context.Background()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	f := &fakeSpec{label: "run"}
	p := New(Config{Store: &store.Files{Dir: t.TempDir()}, Engine: engine, Specs: []SpecContributor{f}})
	a := &App{Name: "api", Current: 1, Releases: []Release{{Version: 1, Image: "berth/api:v1"}}}
	if err := saveApp(ctx, p.store, a); err != nil {
		t.Fatal(err)
	}
	base, err := p.RunBase(ctx, "api")
	if err != nil {
		t.Fatal(err)
	}
	if want := []Slot{{Phase: PhaseRun}}; !reflect.DeepEqual(f.slots, want) || base.Host.Labels["family"] != "run" {
		t.Fatalf("slots %v, labels %v", f.slots, base.Host.Labels)
	}
}
