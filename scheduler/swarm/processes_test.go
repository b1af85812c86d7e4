package swarm

import (
	"bytes"
	"context"
	"encoding/binary"
	"io"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/api/types/system"
	"github.com/moby/moby/client"
)

// tasksAPI is a swarm manager (node "here") with fixed services, tasks
// and nodes, whose task logs are logs[task ID].
type tasksAPI struct {
	fakeAPI
	svcs  []swarm.Service
	tasks []swarm.Task
	nodes []swarm.Node
	logs  map[string]string
	asked []client.TaskLogsOptions
	// wide counts the task lists not limited to one service.
	wide int
	// hang are the tasks whose logs never answer (until ctx ends, as the
	// HTTP client ends a body's read).
	hang map[string]bool
}

func (f *tasksAPI) Info(context.Context, client.InfoOptions) (client.SystemInfoResult, error) {
	return client.SystemInfoResult{Info: system.Info{Swarm: swarm.Info{NodeID: "here", LocalNodeState: swarm.LocalNodeStateActive, ControlAvailable: true}}}, nil
}
func (f *tasksAPI) ServiceList(_ context.Context, o client.ServiceListOptions) (client.ServiceListResult, error) {
	var out client.ServiceListResult
next:
	for _, sv := range f.svcs {
		for kv := range o.Filters["label"] {
			k, v, _ := strings.Cut(kv, "=")
			if sv.Spec.Labels[k] != v {
				continue next
			}
		}
		out.Items = append(out.Items, sv)
	}
	return out, nil
}
func (f *tasksAPI) TaskList(_ context.Context, o client.TaskListOptions) (client.TaskListResult, error) {
	var out client.TaskListResult
	if len(o.Filters["service"]) != 1 {
		f.wide++
	}
	for _, t := range f.tasks {
		if o.Filters["service"] != nil && !o.Filters["service"][t.ServiceID] {
			continue
		}
		if o.Filters["desired-state"] != nil && !o.Filters["desired-state"][string(t.DesiredState)] {
			continue
		}
		out.Items = append(out.Items, t)
	}
	return out, nil
}
func (f *tasksAPI) NodeList(context.Context, client.NodeListOptions) (client.NodeListResult, error) {
	return client.NodeListResult{Items: f.nodes}, nil
}

// TaskLogs multiplexes the task's output on stdout, as Docker does for a
// service without a TTY.
func (f *tasksAPI) TaskLogs(ctx context.Context, id string, o client.TaskLogsOptions) (client.TaskLogsResult, error) {
	f.asked = append(f.asked, o)
	if f.hang[id] {
		pr, pw := io.Pipe()
		context.AfterFunc(ctx, func() { pw.CloseWithError(ctx.Err()) })
		return pr, nil
	}
	var buf bytes.Buffer
	for _, line := range strings.SplitAfter(f.logs[id], "\n") {
		if line == "" {
			continue
		}
		hdr := [8]byte{1}
		binary.BigEndian.PutUint32(hdr[4:], uint32(len(line)))
		buf.Write(hdr[:])
		buf.WriteString(line)
	}
	return io.NopCloser(&buf), nil
}

