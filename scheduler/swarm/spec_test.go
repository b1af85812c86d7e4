package swarm

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
)

func input() serviceInput {
	return serviceInput{
		App:     &platform.App{Name: "blog"},
		Release: platform.Release{Version: 3, Image: "berth/blog:3", ImageID: testImageID, Port: 5000, Processes: map[string]string{"web": "./server"}},
		Type:    "web", Gen: 7, Replicas: 2, Instance: "inst1",
		Env:           []string{"PORT=5000", "DYNO=web.1", "GREETING={{.Node.Hostname}}"},
		RestartPolicy: "on-failure:10",
		StopTimeout:   30 * time.Second,
	}
}

func TestAServiceRunsTheFormationWithBerthsLabels(t *testing.T) {
	spec, err := serviceSpec(input())
	if err != nil {
		t.Fatal(err)
	}
	if spec.Name != "blog_web_7" || *spec.Mode.Replicated.Replicas != 2 {
		t.Fatalf("name %q replicas %d", spec.Name, *spec.Mode.Replicated.Replicas)
	}
	l := spec.Labels
	if l[docker.LabelApp] != "blog" || l[docker.LabelProcess] != "web" || l[docker.LabelGeneration] != "7" || l[docker.LabelRelease] != "3" || l[docker.LabelInstance] != "inst1" || l[docker.LabelPort] != "5000" {
		t.Fatalf("service labels %v", l)
	}
	cs := spec.TaskTemplate.ContainerSpec
	if cs.Image != testImageID || !slices.Equal(cs.Command, []string{"/bin/sh", "-c", "./server"}) || *cs.StopGracePeriod != 30*time.Second {
		t.Fatalf("container spec %+v", cs)
	}
	if spec.UpdateConfig.Order != swarm.UpdateOrderStartFirst {
		t.Fatalf("update order %q", spec.UpdateConfig.Order)
	}
}

func TestATaskIsNotADockerLocalContainerOfTheApp(t *testing.T) {
	spec, _ := serviceSpec(input())
	l := spec.TaskTemplate.ContainerSpec.Labels
	// Every Berth container label is set (an image's cannot stand in),
	// and those that make a container the app's are empty.
	if v, ok := l[docker.LabelApp]; !ok || v != "" {
		t.Fatalf("berth.app %q (set %v)", v, ok)
	}
	if v, ok := l[docker.LabelInstance]; !ok || v != "" {
		t.Fatalf("berth.instance %q (set %v)", v, ok)
	}
	if l[LabelTaskApp] != "blog" || l[LabelTaskProcess] != "web" {
		t.Fatalf("task labels %v", l)
	}
}

func TestEachTaskPublishesTheAppsPortInHostModeOnAPortTheEngineChooses(t *testing.T) {
	spec, _ := serviceSpec(input())
	ports := spec.EndpointSpec.Ports
	if len(ports) != 1 || ports[0].PublishMode != swarm.PortConfigPublishModeHost || ports[0].TargetPort != 5000 || ports[0].PublishedPort != 0 {
		t.Fatalf("ports %+v", ports)
	}
}

func TestTheTasksJoinTheNetworksTheyAreGivenAndStillPublishInHostMode(t *testing.T) {
	spec, _ := serviceSpec(input())
	if len(spec.TaskTemplate.Networks) != 0 {
		t.Fatalf("an app that links no datastore joins %v", spec.TaskTemplate.Networks)
	}
	in := input()
	in.Networks = []string{"berth-overlay"}
	spec, err := serviceSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if n := spec.TaskTemplate.Networks; len(n) != 1 || n[0].Target != "berth-overlay" {
		t.Fatalf("networks %+v, want berth-overlay", n)
	}
	if p := spec.EndpointSpec.Ports; len(p) != 1 || p[0].PublishMode != swarm.PortConfigPublishModeHost {
		t.Fatalf("ports %+v, want the app's port in host mode", p)
	}
}

func TestTheEnvironmentNamesEachTasksDynoAndQuotesTemplates(t *testing.T) {
	spec, _ := serviceSpec(input())
	env := spec.TaskTemplate.ContainerSpec.Env
	if !slices.Contains(env, "DYNO=web.{{.Task.Slot}}") || slices.Contains(env, "DYNO=web.1") {
		t.Fatalf("env %q", env)
	}
	if !slices.Contains(env, `GREETING={{"{{"}}.Node.Hostname}}`) {
		t.Fatalf("a config value is read as a template: %q", env)
	}
}

