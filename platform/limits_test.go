package platform

import (
	"context"
	"errors"
	"strings"
	"testing"
)

func TestLimitsDefaults(t *testing.T) {
	l := New(Config{}).Limits()
	if l.MaxScale != DefaultMaxScale || l.MaxContainers != DefaultMaxContainers || l.BuildTimeout != DefaultBuildTimeout || l.BuildLogMax != DefaultBuildLogMax {
		t.Fatalf("defaults: %+v", l)
	}
}

func TestFormationLimits(t *testing.T) {
	p := New(Config{Limits: Limits{MaxScale: 3, MaxContainers: 5}})
	if err := p.checkFormation("app", map[string]int{"web": 3, "worker": 2}, "ps:scale"); err != nil {
		t.Fatalf("at the limits: %v", err)
	}
	for _, c := range []struct {
		formation map[string]int
		want      string
	}{
		{map[string]int{"web": 4}, "ps:scale asks for web=4, but Berth runs at most 3 containers of one process type (the max_scale setting"},
		{map[string]int{"web": 1_000_000}, "ask for 3 or fewer"},
		{map[string]int{"web": 3, "worker": 3}, "ps:scale asks for 6 containers of app in all, but Berth runs at most 5 per app (the max_containers setting"},
	} {
		err := p.checkFormation("app", c.formation, "ps:scale")
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrOverLimit) {
			t.Errorf("%v: %v; want %q", c.formation, err, c.want)
		}
	}
}

// A build runs under the host's build limits unless the app sets its
// own; a deploy key's own cannot go above the host's, an admin's can.
func TestBuildResources(t *testing.T) {
	ctx := context.Background()
	p := New(Config{Limits: Limits{BuildMemory: 1 << 30, BuildCPUs: 2e9}})
	for _, c := range []struct {
		name      string
		res       ResourceSettings
		mem, cpus int64
	}{
		{"nothing set", ResourceSettings{}, 1 << 30, 2e9},
		{"a lower limit", ResourceSettings{Limits: map[string]Resources{BuildProcessType: {Memory: "256m", CPU: "0.5"}}}, 256 << 20, 5e8},
		{"a deploy key's higher limit", ResourceSettings{Limits: map[string]Resources{BuildProcessType: {Memory: "4g", CPU: "4"}}, SetBy: SetByDeployKey}, 1 << 30, 2e9},
		{"an admin's higher limit", ResourceSettings{Limits: map[string]Resources{BuildProcessType: {Memory: "4g", CPU: "4"}}, SetBy: SetByAdmin}, 4 << 30, 4e9},
		{"_default_ is not the build's", ResourceSettings{Limits: map[string]Resources{DefaultProcessType: {Memory: "64m"}}, SetBy: SetByDeployKey}, 1 << 30, 2e9},
	} {
		h, err := p.buildResources(ctx, &App{Resources: c.res})
		if err != nil || h.Memory != c.mem || h.NanoCPUs != c.cpus {
			t.Errorf("%s: memory %d, cpus %d, %v; want %d, %d", c.name, h.Memory, h.NanoCPUs, err, c.mem, c.cpus)
		}
	}
	p.SetLimits(Limits{BuildMemory: -1})
	if h, err := p.buildResources(ctx, &App{}); err != nil || h.Memory != 0 || h.NanoCPUs != 0 {
		t.Errorf("build_memory none: %+v, %v", h, err)
	}
}
