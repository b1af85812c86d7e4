package platform

import (
	"context"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/store"
)

// Only this state directory's containers from before instance IDs are
// adopted: its apps' complete process containers, its apps' one-offs
// (to be removed) and its datastores.
func TestAdoptable(t *testing.T) {
	ctx := context.Background()
	st := &store.Files{Dir: t.TempDir()}
	st.Put(ctx, "services/postgres/db", []byte(`{}`))
	p := New(Config{Store: st})
	apps := []string{"mine"}
	web := func(app string) map[string]string {
		return map[string]string{docker.LabelApp: app, docker.LabelProcess: "web", docker.LabelGeneration: "3", docker.LabelIndex: "1", docker.LabelPort: "5000"}
	}
	incomplete := web("mine")
	delete(incomplete, docker.LabelPort)
	for _, tc := range []struct {
		name   string
		labels map[string]string
		want   bool
	}{
		{"own web container", web("mine"), true},
		{"another's web container", web("theirs"), false},
		{"incomplete labels", incomplete, false},
		{"own one-off", map[string]string{docker.LabelOneOff: "mine", docker.LabelApp: "theirs"}, true},
		{"another's one-off", map[string]string{docker.LabelOneOff: "theirs", docker.LabelApp: "mine"}, false},
		{"own service", map[string]string{docker.LabelService: "db", docker.LabelServiceType: "postgres"}, true},
		{"unknown service", map[string]string{docker.LabelService: "db2", docker.LabelServiceType: "postgres"}, false},
		{"bad service name", map[string]string{docker.LabelService: "../apps/mine", docker.LabelServiceType: "postgres"}, false},
	} {
		got, err := identity{store: p.store, engine: p.docker, log: p.log}.adoptable(ctx, apps, tc.labels)
		if err != nil || got != tc.want {
			t.Errorf("%s: adoptable = %v, %v; want %v", tc.name, got, err, tc.want)
		}
	}
}