func TestRestartPoliciesInSwarmsTerms(t *testing.T) {
	for policy, want := range map[string]swarm.RestartPolicyCondition{
		"no": swarm.RestartPolicyConditionNone, "always": swarm.RestartPolicyConditionAny,
		"unless-stopped": swarm.RestartPolicyConditionAny, "on-failure:10": swarm.RestartPolicyConditionOnFailure,
	} {
		p, err := restartPolicy(policy)
		if err != nil || p.Condition != want {
			t.Fatalf("%s: %+v (%v), want %s", policy, p, err, want)
		}
	}
	if p, _ := restartPolicy("on-failure:10"); *p.MaxAttempts != 10 {
		t.Fatalf("max attempts %d", *p.MaxAttempts)
	}
}

func TestALongNameBecomesAValidServiceName(t *testing.T) {
	n := serviceName(strings.Repeat("a", 60), "worker", 12)
	if len(n) > 63 || !validName.MatchString(n) || !strings.HasSuffix(n, "_12") {
		t.Fatalf("name %q", n)
	}
}

func TestSettingsTheSchedulerDoesNotCarryAreRefused(t *testing.T) {
	a := &platform.App{Name: "blog", Storage: []string{"/data:/data"}}
	if got := unsupported(a); !strings.Contains(got, "storage mounts") {
		t.Fatalf("unsupported %q", got)
	}
	if got := unsupported(&platform.App{Name: "blog"}); got != "" {
		t.Fatalf("unsupported %q of an app with none", got)
	}
}

func TestOnlyCheckedRunningWebTasksOfTheGenerationAreRouted(t *testing.T) {
	s := &Scheduler{checked: map[string]bool{"t1": true, "t3": true}}
	s.view = view{active: true, services: []service{
		{app: "blog", typ: "web", gen: 2, tasks: []task{
			{id: "t1", state: swarm.TaskStateRunning, addr: "10.0.0.1:30001"},
			{id: "t2", state: swarm.TaskStateRunning, addr: "10.0.0.1:30002"}, // not checked yet
			{id: "t3", state: swarm.TaskStateStarting, addr: "10.0.0.1:30003"},
		}},
		{app: "blog", typ: "worker", gen: 2, tasks: []task{{id: "t4", state: swarm.TaskStateRunning, addr: "10.0.0.1:30004"}}},
	}}
	s.checked["t4"] = true
	ts, runs := s.Targets("blog", 2)
	if !runs || len(ts) != 1 || ts[0].Addr != "10.0.0.1:30001" {
		t.Fatalf("targets %v runs %v", ts, runs)
	}
	if _, runs := s.Targets("blog", 1); runs {
		t.Fatal("runs a generation it has no service of")
	}
}

func TestATaskIsReachedAtItsNodesAddressAndPublishedPort(t *testing.T) {
	x := taskOf(swarm.Task{ID: "t1", Status: swarm.TaskStatus{State: swarm.TaskStateRunning, PortStatus: swarm.PortStatus{Ports: []swarm.PortConfig{
		{PublishMode: swarm.PortConfigPublishModeHost, TargetPort: 5000, PublishedPort: 31234},
	}}}}, nodeAddr(swarm.Node{Status: swarm.NodeStatus{Addr: "192.0.2.7"}}))
	if x.addr != "192.0.2.7:31234" {
		t.Fatalf("addr %q", x.addr)
	}
}

// A tcp mapping swaps a target's port for its own: on a swarm target
// (NODE-IP:PUBLISHED-PORT) that is any program of the node. A rollout of
// an app with one is refused (scheduler:set --global swarm lets one by).
func TestATCPMappingIsUnsupported(t *testing.T) {
	a := &platform.App{Name: "db", PortMap: []string{"http:80:5000", "tcp:15432:5432"}}
	if got := unsupported(a); !strings.Contains(got, "ports:remove APP tcp:15432:5432") {
		t.Fatalf("unsupported = %q", got)
	}
}