// newTasks is app blog at generation 3 as a web service of two slots and
// a worker service: web.1 runs here, web.2 is restarting after a crash,
// worker.1 runs on node "far"; an old service of generation 2 is not the
// app's now.
func newTasks() (*Scheduler, *tasksAPI) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	labels := func(typ, gen string) map[string]string {
		return map[string]string{docker.LabelApp: "blog", docker.LabelProcess: typ, docker.LabelGeneration: gen, docker.LabelInstance: "inst1"}
	}
	two := uint64(2)
	one := uint64(1)
	svc := func(id, typ, gen string, n *uint64) swarm.Service {
		return swarm.Service{ID: id, Spec: swarm.ServiceSpec{Annotations: swarm.Annotations{Name: "blog_" + typ + "_" + gen, Labels: labels(typ, gen)},
			Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: n}}}}
	}
	task := func(id, svc, node string, slot int, desired, state swarm.TaskState, port uint32, created time.Time) swarm.Task {
		t := swarm.Task{ID: id, ServiceID: svc, NodeID: node, Slot: slot, DesiredState: desired,
			Meta:   swarm.Meta{CreatedAt: created},
			Status: swarm.TaskStatus{State: state, Timestamp: created, ContainerStatus: &swarm.ContainerStatus{ContainerID: "c-" + id}}}
		if port != 0 {
			t.Status.PortStatus.Ports = []swarm.PortConfig{{PublishMode: swarm.PortConfigPublishModeHost, TargetPort: 5000, PublishedPort: port}}
		}
		if state == swarm.TaskStateFailed {
			t.Status.Err = "task: non-zero exit (1)"
		}
		return t
	}
	api := &tasksAPI{
		svcs: []swarm.Service{svc("w3", "web", "3", &two), svc("k3", "worker", "3", &one), svc("w2", "web", "2", &one)},
		tasks: []swarm.Task{
			task("t1", "w3", "here", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 30001, at),
			task("t2old", "w3", "here", 2, swarm.TaskStateShutdown, swarm.TaskStateFailed, 0, at),
			task("t2", "w3", "here", 2, swarm.TaskStateRunning, swarm.TaskStatePreparing, 0, at.Add(time.Second)),
			task("k1", "k3", "far", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 0, at),
			task("old1", "w2", "here", 1, swarm.TaskStateRunning, swarm.TaskStateRunning, 30000, at),
		},
		nodes: []swarm.Node{
			{ID: "here", Description: swarm.NodeDescription{Hostname: "berth"}, Status: swarm.NodeStatus{Addr: "10.0.0.1"}},
			{ID: "far", Description: swarm.NodeDescription{Hostname: "worker-1"}, Status: swarm.NodeStatus{Addr: "10.0.0.2"}},
		},
		logs: map[string]string{
			"t1": "2026-01-01T00:00:01.000000000Z web one\n",
			"t2": "2026-01-01T00:00:02.000000000Z web two\n",
			"k1": "2026-01-01T00:00:03.000000000Z worker\n",
		},
	}
	s := New(platform.SchedulerDeps{Apps: fakeApps{}}, Config{API: api, Instance: func() string { return "inst1" }})
	return s, api
}

var blog = &platform.App{Name: "blog", Current: 7, Generation: 3, Formation: map[string]int{"web": 3, "worker": 1}}

