package platform

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
)

func TestLimitsDefaults(t *testing.T) {
	l := New(Config{}).Limits()
	if l.MaxScale != DefaultMaxScale || l.MaxContainers != DefaultMaxContainers || l.BuildTimeout != DefaultBuildTimeout || l.BuildLogMax != DefaultBuildLogMax {
		t.Fatalf("defaults: %+v", l)
	}
}

func TestFormationLimits(t *testing.T) {
	p := New(Config{Limits: Limits{MaxScale: 3, MaxContainers: 5}})
	if err := p.CheckFormation("app", map[string]int{"web": 3, "worker": 2}, "ps:scale"); err != nil {
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
		err := p.CheckFormation("app", c.formation, "ps:scale")
		if err == nil || !strings.Contains(err.Error(), c.want) || !errors.Is(err, ErrOverLimit) {
			t.Errorf("%v: %v; want %q", c.formation, err, c.want)
		}
	}
}

// A build runs under the host's build limits unless the contributors give
// it its own; a deploy key's own cannot go above the host's, an admin's
// can.
func TestBuildResources(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		own       BuildSpec
		mem, cpus int64
	}{
		{"nothing set", BuildSpec{}, 1 << 30, 2e9},
		{"a lower limit", BuildSpec{Resources: docker.HostOptions{Memory: 256 << 20, NanoCPUs: 5e8}}, 256 << 20, 5e8},
		{"a deploy key's higher limit", BuildSpec{Resources: docker.HostOptions{Memory: 4 << 30, NanoCPUs: 4e9}}, 1 << 30, 2e9},
		{"an admin's higher limit", BuildSpec{Resources: docker.HostOptions{Memory: 4 << 30, NanoCPUs: 4e9}, ByAdmin: true}, 4 << 30, 4e9},
	} {
		p := New(Config{Limits: Limits{BuildMemory: 1 << 30, BuildCPUs: 2e9}, Specs: []SpecContributor{&fakeSpec{build: c.own}}})
		h, _, err := p.buildResources(ctx, &App{})
		if err != nil || h.Memory != c.mem || h.NanoCPUs != c.cpus {
			t.Errorf("%s: memory %d, cpus %d, %v; want %d, %d", c.name, h.Memory, h.NanoCPUs, err, c.mem, c.cpus)
		}
	}
	p := New(Config{Limits: Limits{BuildMemory: -1}})
	if h, _, err := p.buildResources(ctx, &App{}); err != nil || h.Memory != 0 || h.NanoCPUs != 0 {
		t.Errorf("build_memory none: %+v, %v", h, err)
	}
}
