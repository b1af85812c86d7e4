package platform

import (
	"context"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/store"
)

// FuzzJoinWordsRoundTrip: an option stored as one string reads back into
// the very words that were given, whatever they hold.
func FuzzJoinWordsRoundTrip(f *testing.F) {
	f.Add("--label", "a=b c", "it's")
	f.Add("-e", `A="$HOME"`, "\\")
	f.Add("", "\t", "*")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		words := []string{a, b, c}
		got, err := docker.SplitWords(joinWords(words))
		if err != nil || !reflect.DeepEqual(got, words) {
			t.Fatalf("joinWords(%q) = %q reads back as %q, %v", words, joinWords(words), got, err)
		}
	})
}

func TestHostOptionsForAProcess(t *testing.T) {
	a := &App{
		Name:    "api",
		Storage: []string{"/srv/api:/data", "cache:/cache:ro"},
		Networks: NetworkSettings{
			InitialNetwork:   "front",
			AttachPostCreate: []string{"shared"},
			AttachPostDeploy: []string{"late"},
		},
		Resources: ResourceSettings{
			Limits:       map[string]Resources{DefaultProcessType: {Memory: "256m", CPU: "1"}, "worker": {Memory: "128m"}},
			Reservations: map[string]Resources{DefaultProcessType: {Memory: "64m"}},
		},
		DockerOptions: map[string][]string{PhaseDeploy: {"--label team=x"}, PhaseRun: {"-e ONE_OFF=1"}},
	}
	h, err := hostOptions(a, PhaseDeploy, "worker", 2)
	if err != nil {
		t.Fatal(err)
	}
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
	if got := postDeployAttachments(a, "worker", 2); len(got) != 1 || got[0].Network != "late" || !reflect.DeepEqual(got[0].Aliases, want) {
		t.Errorf("post-deploy: %+v", got)
	}
	run, err := hostOptions(a, PhaseRun, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Memory != 0 || !reflect.DeepEqual(run.Env, []string{"ONE_OFF=1"}) || len(run.InitialAliases) != 0 || !reflect.DeepEqual(run.Binds, a.Storage) {
		t.Errorf("run one-off: %+v", run)
	}
}

func TestResourcesRefuseAReservationAboveTheLimit(t *testing.T) {
	r := ResourceSettings{
		Limits:       map[string]Resources{"web": {Memory: "64m"}},
		Reservations: map[string]Resources{DefaultProcessType: {Memory: "128m"}},
	}
	if _, err := r.resolve("web"); err == nil || !strings.Contains(err.Error(), "above its memory limit") {
		t.Errorf("resolve = %v", err)
	}
	if _, err := r.resolve("worker"); err != nil {
		t.Errorf("worker has no limit: %v", err)
	}
}

func settingsPlatform(t *testing.T) *Platform {
	t.Helper()
	p := New(Config{Store: &store.Files{Dir: t.TempDir()}})
	if err := saveApp(context.Background(), p.store, &App{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSettingsRefusalsKeepTheRecord(t *testing.T) {
	ctx := context.Background()
	p := settingsPlatform(t)
	if err := p.SetResources(ctx, "app", "limit", "", Resources{Memory: "64m", MemorySwap: "-1"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		kind string
		res  Resources
		want string
	}{
		{"reserve", Resources{Memory: "128m"}, "above its memory limit"},
		{"limit", Resources{Memory: "1m"}, "below Docker's least"},
		{"limit", Resources{MemorySwap: "32m"}, "at least its memory limit"},
		{"reserve", Resources{MemorySwap: "1g"}, "not a reservation"},
	} {
		if err := p.SetResources(ctx, "app", r.kind, "", r.res); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("SetResources(%s, %+v) = %v; want %q", r.kind, r.res, err, r.want)
		}
	}
	if err := p.Mount(ctx, "app", "/srv/a:/data"); err != nil {
		t.Fatal(err)
	}
	if err := p.Mount(ctx, "app", "vol:/data"); err == nil || !strings.Contains(err.Error(), "unmount it first") {
		t.Errorf("second mount at /data: %v", err)
	}
	if _, err := p.AddDockerOptions(ctx, "app", []string{PhaseDeploy, PhaseRun}, []string{"-e", "A=b c"}); err != nil {
		t.Fatal(err)
	}
	if _, err := p.AddDockerOptions(ctx, "app", []string{PhaseDeploy}, []string{"--privileged"}); err == nil {
		t.Error("--privileged accepted")
	}
	if err := p.RemoveDockerOptions(ctx, "app", []string{PhaseRun}, []string{"-e", "A=b c"}); err != nil {
		t.Errorf("remove what was added: %v", err)
	}
	a, err := p.App(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	want := &App{
		Name:          "app",
		Storage:       []string{"/srv/a:/data"},
		Resources:     ResourceSettings{Limits: map[string]Resources{DefaultProcessType: {Memory: "64m", MemorySwap: "-1"}}, SetBy: SetByAdmin},
		DockerOptions: map[string][]string{PhaseDeploy: {"-e 'A=b c'"}},
	}
	if !reflect.DeepEqual(a, want) {
		t.Errorf("record = %+v\nwant %+v", a, want)
	}
	if err := p.ClearResources(ctx, "app", "limit", "", true); err != nil {
		t.Fatal(err)
	}
	if err := p.ClearDockerOptions(ctx, "app", nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Unmount(ctx, "app", "/srv/a:/data"); err != nil {
		t.Fatal(err)
	}
	// Cleared settings leave nothing in the record.
	if a, _ := p.App(ctx, "app"); !reflect.DeepEqual(a, &App{Name: "app"}) {
		t.Errorf("cleared record = %+v", a)
	}
}

// Setting or clearing one type's resources checks what results for every
// type that has settings, not only the types of the current release, and
// a refusal leaves the record as it was.
func TestResourceChangesKeepEveryTypeValid(t *testing.T) {
	ctx := context.Background()
	p := settingsPlatform(t)
	if err := p.SetResources(ctx, "app", "limit", "", Resources{Memory: "64m"}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetResources(ctx, "app", "limit", "web", Resources{MemorySwap: "128m"}); err != nil {
		t.Fatal(err)
	}
	if err := p.SetResources(ctx, "app", "limit", "worker", Resources{Memory: "32m"}); err != nil {
		t.Fatal(err)
	}
	before, err := p.App(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	// web's memory-swap limit leans on the default memory limit.
	if err := p.ClearResources(ctx, "app", "limit", DefaultProcessType, false); err == nil || !strings.Contains(err.Error(), "memory-swap limit of web needs a memory limit") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("clearing the default memory limit under web's memory-swap = %v", err)
	}
	// worker is in no release (the app has none), and its own 32m limit
	// is below the new default reservation.
	if err := p.SetResources(ctx, "app", "reserve", "", Resources{Memory: "48m"}); err == nil || !strings.Contains(err.Error(), "reservation of worker") {
		t.Errorf("default reservation above worker's limit = %v", err)
	}
	if after, _ := p.App(ctx, "app"); !reflect.DeepEqual(after, before) {
		t.Errorf("refused changes altered the record:\n%+v\nwant %+v", after, before)
	}
	if err := p.ClearResources(ctx, "app", "limit", "web", false); err != nil {
		t.Fatal(err)
	}
	if err := p.ClearResources(ctx, "app", "limit", DefaultProcessType, false); err != nil {
		t.Errorf("clearing the default once nothing leans on it: %v", err)
	}
}

// An all-digit process type on an app with networks is refused before
// anything starts: its alias APP.TYPE could be another app's APP.TYPE.N.
func TestAllDigitProcessTypesStayOffNetworks(t *testing.T) {
	ctx := context.Background()
	a := &App{Name: "api.web", Networks: NetworkSettings{AttachPostDeploy: []string{"shared"}}}
	p := New(Config{Store: &store.Files{Dir: t.TempDir()}})
	// rollout refuses before it touches Docker (this platform has none).
	err := p.rollout(ctx, a, Release{Processes: map[string]string{"web": "httpd", "1": "worker"}}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `api.web's process type "1" is all digits`) {
		t.Errorf("rollout of type 1 on a network = %v", err)
	}
	if err := checkNetworkAliases(a, []string{"web", "worker2", "2x"}); err != nil {
		t.Errorf("types with letters: %v", err)
	}
	if err := checkNetworkAliases(&App{Name: "api.web"}, []string{"1"}); err != nil {
		t.Errorf("type 1 without networks has no aliases: %v", err)
	}
}

// A deploy key may set and clear its app's resource settings until an
// admin changes them; then they are the admin's until an admin clears
// them all.
func TestDeployKeyCannotLoosenAnAdminsLimits(t *testing.T) {
	ctx := context.Background()
	key := AsDeployKey(ctx)
	p := settingsPlatform(t)
	if err := p.SetResources(key, "app", "limit", "worker", Resources{Memory: "96m"}); err != nil {
		t.Fatalf("a deploy key limits its own app: %v", err)
	}
	if a, _ := p.App(ctx, "app"); a.Resources.SetBy != SetByDeployKey {
		t.Fatalf("set by %q", a.Resources.SetBy)
	}
	if err := p.ClearResources(key, "app", "limit", "", true); err != nil {
		t.Fatalf("a deploy key clears its own limits: %v", err)
	}
	if err := p.SetResources(ctx, "app", "limit", "", Resources{Memory: "64m"}); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func() error{
		"limit-clear":   func() error { return p.ClearResources(key, "app", "limit", "", true) },
		"limit a type":  func() error { return p.SetResources(key, "app", "limit", "web", Resources{Memory: "1g"}) },
		"limit builds":  func() error { return p.SetResources(key, "app", "limit", BuildProcessType, Resources{Memory: "1g"}) },
		"reserve":       func() error { return p.SetResources(key, "app", "reserve", "", Resources{Memory: "32m"}) },
		"reserve-clear": func() error { return p.ClearResources(key, "app", "reserve", "", true) },
	} {
		if err := change(); err == nil || !strings.Contains(err.Error(), "set by an admin") {
			t.Errorf("%s by a deploy key after an admin's limit: %v", name, err)
		}
	}
	a, _ := p.App(ctx, "app")
	if want := (ResourceSettings{Limits: map[string]Resources{DefaultProcessType: {Memory: "64m"}}, SetBy: SetByAdmin}); !reflect.DeepEqual(a.Resources, want) {
		t.Fatalf("resources = %+v, want %+v", a.Resources, want)
	}
	if err := p.ClearResources(ctx, "app", "limit", "", true); err != nil {
		t.Fatal(err)
	}
	if err := p.SetResources(key, "app", "limit", "", Resources{Memory: "128m"}); err != nil {
		t.Fatalf("once the admin cleared them all: %v", err)
	}
}

// Settings recorded before Berth noted who set them are an admin's.
func TestUnattributedResourceSettingsAreAnAdmins(t *testing.T) {
	ctx := context.Background()
	p := settingsPlatform(t)
	if err := saveApp(ctx, p.store, &App{Name: "app", Resources: ResourceSettings{Limits: map[string]Resources{DefaultProcessType: {Memory: "64m"}}}}); err != nil {
		t.Fatal(err)
	}
	if err := p.ClearResources(AsDeployKey(ctx), "app", "limit", "", true); err == nil || !strings.Contains(err.Error(), "set by an admin") {
		t.Fatalf("a deploy key cleared limits of unknown origin: %v", err)
	}
	if (ResourceSettings{}).AdminOwned() {
		t.Fatal("empty settings are nobody's")
	}
}

// network:set --global runs the per-app alias check against the apps it
// would reach: an app whose release has an all-digit process type is not
// put on networks through the global door either.
func TestGlobalNetworkChecksAliasesOfExistingApps(t *testing.T) {
	ctx := context.Background()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	if err := engine.CreateNetwork(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	p := New(Config{Store: &store.Files{Dir: t.TempDir()}, Engine: engine})
	a := &App{Name: "api.web", Current: 1, Releases: []Release{{Version: 1, Processes: map[string]string{"1": "worker"}}}}
	if err := saveApp(ctx, p.store, a); err != nil {
		t.Fatal(err)
	}
	err := p.SetGlobalNetwork(ctx, "attach-post-deploy", []string{"shared"})
	if err == nil || !strings.Contains(err.Error(), `api.web's process type "1" is all digits`) {
		t.Fatalf("global network with an all-digit app = %v", err)
	}
	if g := p.GlobalNetworks(); len(g.AttachPostDeploy) != 0 {
		t.Fatalf("the refused global setting was kept: %v", g)
	}
	// Clearing is never refused; an app with its own setting is not
	// reached by the global one.
	if err := p.SetGlobalNetwork(ctx, "attach-post-deploy", nil); err != nil {
		t.Fatal(err)
	}
	a.Networks.AttachPostDeploy = []string{}
	a.Releases[0].Processes = map[string]string{"web": "httpd"}
	if err := saveApp(ctx, p.store, a); err != nil {
		t.Fatal(err)
	}
	if err := p.SetGlobalNetwork(ctx, "attach-post-deploy", []string{"shared"}); err != nil {
		t.Fatalf("an app with letters only: %v", err)
	}
}