func TestStatusesListEachSlotsTaskWithItsNodeAndAddress(t *testing.T) {
	s, _ := newTasks()
	got, err := s.Statuses(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	lines := map[string]platform.ProcessStatus{}
	for _, p := range got {
		lines[p.Name] = p
	}
	if len(got) != 4 {
		t.Fatalf("statuses %+v", got)
	}
	if w := lines["blog_web_3.1"]; w.State != "running" || w.Node != "berth" || w.Address != "10.0.0.1:30001" || w.Release != 7 ||
		w.Detail != "task t1 on node berth at 10.0.0.1:30001" {
		t.Fatalf("web.1 %+v", w)
	}
	if w := lines["blog_web_3.2"]; w.State != "restarting" || w.Restarts != 1 || !strings.Contains(w.Detail, "failed task: non-zero exit (1)") {
		t.Fatalf("web.2 %+v", w)
	}
	if w := lines["blog_web_3.3"]; w.State != "missing" {
		t.Fatalf("web.3 %+v", w)
	}
	if w := lines["blog_worker_3.1"]; w.State != "running" || w.Node != "worker-1" {
		t.Fatalf("worker.1 %+v", w)
	}
}

func TestLogStreamsReadEachRunningTaskThroughTheManager(t *testing.T) {
	s, api := newTasks()
	streams, err := s.LogStreams(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	var dynos []string
	for _, st := range streams {
		dynos = append(dynos, st.Type+"."+string(rune('0'+st.Index)))
	}
	if strings.Join(dynos, " ") != "web.1 web.2 worker.1" {
		t.Fatalf("streams of %v", dynos)
	}
	var out bytes.Buffer
	if err := streams[2].Stream(context.Background(), 5, true, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2026-01-01T00:00:03.000000000Z worker\n" {
		t.Fatalf("worker's output %q", out.String())
	}
	if o := api.asked[0]; o.Tail != "5" || !o.Follow || !o.Timestamps || !o.ShowStdout || !o.ShowStderr {
		t.Fatalf("asked %+v", o)
	}
	if err := streams[0].Stream(context.Background(), -1, false, io.Discard); err != nil || api.asked[1].Tail != "all" {
		t.Fatalf("all lines: %v, asked %+v", err, api.asked[1])
	}
}

func TestEnterTargetIsTheContainerOfATaskOnThisNode(t *testing.T) {
	s, _ := newTasks()
	tg, err := s.EnterTarget(context.Background(), blog, "")
	if err != nil || tg.Container != "c-t1" || tg.Engine != nil {
		t.Fatalf("enter web: %+v, %v; want c-t1 on Berth's engine", tg, err)
	}
	// web.2 is not running yet.
	if _, err := s.EnterTarget(context.Background(), blog, "web.2"); err == nil || err.Error() != "blog has no running web.2 task" {
		t.Fatalf("enter web.2: %v", err)
	}
}

func TestEnterTargetOnAnotherNodeWithoutItsEngineSaysWhichNodeAndTheSetting(t *testing.T) {
	s, _ := newTasks()
	_, err := s.EnterTarget(context.Background(), blog, "worker")
	if err == nil || !strings.Contains(err.Error(), "worker.1 of blog runs on the swarm node worker-1 (10.0.0.2), whose Docker engine Berth does not reach") ||
		!strings.Contains(err.Error(), "scheduler-swarm:set --global node-engine worker-1 tcp://10.0.0.2:2376 --tls-dir DIR") {
		t.Fatalf("enter worker: %v", err)
	}
}

// ps:report (and the metrics sampler, every app every 30 s) asks the
// manager about the app's services alone, and leaves the view the poller
// routes from as it was: a checked task keeps taking traffic.
func TestStatusesLeaveTheRoutingViewAlone(t *testing.T) {
	s, api := newTasks()
	routed := view{active: true, services: []service{{id: "w3", app: "blog", typ: "web", gen: 3,
		tasks: []task{{id: "seen", slot: 1, state: swarm.TaskStateRunning, addr: "10.0.0.1:30009"}}}}}
	s.setView(routed)
	s.markChecked("seen")
	if _, err := s.Statuses(context.Background(), blog); err != nil {
		t.Fatal(err)
	}
	if got, runs := s.Targets("blog", 3); !runs || len(got) != 1 || got[0].ID != "seen" {
		t.Fatalf("targets after ps:report: %+v (runs %v)", got, runs)
	}
	if api.wide != 0 {
		t.Fatalf("%d task lists of the whole swarm", api.wide)
	}
}

func taskByID(api *tasksAPI, id string) *swarm.Task {
	for i := range api.tasks {
		if api.tasks[i].ID == id {
			return &api.tasks[i]
		}
	}
	panic(id)
}

func streamOf(t *testing.T, streams []platform.LogStream, typ string, index int) platform.LogStream {
	t.Helper()
	for _, st := range streams {
		if st.Type == typ && st.Index == index {
			return st
		}
	}
	t.Fatalf("no stream of %s.%d among %d", typ, index, len(streams))
	return platform.LogStream{}
}

// A slot whose task crashed and that Swarm gave up on (on-failure's
// attempts spent) still shows that task's output: why it crashed.
func TestLogStreamsShowATaskSwarmGaveUpOn(t *testing.T) {
	s, api := newTasks()
	k1 := taskByID(api, "k1")
	k1.DesiredState, k1.Status.State = swarm.TaskStateShutdown, swarm.TaskStateFailed
	streams, err := s.LogStreams(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := streamOf(t, streams, "worker", 1).Stream(context.Background(), -1, false, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2026-01-01T00:00:03.000000000Z worker\n" {
		t.Fatalf("worker's output %q", out.String())
	}
}

// While the task that replaces a crashed one has no container yet, the
// slot shows the crashed one's output.
func TestLogStreamsShowTheCrashedTaskUntilItsReplacementStarts(t *testing.T) {
	s, api := newTasks()
	taskByID(api, "t2").Status.ContainerStatus = nil
	api.logs["t2old"] = "2026-01-01T00:00:00.500000000Z panic: boom\n"
	streams, err := s.LogStreams(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := streamOf(t, streams, "web", 2).Stream(context.Background(), -1, false, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2026-01-01T00:00:00.500000000Z panic: boom\n" {
		t.Fatalf("web.2's output %q", out.String())
	}
}

// Without -t, a task whose logs do not answer ends with an error that
// names it, rather than holding logs (and the others' lines) forever.
func TestLogStreamsWithoutFollowGiveUpOnATaskThatDoesNotAnswer(t *testing.T) {
	old := LogsDeadline
	LogsDeadline = 10 * time.Millisecond
	t.Cleanup(func() { LogsDeadline = old })
	s, api := newTasks()
	api.hang = map[string]bool{"k1": true}
	streams, err := s.LogStreams(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	// The test's own bound, far beyond the deadline: a stream that never
	// ends fails here rather than hanging the test.
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	err = streamOf(t, streams, "worker", 1).Stream(ctx, -1, false, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "task k1 (worker.1) did not answer") {
		t.Fatalf("hanging task: %v", err)
	}
	var out bytes.Buffer
	if err := streamOf(t, streams, "web", 1).Stream(ctx, -1, false, &out); err != nil || out.Len() == 0 {
		t.Fatalf("web.1: %q, %v", out.String(), err)
	}
}

// enter web takes a web task that runs on the Berth server's node, even
// when web.1 runs on another.
func TestEnterTargetPrefersATaskOnThisNode(t *testing.T) {
	s, api := newTasks()
	taskByID(api, "t1").NodeID = "far"
	taskByID(api, "t2").Status.State = swarm.TaskStateRunning
	for _, process := range []string{"", "web"} {
		if tg, err := s.EnterTarget(context.Background(), blog, process); err != nil || tg.Container != "c-t2" || tg.Engine != nil {
			t.Fatalf("enter %q: %+v, %v", process, tg, err)
		}
	}
	if _, err := s.EnterTarget(context.Background(), blog, "web.1"); err == nil || !strings.Contains(err.Error(), "web.1 of blog runs on the swarm node worker-1") {
		t.Fatalf("enter web.1: %v", err)
	}
}

// A formation type whose service is gone (removed behind Berth's back)
// shows as missing, as docker-local's missing containers do.
func TestStatusesSayATypeWithoutItsServiceIsMissing(t *testing.T) {
	s, api := newTasks()
	api.svcs = slices.DeleteFunc(api.svcs, func(sv swarm.Service) bool { return sv.ID == "k3" })
	a := *blog
	a.Releases = []platform.Release{{Version: 7, Processes: map[string]string{"web": "serve", "worker": "work"}}}
	got, err := s.Statuses(context.Background(), &a)
	if err != nil {
		t.Fatal(err)
	}
	i := slices.IndexFunc(got, func(p platform.ProcessStatus) bool { return p.Type == "worker" })
	if i < 0 || got[i].State != "missing" || got[i].Name != "blog_worker_3.1" || got[i].Index != 1 {
		t.Fatalf("statuses %+v", got)
	}
}

// logs -t of a task ends once the poller sees the task leave (a rollout
// retired it, Swarm replaced it): Swarm's follow of it stays open.
func TestLogStreamsFollowEndsWhenTheTaskLeavesTheView(t *testing.T) {
	old := PollInterval
	PollInterval = 5 * time.Millisecond
	t.Cleanup(func() { PollInterval = old })
	s, api := newTasks()
	api.hang = map[string]bool{"k1": true}
	k1 := view{active: true, services: []service{{id: "k3", app: "blog", typ: "worker", gen: 3,
		tasks: []task{{id: "k1", slot: 1, state: swarm.TaskStateRunning}}}}}
	s.setView(k1)
	streams, err := s.LogStreams(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	ended := make(chan error, 1)
	go func() { ended <- streamOf(t, streams, "worker", 1).Stream(ctx, -1, true, io.Discard) }()
	// The stream runs on while the task is there.
	select {
	case err := <-ended:
		t.Fatalf("the stream of a task still running ended: %v", err)
	case <-time.After(50 * time.Millisecond):
	}
	s.setView(view{active: true})
	if err := <-ended; err != nil || ctx.Err() != nil {
		t.Fatalf("stream ended with %v (the test's bound: %v)", err, ctx.Err())
	}
}

// A task whose node Swarm reports down leaves the route at the next
// look, before Swarm's orchestrator stops wanting it (about a second
// later, measured): nothing reaches a node that stopped its heartbeats.
func TestTasksOfANodeReportedDownAreNotRouted(t *testing.T) {
	s, api := newTasks()
	api.tasks = append(api.tasks, swarm.Task{ID: "t3", ServiceID: "w3", NodeID: "far", Slot: 3, DesiredState: swarm.TaskStateRunning,
		Status: swarm.TaskStatus{State: swarm.TaskStateRunning, PortStatus: swarm.PortStatus{Ports: []swarm.PortConfig{
			{PublishMode: swarm.PortConfigPublishModeHost, TargetPort: 5000, PublishedPort: 30003}}}}})
	s.markChecked("t1", "t3")
	addrs := func() []string {
		if _, err := s.look(context.Background()); err != nil {
			t.Fatal(err)
		}
		ts, _ := s.Targets("blog", 3)
		var out []string
		for _, x := range ts {
			out = append(out, x.Addr)
		}
		slices.Sort(out)
		return out
	}
	if got := addrs(); !slices.Equal(got, []string{"10.0.0.1:30001", "10.0.0.2:30003"}) {
		t.Fatalf("targets with both nodes ready: %v", got)
	}
	api.nodes[1].Status.State = swarm.NodeStateDown
	if got := addrs(); !slices.Equal(got, []string{"10.0.0.1:30001"}) {
		t.Fatalf("targets with the far node down: %v, want the near node's task only", got)
	}
	api.nodes[1].Status.State = swarm.NodeStateReady
	if got := addrs(); !slices.Equal(got, []string{"10.0.0.1:30001", "10.0.0.2:30003"}) {
		t.Fatalf("targets once the far node is back: %v", got)
	}
}
