package platform

import (
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
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
