package selector_test

import (
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/store"
)

type apps struct{ recs map[string]*platform.App }

func (f *apps) App(_ context.Context, name string) (*platform.App, error) {
	if a, ok := f.recs[name]; ok {
		return a, nil
	}
	return nil, platform.ErrAppNotFound
}
func (f *apps) UpdateApp(ctx context.Context, name string, change func(*platform.App) error) error {
	a, err := f.App(ctx, name)
	if err != nil {
		return err
	}
	return change(a)
}
func (f *apps) LockGlobal(string) (func(), error) { return func() {}, nil }

func TestAnUnknownSchedulerIsRefusedWithTheValidOnes(t *testing.T) {
	f := &apps{recs: map[string]*platform.App{"blog": {Name: "blog"}}}
	s := selector.NewSettings(selector.Config{Store: &store.Files{Dir: t.TempDir()}, Apps: f})
	for _, set := range []func() error{
		func() error { return s.Set(context.Background(), "blog", "k3s") },
		func() error { return s.SetGlobal(context.Background(), "k3s") },
	} {
		err := set()
		if err == nil || !strings.Contains(err.Error(), `unknown scheduler "k3s": use one of docker-local, swarm`) {
			t.Fatalf("error %v", err)
		}
	}
	if f.recs["blog"].Scheduler != "" {
		t.Fatalf("record changed: %q", f.recs["blog"].Scheduler)
	}
}

func TestTheGlobalSettingIsAFieldOfTheGlobalDocument(t *testing.T) {
	ctx := context.Background()
	st := &store.Files{Dir: t.TempDir()}
	if err := st.Put(ctx, "settings/global", []byte(`{"restart_policy":"always"}`)); err != nil {
		t.Fatal(err)
	}
	f := &apps{recs: map[string]*platform.App{"blog": {Name: "blog"}}}
	s := selector.NewSettings(selector.Config{Store: st, Apps: f})
	if err := s.SetGlobal(ctx, "swarm"); err != nil {
		t.Fatal(err)
	}
	raw, _ := st.Get(ctx, "settings/global")
	var doc map[string]json.RawMessage
	json.Unmarshal(raw, &doc)
	if string(doc["scheduler"]) != `"swarm"` || string(doc["restart_policy"]) != `"always"` {
		t.Fatalf("document %s", raw)
	}
	r, err := s.Report(ctx, "blog")
	if err != nil || r.ComputedSelected != "swarm" || r.GlobalSelected != "swarm" || r.Selected != "" {
		t.Fatalf("report %+v (%v)", r, err)
	}
	if err := s.SetGlobal(ctx, ""); err != nil {
		t.Fatal(err)
	}
	raw, _ = st.Get(ctx, "settings/global")
	if strings.Contains(string(raw), "scheduler") {
		t.Fatalf("unset left %s", raw)
	}
}

func TestSwarmIsRefusedForAnAppWithTCPMappings(t *testing.T) {
	f := &apps{recs: map[string]*platform.App{"db": {Name: "db", PortMap: []string{"tcp:15432:5432"}}}}
	s := selector.NewSettings(selector.Config{Store: &store.Files{Dir: t.TempDir()}, Apps: f})
	err := s.Set(context.Background(), "db", "swarm")
	if err == nil || !strings.Contains(err.Error(), "ports:remove db tcp:15432:5432 first") {
		t.Fatalf("error %v; want refused", err)
	}
	if f.recs["db"].Scheduler != "" {
		t.Fatalf("record changed: %q", f.recs["db"].Scheduler)
	}
	if err := s.Set(context.Background(), "db", "docker-local"); err != nil {
		t.Fatalf("docker-local refused: %v", err)
	}
}
