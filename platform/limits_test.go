package platform

import (
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
