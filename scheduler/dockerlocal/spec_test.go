package dockerlocal

import (
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// fakeSpec is a settings family that contributes fixed settings and
// records what the scheduler asked of it.
type fakeSpec struct {
	label  string // added as label "family" to every container
	refuse string // a process type CheckTypes refuses
	slots  []platform.Slot
}

func (f *fakeSpec) ContributeSpec(a *platform.App, s platform.Slot, h *docker.HostOptions) error {
	f.slots = append(f.slots, s)
	*h = h.Merge(docker.HostOptions{Labels: map[string]string{"family": f.label}})
	return nil
}

func (f *fakeSpec) CheckTypes(a *platform.App, types []string) error {
	for _, t := range types {
		if t == f.refuse {
			return errors.New("type " + t + " refused")
		}
	}
	return nil
}

// onPlatform is the scheduler of a platform made from cfg, as Berth
// makes it (caddymodule).
func onPlatform(cfg platform.Config) (*platform.Platform, *Scheduler) {
	var d *Scheduler
	cfg.Scheduler = func(deps platform.SchedulerDeps) platform.Scheduler {
		d = New(deps, Config{FormationCheckInterval: -1, MaxRevivals: -1})
		return d
	}
	return platform.New(cfg), d
}

// A process container's spec carries what each contributor gives, asked
// for its slot, the later contributor's single values winning.
func TestContainerSpecTakesTheContributions(t *testing.T) {
	first, second := &fakeSpec{label: "first"}, &fakeSpec{label: "second"}
	_, d := onPlatform(platform.Config{Specs: []platform.SpecContributor{first, second}})
	spec, err := d.containerSpec(&platform.App{Name: "api"}, platform.Release{Version: 1, Image: "berth/api:v1"}, 1, "worker", 2, "api.worker.2.x")
	if err != nil {
		t.Fatal(err)
	}
	if spec.Host.Labels["family"] != "second" {
		t.Errorf("labels %v", spec.Host.Labels)
	}
	want := []platform.Slot{{Phase: platform.PhaseDeploy, Type: "worker", Index: 2}}
	if !reflect.DeepEqual(first.slots, want) || !reflect.DeepEqual(second.slots, want) {
		t.Errorf("slots asked: %v, %v; want %v", first.slots, second.slots, want)
	}
}

// A rollout asks the type checkers before it touches the engine (this
// platform has none).
func TestRolloutAsksTheTypeCheckersFirst(t *testing.T) {
	_, d := onPlatform(platform.Config{Store: &store.Files{Dir: t.TempDir()}, Specs: []platform.SpecContributor{&fakeSpec{refuse: "1"}}})
	err := d.Rollout(context.Background(), &platform.App{Name: "api"}, platform.Release{Processes: map[string]string{"web": "httpd", "1": "worker"}}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "type 1 refused") {
		t.Fatalf("rollout = %v", err)
	}
}

// The post-deploy step gets every checked container, with its type and
// number.
func TestDeployedNamesTheCheckedContainers(t *testing.T) {
	news := []started{{id: "c1", typ: "web", index: 1}, {id: "c2", typ: "worker", index: 3}}
	want := []platform.Deployed{{ID: "c1", Type: "web", Index: 1}, {ID: "c2", Type: "worker", Index: 3}}
	if got := deployed(news); !reflect.DeepEqual(got, want) {
		t.Fatalf("deployed %+v, want %+v", got, want)
	}
}
