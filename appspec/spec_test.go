package appspec

import (
	"context"
	"encoding/json"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

func processApp() *platform.App {
	return &platform.App{
		Name:    "api",
		Storage: []string{"/srv/api:/data", "cache:/cache:ro"},
		Networks: platform.NetworkSettings{
			InitialNetwork:   "front",
			AttachPostCreate: []string{"shared"},
			AttachPostDeploy: []string{"late"},
		},
		Resources: platform.ResourceSettings{
			Limits:       map[string]platform.Resources{DefaultProcessType: {Memory: "256m", CPU: "1"}, "worker": {Memory: "128m"}},
			Reservations: map[string]platform.Resources{DefaultProcessType: {Memory: "64m"}},
		},
		DockerOptions: map[string][]string{PhaseDeploy: {"--label team=x"}, PhaseRun: {"-e ONE_OFF=1"}},
	}
}

func contributed(t *testing.T, sp *Spec, a *platform.App, s platform.Slot) docker.HostOptions {
	t.Helper()
	var h docker.HostOptions
	if err := sp.ContributeSpec(a, s, &h); err != nil {
		t.Fatal(err)
	}
	return h
}

// A process container gets the storage, its type's resources (else the
// default's), the deploy options and the networks under its aliases.
func TestContributeSpecForAProcess(t *testing.T) {
	f := newFixture(t)
	a := processApp()
	h := contributed(t, f.spec, a, platform.Slot{Phase: PhaseDeploy, Type: "worker", Index: 2})
	if h.Memory != 128<<20 || h.NanoCPUs != 1e9 || h.MemoryReservation != 64<<20 {
		t.Errorf("worker resources: memory %d cpus %d reservation %d", h.Memory, h.NanoCPUs, h.MemoryReservation)
	}
	if !reflect.DeepEqual(h.Binds, a.Storage) || h.Labels["team"] != "x" || len(h.Env) != 0 {
		t.Errorf("binds %q labels %q env %q", h.Binds, h.Labels, h.Env)
	}
	want := []string{"api.worker", "api.worker.2"}
	if h.InitialNetwork != "front" || !reflect.DeepEqual(h.InitialAliases, want) ||
		len(h.Networks) != 1 || h.Networks[0].Network != "shared" || !reflect.DeepEqual(h.Networks[0].Aliases, want) {
		t.Errorf("networks: %+v", h)
	}
}

// A run one-off gets the storage and the run options, and no resources
// or aliases.
func TestContributeSpecForARunOneOff(t *testing.T) {
	f := newFixture(t)
	a := processApp()
	run := contributed(t, f.spec, a, platform.Slot{Phase: PhaseRun})
	if run.Memory != 0 || !reflect.DeepEqual(run.Env, []string{"ONE_OFF=1"}) || len(run.InitialAliases) != 0 || !reflect.DeepEqual(run.Binds, a.Storage) {
		t.Errorf("run one-off: %+v", run)
	}
}

// docker-options:add --process TYPE: the type's deploy options come after
// the app's, on that type's containers only.
func TestProcessOptionsOnlyOnTheirType(t *testing.T) {
	f := newFixture(t)
	a := &platform.App{Name: "api", DockerOptions: map[string][]string{
		PhaseDeploy:            {"--label team=x"},
		ProcessPhase("worker"): {"--label only=worker"},
		PhaseRun:               {"--label one=off"},
	}}
	if w := contributed(t, f.spec, a, platform.Slot{Phase: PhaseDeploy, Type: "worker", Index: 1}); w.Labels["team"] != "x" || w.Labels["only"] != "worker" {
		t.Fatalf("worker labels %q", w.Labels)
	}
	if web := contributed(t, f.spec, a, platform.Slot{Phase: PhaseDeploy, Type: "web", Index: 1}); web.Labels["team"] != "x" || web.Labels["only"] != "" {
		t.Fatalf("web labels %q", web.Labels)
	}
	if run := contributed(t, f.spec, a, platform.Slot{Phase: PhaseRun}); run.Labels["only"] != "" || run.Labels["one"] != "off" {
		t.Fatalf("run labels %q", run.Labels)
	}
}

// A record edited by hand into an option Berth does not take fails the
// container, naming the app and the option.
func TestHandEditedOptionFailsTheContainer(t *testing.T) {
	f := newFixture(t)
	a := &platform.App{Name: "api", DockerOptions: map[string][]string{PhaseDeploy: {"--privileged"}}}
	var h docker.HostOptions
	err := f.spec.ContributeSpec(a, platform.Slot{Phase: PhaseDeploy, Type: "web", Index: 1}, &h)
	if err == nil || !strings.Contains(err.Error(), `docker-options of api: "--privileged"`) {
		t.Fatalf("err = %v", err)
	}
}

// An app without networks of its own takes the global ones, each
// property on its own.
func TestContributeSpecTakesTheGlobalNetworks(t *testing.T) {
	f := newFixture(t, "g-init", "g-late", "own")
	ctx := context.Background()
	for key, nets := range map[string][]string{InitialNetwork: {"g-init"}, AttachPostDeploy: {"g-late"}} {
		if err := f.settings.SetGlobalNetwork(ctx, key, nets); err != nil {
			t.Fatal(err)
		}
	}
	a := &platform.App{Name: "api", Networks: platform.NetworkSettings{AttachPostDeploy: []string{"own"}}}
	h := contributed(t, f.spec, a, platform.Slot{Phase: PhaseDeploy, Type: "web", Index: 1})
	if h.InitialNetwork != "g-init" {
		t.Errorf("initial network %q, want the global g-init", h.InitialNetwork)
	}
	if err := f.spec.PostDeploy(ctx, a, []platform.Deployed{{ID: "c1", Type: "web", Index: 1}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c1 own api.web,api.web.1"}; !reflect.DeepEqual(f.engine.connected, want) {
		t.Errorf("post-deploy joined %q, want the app's own %q", f.engine.connected, want)
	}
}

// The post-deploy step joins each checked container to the
// attach-post-deploy networks under its own aliases.
func TestPostDeployJoinsTheAttachPostDeployNetworks(t *testing.T) {
	f := newFixture(t)
	a := processApp()
	news := []platform.Deployed{{ID: "c1", Type: "web", Index: 1}, {ID: "c2", Type: "worker", Index: 2}}
	if err := f.spec.PostDeploy(context.Background(), a, news); err != nil {
		t.Fatal(err)
	}
	want := []string{"c1 late api.web,api.web.1", "c2 late api.worker,api.worker.2"}
	if !reflect.DeepEqual(f.engine.connected, want) {
		t.Fatalf("joined %q, want %q", f.engine.connected, want)
	}
}

// An all-digit process type on an app with networks is refused: its
// alias APP.TYPE could be another app's APP.TYPE.N.
func TestAllDigitProcessTypesStayOffNetworks(t *testing.T) {
	f := newFixture(t)
	a := &platform.App{Name: "api.web", Networks: platform.NetworkSettings{AttachPostDeploy: []string{"shared"}}}
	if err := f.spec.CheckTypes(a, []string{"web", "1"}); err == nil || !strings.Contains(err.Error(), `api.web's process type "1" is all digits`) {
		t.Errorf("type 1 on a network = %v", err)
	}
	if err := f.spec.CheckTypes(a, []string{"web", "worker2", "2x"}); err != nil {
		t.Errorf("types with letters: %v", err)
	}
	if err := f.spec.CheckTypes(&platform.App{Name: "api.web"}, []string{"1"}); err != nil {
		t.Errorf("type 1 without networks has no aliases: %v", err)
	}
}

// A build gets the app's own build limits (not _default_'s), whether an
// admin set them, and the build options, later ones winning.
func TestContributeBuild(t *testing.T) {
	f := newFixture(t)
	a := &platform.App{Name: "api",
		Resources: platform.ResourceSettings{Limits: map[string]platform.Resources{
			platform.BuildProcessType: {Memory: "256m", CPU: "0.5", MemorySwap: "-1"},
			DefaultProcessType:        {Memory: "64m"},
		}, SetBy: SetByDeployKey},
		DockerOptions: map[string][]string{PhaseBuild: {"--build-arg 'A=one two'", "--target=web", "--build-arg A=three"}},
	}
	var b platform.BuildSpec
	if err := f.spec.ContributeBuild(a, &b); err != nil {
		t.Fatal(err)
	}
	if b.Resources.Memory != 256<<20 || b.Resources.NanoCPUs != 5e8 || b.Resources.MemorySwap != -1 || b.ByAdmin {
		t.Errorf("build resources %+v, by admin %t", b.Resources, b.ByAdmin)
	}
	if b.Options.BuildArgs["A"] != "three" || b.Options.Target != "web" {
		t.Errorf("build options %+v: later options override earlier ones", b.Options)
	}
	a.Resources.SetBy = SetByAdmin
	if b = (platform.BuildSpec{}); f.spec.ContributeBuild(a, &b) != nil || !b.ByAdmin {
		t.Errorf("an admin's settings: by admin %t", b.ByAdmin)
	}
	a.Resources.Limits = map[string]platform.Resources{DefaultProcessType: {Memory: "64m"}}
	if b = (platform.BuildSpec{}); f.spec.ContributeBuild(a, &b) != nil || b.Resources.Memory != 0 {
		t.Errorf("_default_ is not the build's: %+v", b.Resources)
	}
}

// A hand-edited build option fails only what uses it: the build from
// source (platform's deploy checks OptionsErr there). A deploy that
// builds nothing (git:from-image, a config change's release) still gets
// the build's limits and goes on.
func TestHandEditedBuildOptionFailsOnlyTheBuild(t *testing.T) {
	f := newFixture(t)
	a := &platform.App{Name: "api",
		Resources:     platform.ResourceSettings{Limits: map[string]platform.Resources{platform.BuildProcessType: {Memory: "256m"}}},
		DockerOptions: map[string][]string{PhaseBuild: {"--memory 1g"}},
	}
	var b platform.BuildSpec
	if err := f.spec.ContributeBuild(a, &b); err != nil {
		t.Fatalf("the contribution failed over a build option: %v", err)
	}
	if b.OptionsErr == nil || !strings.Contains(b.OptionsErr.Error(), "api") {
		t.Errorf("options error %v, want one naming the app", b.OptionsErr)
	}
	if b.Resources.Memory != 256<<20 {
		t.Errorf("build resources %+v", b.Resources)
	}
}

// The settings a previous version wrote read unchanged: an app record's
// fields and the global document's "networks", beside fields of others.
func TestStateOfThePreviousVersionReads(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	// Read once and cached, so written first, as a previous Berth left it.
	global := `{"builder":"pack","hsts":{"max_age":60},"networks":{"attach_post_deploy":["g-late"]}}`
	if err := f.store.Put(ctx, globalKey, []byte(global)); err != nil {
		t.Fatal(err)
	}
	const record = `{"name":"api","created_at":"2026-01-02T03:04:05Z",
		"networks":{"initial_network":"front","attach_post_create":["shared"]},
		"storage":["/srv/api:/data"],
		"resources":{"limits":{"_default_":{"memory":"256m"}},"set_by":"admin"},
		"docker_options":{"deploy":["--label team=x"],"deploy.worker":["--label only=worker"]}}`
	var a platform.App
	if err := json.Unmarshal([]byte(record), &a); err != nil {
		t.Fatal(err)
	}
	h := contributed(t, f.spec, &a, platform.Slot{Phase: PhaseDeploy, Type: "worker", Index: 1})
	if h.InitialNetwork != "front" || len(h.Networks) != 1 || h.Binds[0] != "/srv/api:/data" || h.Memory != 256<<20 || h.Labels["only"] != "worker" || !AdminOwned(a.Resources) {
		t.Fatalf("the old record contributes %+v", h)
	}
	g, err := f.spec.Global(ctx)
	if err != nil || !reflect.DeepEqual(g.AttachPostDeploy, []string{"g-late"}) {
		t.Fatalf("global networks %+v, %v", g, err)
	}
}

// The tld (the app's own, else the global one) is appended to every
// alias, on the create-time networks and the post-deploy ones.
func TestAliasesTakeTheTLD(t *testing.T) {
	f := newFixture(t)
	ctx := context.Background()
	if err := f.settings.SetGlobalNetwork(ctx, TLD, []string{"svc.cluster.local"}); err != nil {
		t.Fatal(err)
	}
	a := processApp()
	h := contributed(t, f.spec, a, platform.Slot{Phase: PhaseDeploy, Type: "worker", Index: 2})
	want := []string{"api.worker.svc.cluster.local", "api.worker.2.svc.cluster.local"}
	if !reflect.DeepEqual(h.InitialAliases, want) || !reflect.DeepEqual(h.Networks[0].Aliases, want) {
		t.Errorf("aliases with the global tld: %q %+v", h.InitialAliases, h.Networks)
	}
	a.Networks.TLD = "own"
	if err := f.spec.PostDeploy(ctx, a, []platform.Deployed{{ID: "c1", Type: "web", Index: 1}}); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c1 late api.web.own,api.web.1.own"}; !reflect.DeepEqual(f.engine.connected, want) {
		t.Errorf("post-deploy joined %q, want %q", f.engine.connected, want)
	}
}
