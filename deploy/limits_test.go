package deploy

import (
	"context"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// limitsApps is a core that only has limits.
type limitsApps struct {
	Apps
	l platform.Limits
}

func (a limitsApps) Limits() platform.Limits { return a.l }

// buildSpec gives every build its own resources.
type buildSpec struct{ b platform.BuildSpec }

func (buildSpec) ContributeSpec(*platform.App, platform.Slot, *docker.HostOptions) error { return nil }
func (s buildSpec) ContributeBuild(_ *platform.App, b *platform.BuildSpec) error {
	*b = s.b
	return nil
}

// A build runs under the host's build limits unless the contributors give
// it its own; a deploy key's own cannot go above the host's, an admin's
// can.
func TestBuildResources(t *testing.T) {
	ctx := context.Background()
	for _, c := range []struct {
		name      string
		own       platform.BuildSpec
		mem, cpus int64
	}{
		{"nothing set", platform.BuildSpec{}, 1 << 30, 2e9},
		{"a lower limit", platform.BuildSpec{Resources: docker.HostOptions{Memory: 256 << 20, NanoCPUs: 5e8}}, 256 << 20, 5e8},
		{"a deploy key's higher limit", platform.BuildSpec{Resources: docker.HostOptions{Memory: 4 << 30, NanoCPUs: 4e9}}, 1 << 30, 2e9},
		{"an admin's higher limit", platform.BuildSpec{Resources: docker.HostOptions{Memory: 4 << 30, NanoCPUs: 4e9}, ByAdmin: true}, 4 << 30, 4e9},
	} {
		p := New(Config{Apps: limitsApps{l: platform.Limits{BuildMemory: 1 << 30, BuildCPUs: 2e9}}, Specs: platform.NewSpecs(buildSpec{c.own})})
		h, _, err := p.buildResources(ctx, &platform.App{})
		if err != nil || h.Memory != c.mem || h.NanoCPUs != c.cpus {
			t.Errorf("%s: memory %d, cpus %d, %v; want %d, %d", c.name, h.Memory, h.NanoCPUs, err, c.mem, c.cpus)
		}
	}
	p := New(Config{Apps: limitsApps{l: platform.Limits{BuildMemory: -1}}})
	if h, _, err := p.buildResources(ctx, &platform.App{}); err != nil || h.Memory != 0 || h.NanoCPUs != 0 {
		t.Errorf("build_memory none: %+v, %v", h, err)
	}
}
