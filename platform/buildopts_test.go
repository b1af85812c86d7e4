package platform

import (
	"context"
	"strings"
	"testing"
)

func TestBuildPhaseOptions(t *testing.T) {
	ctx := context.Background()
	p := settingsPlatform(t)
	for _, c := range []struct {
		phases []string
		words  []string
		want   string
	}{
		{[]string{PhaseBuild}, []string{"--memory", "1g"}, `build phase: unknown build option "--memory"`},
		{[]string{PhaseDeploy, PhaseBuild}, []string{"--target", "web"}, "deploy phase: unknown or unsupported option --target"},
		{[]string{PhaseBuild, PhaseRun}, []string{"-e", "A=1"}, `build phase: unknown build option "-e"`},
		{[]string{"bulid"}, []string{"--target", "web"}, `unknown phase "bulid"`},
	} {
		if _, err := p.AddDockerOptions(ctx, "app", c.phases, c.words); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("AddDockerOptions(%v, %q) = %v, want %q", c.phases, c.words, err, c.want)
		}
	}
	for _, words := range [][]string{{"--build-arg", "A=one two"}, {"--target=web"}, {"--build-arg", "A=three"}} {
		if _, err := p.AddDockerOptions(ctx, "app", []string{PhaseBuild}, words); err != nil {
			t.Fatal(err)
		}
	}
	a, err := p.App(ctx, "app")
	if err != nil {
		t.Fatal(err)
	}
	if len(a.DockerOptions[PhaseDeploy]) != 0 || len(a.DockerOptions[PhaseBuild]) != 3 {
		t.Fatalf("options %v: a refused option was kept or an accepted one lost", a.DockerOptions)
	}
	o, err := buildOptions(a)
	if err != nil || o.BuildArgs["A"] != "three" || o.Target != "web" {
		t.Fatalf("build options %+v, %v: later options override earlier ones", o, err)
	}

}
