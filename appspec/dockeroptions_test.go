package appspec

import (
	"context"
	"maps"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
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

// Each phase takes only its own options, and nothing refused is stored.
func TestDockerOptionsPhasesTakeTheirOwnOptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, c := range []struct {
		phases []string
		words  []string
		want   string
	}{
		{[]string{PhaseBuild}, []string{"--memory", "1g"}, `build phase: unknown build option "--memory"`},
		{[]string{PhaseDeploy, PhaseBuild}, []string{"--target", "web"}, "deploy phase: unknown or unsupported option --target"},
		{[]string{PhaseBuild, PhaseRun}, []string{"-e", "A=1"}, `build phase: unknown build option "-e"`},
		{[]string{"bulid"}, []string{"--target", "web"}, `unknown phase "bulid"`},
		{[]string{PhaseDeploy}, []string{"--privileged"}, "--privileged"},
	} {
		if _, err := f.settings.AddDockerOptions(ctx, "app", c.phases, c.words); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddDockerOptions(%v, %q) = %v, want %q", c.phases, c.words, err, c.want)
		}
	}
	if got := f.app(t, "app"); got.DockerOptions != nil {
		t.Fatalf("refused options were kept: %v", got.DockerOptions)
	}
}

// An option is stored re-quoted, once per phase, and removed by the same
// words.
func TestDockerOptionsAddAndRemove(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	opt, err := f.settings.AddDockerOptions(ctx, "app", []string{PhaseDeploy, PhaseRun}, []string{"-e", "A=b c"})
	if err != nil || opt != "-e 'A=b c'" {
		t.Fatalf("add = %q, %v", opt, err)
	}
	if _, err := f.settings.AddDockerOptions(ctx, "app", []string{PhaseDeploy}, []string{"-e", "A=b c"}); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.RemoveDockerOptions(ctx, "app", []string{PhaseRun}, []string{"-e", "A=b c"}); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app").DockerOptions; !reflect.DeepEqual(got, map[string][]string{PhaseDeploy: {"-e 'A=b c'"}}) {
		t.Fatalf("options %v", got)
	}
	if err := f.settings.RemoveDockerOptions(ctx, "app", []string{PhaseRun}, []string{"-e", "A=b c"}); err == nil || !strings.Contains(err.Error(), "has no run option") {
		t.Fatalf("second remove = %v", err)
	}
}

// docker-options:clear without phases clears the app's phases and keeps
// the process types' options; with --process's key it clears those.
func TestClearDockerOptionsKeepsProcessTypesOptions(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, ph := range []string{PhaseBuild, PhaseDeploy, ProcessPhase("worker")} {
		words := []string{"--label", "x=1"}
		if ph == PhaseBuild {
			words = []string{"--target", "web"}
		}
		if _, err := f.settings.AddDockerOptions(ctx, "app", []string{ph}, words); err != nil {
			t.Fatal(err)
		}
	}
	if err := f.settings.ClearDockerOptions(ctx, "app", nil); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app").DockerOptions; !slices.Equal(slices.Sorted(maps.Keys(got)), []string{ProcessPhase("worker")}) {
		t.Fatalf("options after clear %v", got)
	}
	if err := f.settings.ClearDockerOptions(ctx, "app", []string{ProcessPhase("worker")}); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("cleared record = %+v", got)
	}
}

// --process takes a Procfile type, never _default_ or a malformed one.
func TestProcessPhaseNamesAType(t *testing.T) {
	for _, ph := range []string{"deploy.web", "deploy.worker-2"} {
		if err := validPhases([]string{ph}); err != nil {
			t.Errorf("%s: %v", ph, err)
		}
	}
	for _, ph := range []string{"deploy._default_", "deploy.", "run.web", "deploy.a b"} {
		if err := validPhases([]string{ph}); err == nil {
			t.Errorf("%s was accepted", ph)
		}
	}
}
