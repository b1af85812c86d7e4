package services

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// A datastore stays on the overlay for an app that selected swarm before
// its rollout switched (a restart in between must not cut it off), and
// when the app's record cannot be read.
func TestSwarmLinkedFollowsTheSelectedScheduler(t *testing.T) {
	ctx := context.Background()
	apps := map[string]*platform.App{
		"local":     {Name: "local"},
		"switching": {Name: "switching", Scheduler: "swarm"},
		"running":   {Name: "running", SchedulerRan: "swarm"},
		"leaving":   {Name: "leaving", Scheduler: "docker-local"},
	}
	lookup := func(_ context.Context, name string) (*platform.App, error) {
		if a, ok := apps[name]; ok {
			return a, nil
		}
		return nil, errors.New("store unreadable")
	}
	for _, global := range []string{"", "swarm"} {
		st := &store.Files{Dir: t.TempDir()}
		if err := st.Put(ctx, "settings/global", []byte(`{"scheduler":"`+global+`"}`)); err != nil {
			t.Fatal(err)
		}
		for app, want := range map[string]bool{
			"local":     global == "swarm", // selects the global scheduler
			"switching": true,
			"running":   true,
			"leaving":   false,
			"broken":    true,
		} {
			s := &Service{Name: "db", Links: []Link{{App: app, Var: "DATABASE_URL"}}}
			if got := swarmLinked(ctx, s, lookup, st); got != want {
				t.Errorf("global %q, app %s: swarm linked %v, want %v", global, app, got, want)
			}
		}
	}
}
