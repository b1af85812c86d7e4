package swarm

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

func TestAConstraintInSwarmsFormIsKeptWithoutSpacesAroundItsOperator(t *testing.T) {
	for in, want := range map[string]string{
		"node.role==manager":          "node.role==manager",
		"node.role == worker":         "node.role==worker",
		"node.labels.zone!=b":         "node.labels.zone!=b",
		"engine.labels.disk==ssd":     "engine.labels.disk==ssd",
		"node.ip==10.0.0.0/24":        "node.ip==10.0.0.0/24",
		"node.hostname!=edge-1":       "node.hostname!=edge-1",
		"node.platform.arch==aarch64": "node.platform.arch==aarch64",
	} {
		got, err := ParseConstraint(in)
		if err != nil || got != want {
			t.Errorf("ParseConstraint(%q) = %q, %v; want %q", in, got, err, want)
		}
	}
}

// Swarm refuses these at service create, or takes them and never finds a
// node: both are refused when set, with what to write instead.
func TestAConstraintSwarmWouldRefuseOrNeverMatchIsRefused(t *testing.T) {
	for in, why := range map[string]string{
		"node.role":             "no == or !=",
		"node.role>=manager":    "no == or !=",
		"node.role==boss":       "manager or worker",
		"node.zone==a":          "matches no node",
		"1node.role==manager":   "not a key",
		"node.labels.zone==a<b": "not a value",
		"node.labels.zone==":    "not a value",
		"node.ip==10.0.0.300":   "an address or a network",
		"node.labels.==x":       "matches no node",
		"node.role==manager;rm": "not a value",
	} {
		_, err := ParseConstraint(in)
		if err == nil {
			t.Errorf("ParseConstraint(%q) accepted", in)
			continue
		}
		if !strings.Contains(err.Error(), why) || !strings.Contains(err.Error(), "KEY==VALUE") {
			t.Errorf("ParseConstraint(%q): %v; want it to say %q and what to write", in, err, why)
		}
	}
}

func TestTheAppsPlacementGoesOnItsServices(t *testing.T) {
	in := input()
	spec, err := serviceSpec(in)
	if err != nil {
		t.Fatal(err)
	}
	if spec.TaskTemplate.Placement != nil {
		t.Fatalf("placement %+v for an app with none", spec.TaskTemplate.Placement)
	}
	in.App.SwarmPlacement = []string{"node.role==manager", "node.labels.zone!=b"}
	if spec, err = serviceSpec(in); err != nil {
		t.Fatal(err)
	}
	if p := spec.TaskTemplate.Placement; p == nil || !slices.Equal(p.Constraints, in.App.SwarmPlacement) {
		t.Fatalf("placement %+v; want %v", p, in.App.SwarmPlacement)
	}
}

type placementApps map[string]*platform.App

func (f placementApps) App(_ context.Context, name string) (*platform.App, error) {
	if a := f[name]; a != nil {
		return a, nil
	}
	return nil, errors.New("no app " + name)
}

func (f placementApps) UpdateApp(_ context.Context, name string, change func(*platform.App) error) error {
	a := f[name]
	if a == nil {
		return errors.New("no app " + name)
	}
	c := *a
	if err := change(&c); err != nil {
		return err
	}
	f[name] = &c
	return nil
}

func TestABadConstraintLeavesTheAppsPlacementAsItWas(t *testing.T) {
	apps := placementApps{"blog": {Name: "blog", SwarmPlacement: []string{"node.role==manager"}}}
	s := NewSettings(apps, nil)
	if _, err := s.Set(context.Background(), "blog", "placement", []string{"node.labels.zone==a", "node.role==boss"}); err == nil {
		t.Fatal("a bad constraint was accepted")
	}
	if r, _ := s.Report(context.Background(), "blog"); !slices.Equal(r.Placement, []string{"node.role==manager"}) {
		t.Fatalf("placement %v after a refused set", r.Placement)
	}
	if _, err := s.Set(context.Background(), "blog", "constraints", nil); err == nil || !strings.Contains(err.Error(), "use placement") {
		t.Fatalf("an unknown property: %v", err)
	}
	if _, err := s.Set(context.Background(), "blog", "placement", nil); err != nil {
		t.Fatal(err)
	}
	if r, _ := s.Report(context.Background(), "blog"); len(r.Placement) != 0 {
		t.Fatalf("placement %v after clearing it", r.Placement)
	}
}
