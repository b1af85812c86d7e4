package swarm

import (
	"context"
	"io"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// fakeAPI is a swarm manager whose services' tasks all fail at once.
type fakeAPI struct {
	mu       sync.Mutex
	services map[string]swarm.ServiceSpec
	removed  []string
}

func (f *fakeAPI) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: system.Info{Swarm: swarm.Info{LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true}}}, nil
}
func (f *fakeAPI) ServiceCreate(_ context.Context, o client.ServiceCreateOptions) (client.ServiceCreateResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.services[o.Spec.Name] = o.Spec
	return client.ServiceCreateResult{ID: o.Spec.Name}, nil
}
func (f *fakeAPI) ServiceInspect(_ context.Context, id string, _ client.ServiceInspectOptions) (client.ServiceInspectResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return client.ServiceInspectResult{Service: swarm.Service{ID: id, Spec: f.services[id]}}, nil
}
func (f *fakeAPI) ServiceUpdate(context.Context, string, client.ServiceUpdateOptions) (client.ServiceUpdateResult, error) {
	return client.ServiceUpdateResult{}, nil
}
func (f *fakeAPI) ServiceList(context.Context, client.ServiceListOptions) (client.ServiceListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out client.ServiceListResult
	for id, spec := range f.services {
		out.Items = append(out.Items, swarm.Service{ID: id, Spec: spec})
	}
	return out, nil
}
func (f *fakeAPI) ServiceRemove(_ context.Context, id string, _ client.ServiceRemoveOptions) (client.ServiceRemoveResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.services, id)
	f.removed = append(f.removed, id)
	return client.ServiceRemoveResult{}, nil
}
func (f *fakeAPI) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out client.TaskListResult
	for id := range f.services {
		if o.Filters["service"] != nil && !o.Filters["service"][id] {
			continue
		}
		out.Items = append(out.Items, swarm.Task{ID: id + ".1", ServiceID: id, Slot: 1, DesiredState: swarm.TaskStateShutdown,
			Meta:   swarm.Meta{CreatedAt: time.Now()},
			Status: swarm.TaskStatus{State: swarm.TaskStateFailed, Err: "task: non-zero exit (1)"}})
	}
	return out, nil
}
func (f *fakeAPI) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{}, nil
}

type fakeApps struct{ platform.SchedulerApps }

func (fakeApps) ProcessGlobals() platform.ProcessGlobals { return platform.ProcessGlobals{} }

func TestARolloutWhoseTasksFailRemovesItsServicesAndChangesNothing(t *testing.T) {
	api := &fakeAPI{services: map[string]swarm.ServiceSpec{}}
	saves := 0
	s := New(platform.SchedulerDeps{
		Apps:           fakeApps{},
		Save:           func(context.Context, *platform.App) error { saves++; return nil },
		Env:            func(*platform.App, platform.Release, string) []string { return nil },
		CheckFormation: func(string, map[string]int, string) error { return nil },
	}, Config{API: api, Instance: func() string { return "inst1" }})
	a := &platform.App{Name: "blog", Current: 1, Generation: 4, Formation: map[string]int{"web": 1}}
	rel := platform.Release{Version: 2, Image: "berth/blog:2", Port: 5000, Processes: map[string]string{"web": "./server"}}
	err := s.Rollout(context.Background(), a, rel, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "web.1: the task failed: task: non-zero exit (1)") {
		t.Fatalf("error %v", err)
	}
	if len(api.services) != 0 || len(api.removed) != 1 || api.removed[0] != "blog_web_5" {
		t.Fatalf("services left %v, removed %v", api.services, api.removed)
	}
	if saves != 0 || a.Current != 1 || a.Generation != 4 {
		t.Fatalf("record changed: saves %d, current %d, generation %d", saves, a.Current, a.Generation)
	}
}