const testImageID = "sha256:4a1c0f5e8b6d2c3e9f7a1b2c3d4e5f60718293a4b5c6d7e8f90a1b2c3d4e5f6a"

// Swarm's executor pulls a task's image before each task start unless it
// is referenced by ID: a tag (berth/APP:vN) would be pulled from Docker
// Hub every time, a stranger's image if the name is taken there.
func TestTheTaskImageIsTheReleasesImageID(t *testing.T) {
	spec, err := serviceSpec(input())
	if err != nil {
		t.Fatal(err)
	}
	if img := spec.TaskTemplate.ContainerSpec.Image; img != testImageID {
		t.Fatalf("task image %q; want the release's image ID %s", img, testImageID)
	}
}

// docker-local's containers rotate their logs at 10m x 3 unless logs:set
// says otherwise (docker.Client.Create); the engine's default for a task
// has no cap.
func TestTaskLogsAreRotatedAsDockerLocalsByDefault(t *testing.T) {
	spec, err := serviceSpec(input())
	if err != nil {
		t.Fatal(err)
	}
	d := spec.TaskTemplate.LogDriver
	if d == nil || d.Name != "json-file" || d.Options["max-size"] != "10m" || d.Options["max-file"] != "3" {
		t.Fatalf("log driver %+v; want json-file max-size 10m max-file 3", d)
	}
	in := input()
	in.Host.LogOpts = map[string]string{"max-size": "", "max-file": ""} // logs:set max-size unlimited
	spec, _ = serviceSpec(in)
	if d := spec.TaskTemplate.LogDriver; len(d.Options) != 0 {
		t.Fatalf("unlimited: options %v; want none", d.Options)
	}
	in.Host.LogOpts = map[string]string{"max-size": "50m"}
	spec, _ = serviceSpec(in)
	if d := spec.TaskTemplate.LogDriver; d.Options["max-size"] != "50m" || d.Options["max-file"] != "3" {
		t.Fatalf("max-size 50m: options %v", d.Options)
	}
}

// docker-local runs --init: PID 1 forwards SIGTERM and reaps zombies.
func TestTasksRunWithAnInit(t *testing.T) {
	spec, _ := serviceSpec(input())
	if i := spec.TaskTemplate.ContainerSpec.Init; i == nil || !*i {
		t.Fatalf("init %v; want true", i)
	}
}

// A memory-swap limit has no place in a Swarm service: refused, not
// dropped.
func TestAMemorySwapLimitIsRefused(t *testing.T) {
	in := input()
	in.Host.Memory, in.Host.MemorySwap = 256<<20, 256<<20
	if _, err := serviceSpec(in); err == nil || !strings.Contains(err.Error(), "memory-swap") {
		t.Fatalf("error %v; want the memory-swap limit refused", err)
	}
}

// The global networks reach the host options (the app's own are refused
// by unsupported): refused alike.
func TestGlobalNetworksAreRefusedLikeTheAppsOwn(t *testing.T) {
	for _, h := range []docker.HostOptions{
		{InitialNetwork: "shared"},
		{Networks: []docker.Attachment{{Network: "shared"}}},
	} {
		in := input()
		in.Host = h
		if _, err := serviceSpec(in); err == nil || !strings.Contains(err.Error(), "networks") {
			t.Fatalf("host %+v: error %v; want refused", h, err)
		}
	}
}

// A task re-read (current) keeps its node's address: an IPv6 one is
// bracketed in "host:port", and must come out whole.
func TestAReReadTaskKeepsItsIPv6NodeAddress(t *testing.T) {
	x := swarm.Task{ID: "t1", Status: swarm.TaskStatus{State: swarm.TaskStateRunning, PortStatus: swarm.PortStatus{
		Ports: []swarm.PortConfig{{PublishMode: swarm.PortConfigPublishModeHost, TargetPort: 5000, PublishedPort: 30002}},
	}}}
	for addr, want := range map[string]string{"[fd00::1]:30001": "[fd00::1]:30002", "10.0.0.2:30001": "10.0.0.2:30002", "": ""} {
		if got := taskOf(x, hostOf(addr)).addr; got != want {
			t.Errorf("re-read of a task at %q: address %q; want %q", addr, got, want)
		}
	}
}
