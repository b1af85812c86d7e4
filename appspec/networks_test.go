package appspec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// Each network property applies the app's own, else the global one, and
// the result shares no slice with either.
func TestComputedNetworks(t *testing.T) {
	global := platform.NetworkSettings{InitialNetwork: "g-init", AttachPostCreate: []string{"g-c1", "g-c2"}, AttachPostDeploy: []string{"g-d"}}
	app := platform.NetworkSettings{AttachPostCreate: []string{"a-c"}}
	c := Computed(app, global)
	if c.InitialNetwork != "g-init" || !slices.Equal(c.AttachPostCreate, []string{"a-c"}) || !slices.Equal(c.AttachPostDeploy, []string{"g-d"}) {
		t.Fatalf("computed %+v", c)
	}
	c.AttachPostDeploy[0] = "changed"
	if global.AttachPostDeploy[0] != "g-d" {
		t.Fatal("computed shares the global settings' slice")
	}
	if got := Computed(platform.NetworkSettings{}, platform.NetworkSettings{}); fmt.Sprint(got) != fmt.Sprint(platform.NetworkSettings{}) {
		t.Fatalf("empty computed %+v", got)
	}
}

// network:set refuses what an app cannot join, and a property Berth does
// not have, and keeps nothing of the refused setting.
func TestSetNetworkRefusals(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared", "other")
	for _, c := range []struct {
		key  string
		nets []string
		want string
	}{
		{"attach-post-start", []string{"shared"}, "unknown network property"},
		{InitialNetwork, []string{"shared", "other"}, "takes one network"},
		{AttachPostCreate, []string{"host"}, "not supported"},
		{AttachPostCreate, []string{"bridge"}, "no name resolution"},
		{AttachPostCreate, []string{f.engine.Network()}, "every app is on Berth's network"},
		{AttachPostDeploy, []string{"shared", "shared"}, "named twice"},
		{AttachPostDeploy, []string{"missing"}, "network:create missing"},
	} {
		if err := f.settings.SetNetwork(ctx, "app", c.key, c.nets); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("SetNetwork(%s, %v) = %v; want %q", c.key, c.nets, err, c.want)
		}
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("record = %+v", got)
	}
}

// network:set with no network clears the property, leaving nothing in the
// record.
func TestSetNetworkThenClear(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	if err := f.settings.SetNetwork(ctx, "app", AttachPostDeploy, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app").Networks.AttachPostDeploy; !slices.Equal(got, []string{"shared"}) {
		t.Fatalf("attach-post-deploy %v", got)
	}
	if err := f.settings.SetNetwork(ctx, "app", AttachPostDeploy, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("cleared record = %+v", got)
	}
}

// network:set APP runs the alias check against the app's serving
// release.
func TestSetNetworkChecksTheServingReleasesTypes(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	f.apps.put(t, &platform.App{Name: "api.web", Current: 1, Releases: []platform.Release{{Version: 1, Processes: map[string]string{"1": "worker"}}}})
	err := f.settings.SetNetwork(ctx, "api.web", AttachPostCreate, []string{"shared"})
	if err == nil || !strings.Contains(err.Error(), `process type "1" is all digits`) {
		t.Fatalf("network on an all-digit app = %v", err)
	}
	if got := f.app(t, "api.web").Networks; len(got.AttachPostCreate) != 0 {
		t.Fatalf("the refused setting was kept: %+v", got)
	}
}

// network:set --global runs the per-app alias check against the apps it
// would reach: an app whose release has an all-digit process type is not
// put on networks through the global door either.
func TestGlobalNetworkChecksAliasesOfExistingApps(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	a := &platform.App{Name: "api.web", Current: 1, Releases: []platform.Release{{Version: 1, Processes: map[string]string{"1": "worker"}}}}
	f.apps.put(t, a)
	err := f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, []string{"shared"})
	if err == nil || !strings.Contains(err.Error(), `api.web's process type "1" is all digits`) {
		t.Fatalf("global network with an all-digit app = %v", err)
	}
	if g, _ := f.settings.GlobalNetworks(ctx); len(g.AttachPostDeploy) != 0 {
		t.Fatalf("the refused global setting was kept: %v", g)
	}
	// Clearing is never refused; an app with its own setting is not
	// reached by the global one.
	if err := f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, nil); err != nil {
		t.Fatal(err)
	}
	a.Networks.AttachPostDeploy = []string{}
	a.Releases[0].Processes = map[string]string{"web": "httpd"}
	f.apps.put(t, a)
	if err := f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, []string{"shared"}); err != nil {
		t.Fatalf("an app with letters only: %v", err)
	}
}

// network:set --global writes its field of the global document and keeps
// every other field there (the platform's, certs'); clearing removes the
// field.
func TestGlobalNetworkKeepsTheDocumentsOtherFields(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	if err := f.store.Put(ctx, globalKey, []byte(`{"builder":"pack","hsts":{"max_age":60}}`)); err != nil {
		t.Fatal(err)
	}
	fields := func() map[string]json.RawMessage {
		t.Helper()
		raw, err := f.store.Get(ctx, globalKey)
		if err != nil {
			t.Fatal(err)
		}
		doc := map[string]json.RawMessage{}
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatal(err)
		}
		return doc
	}
	if err := f.settings.SetGlobalNetwork(ctx, InitialNetwork, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
	doc := fields()
	var n platform.NetworkSettings
	if err := json.Unmarshal(doc["networks"], &n); err != nil || n.InitialNetwork != "shared" {
		t.Fatalf("networks %s: %+v, %v", doc["networks"], n, err)
	}
	if string(doc["builder"]) != `"pack"` || doc["hsts"] == nil {
		t.Fatalf("global document %s", doc)
	}
	if err := f.settings.SetGlobalNetwork(ctx, InitialNetwork, nil); err != nil {
		t.Fatal(err)
	}
	if doc := fields(); doc["networks"] != nil || string(doc["builder"]) != `"pack"` {
		t.Fatalf("cleared global document %s", doc)
	}
}

// A network an app's settings, or the global ones, name cannot be
// destroyed; once nothing names it, it can.
func TestDestroyNetworkRefusedWhileNamed(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.settings.CreateNetwork(ctx, "shared"); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.SetNetwork(ctx, "app", AttachPostCreate, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
	err := f.settings.DestroyNetwork(ctx, "shared")
	if !errors.Is(err, ErrNetworkInUse) || !strings.Contains(err.Error(), "used by app, --global") {
		t.Fatalf("destroy of a named network = %v", err)
	}
	info, err := f.settings.NetworkInfo(ctx, "shared")
	if err != nil || !slices.Equal(info.Apps, []string{"app", "--global"}) {
		t.Fatalf("info %+v, %v", info, err)
	}
	f.settings.SetNetwork(ctx, "app", AttachPostCreate, nil)
	f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, nil)
	if err := f.settings.DestroyNetwork(ctx, "shared"); err != nil {
		t.Fatalf("destroy once nothing names it: %v", err)
	}
}

// Berth's own and Docker's networks are not network:create's to make.
func TestCreateNetworkRefusesReservedNames(t *testing.T) {
	f := newFixture(t)
	for _, n := range []string{"bridge", "host", "none", f.engine.Network()} {
		if err := f.settings.CreateNetwork(context.Background(), n); err == nil || !strings.Contains(err.Error(), "reserved") {
			t.Errorf("create %s = %v", n, err)
		}
	}
}

// network:set APP tld takes one DNS suffix and refuses what is not one,
// keeping nothing of a refused value; no value clears it.
func TestSetTLD(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	for _, bad := range [][]string{
		{"svc.cluster.local", "other"}, {"Svc.local"}, {".local"}, {"svc..local"}, {"local."},
		{"-svc.local"}, {"svc-.local"}, {"svc.local_1"}, {"svc/local"}, {"svc.123"}, {"7"},
		{strings.Repeat("a", 64) + ".local"}, {strings.Repeat("abcdefg.", 20) + "local"},
	} {
		if err := f.settings.SetNetwork(ctx, "app", TLD, bad); err == nil || !strings.Contains(err.Error(), "tld") {
			t.Errorf("tld %q = %v; want a refusal", bad, err)
		}
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("record after refusals = %+v", got)
	}
	for _, good := range []string{"svc.cluster.local", "local", "k8s-1.example", "a1.2b"} {
		if err := f.settings.SetNetwork(ctx, "app", TLD, []string{good}); err != nil {
			t.Errorf("tld %q: %v", good, err)
		}
		if got := f.app(t, "app").Networks.TLD; got != good {
			t.Errorf("tld %q recorded as %q", good, got)
		}
	}
	if err := f.settings.SetNetwork(ctx, "app", TLD, nil); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("cleared record = %+v", got)
	}
}

// The tld is the app's own, else the global one, and is kept in the
// global document's networks field (and cleared from it).
func TestGlobalTLD(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.settings.SetGlobalNetwork(ctx, TLD, []string{"svc.cluster.local"}); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.SetGlobalNetwork(ctx, TLD, []string{"Bad"}); err == nil {
		t.Fatal("a bad global tld was taken")
	}
	fresh := NewSpec(SpecConfig{Store: f.store, Engine: f.engine})
	g, err := fresh.Global(ctx)
	if err != nil || g.TLD != "svc.cluster.local" {
		t.Fatalf("global read afresh = %+v, %v", g, err)
	}
	if c := Computed(platform.NetworkSettings{}, g); c.TLD != "svc.cluster.local" {
		t.Errorf("computed without an own tld = %q", c.TLD)
	}
	if c := Computed(platform.NetworkSettings{TLD: "own.local"}, g); c.TLD != "own.local" {
		t.Errorf("computed with an own tld = %q", c.TLD)
	}
	if err := f.settings.SetGlobalNetwork(ctx, TLD, nil); err != nil {
		t.Fatal(err)
	}
	raw, err := f.store.Get(ctx, globalKey)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(raw), globalField) {
		t.Errorf("cleared global tld left %s", raw)
	}
}

// A malformed networks field of the global settings is found by Load (at
// start-up), and the error names the field, the file and what to do.
func TestLoadRefusesAMalformedGlobalNetworksField(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.store.Put(ctx, globalKey, []byte(`{"networks": "oops", "build_retention": 3}`)); err != nil {
		t.Fatal(err)
	}
	err := NewSpec(SpecConfig{Store: f.store, Engine: f.engine}).Load(ctx)
	for _, want := range []string{`"networks" field`, "settings/global.json", "remove the field", "start Berth again"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Load = %v; want an error with %q", err, want)
		}
	}
	if err := f.store.Put(ctx, globalKey, []byte(`{"networks": {"tld": "local"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := NewSpec(SpecConfig{Store: f.store, Engine: f.engine}).Load(ctx); err != nil {
		t.Errorf("Load of good settings = %v", err)
	}
}

// network:set --global writes the global document only under the global
// lock, and lets it go afterwards.
func TestGlobalNetworkWritesUnderTheGlobalLock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	if err := f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.SetGlobalNetwork(ctx, AttachPostDeploy, nil); err != nil {
		t.Fatal(err)
	}
	if w := f.store.unlockedWrites(); len(w) > 0 {
		t.Fatalf("writes of the global settings without the global lock: %q", w)
	}
	unlock, err := f.apps.LockGlobal("a test")
	if err != nil {
		t.Fatalf("the global lock was kept: %v", err)
	}
	unlock()
	// The recorder sees a write without the lock.
	if err := saveGlobalNetworks(ctx, f.store, platform.NetworkSettings{TLD: "x"}); err != nil {
		t.Fatal(err)
	}
	if w := f.store.unlockedWrites(); len(w) != 1 {
		t.Fatalf("an unlocked write was not recorded: %q", w)
	}
}

// While another change holds the global lock, network:set --global is
// refused and writes nothing.
func TestGlobalNetworkRefusedWhileTheGlobalLockIsHeld(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	unlock, err := f.apps.LockGlobal("a global settings change")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	if err := f.settings.SetGlobalNetwork(ctx, InitialNetwork, []string{"shared"}); !errors.Is(err, platform.ErrBusy) {
		t.Fatalf("SetGlobalNetwork under another's lock = %v; want platform.ErrBusy", err)
	}
	if _, err := f.store.Get(ctx, globalKey); err == nil {
		t.Fatal("the global settings were written under another's lock")
	}
}

// An app's settings change under the app's lock: while a deploy holds
// it, network:set APP is refused and the record stays as it was.
func TestAppSettingsChangeUnderTheAppsLock(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t, "shared")
	unlock, err := f.apps.take("app", "a deploy")
	if err != nil {
		t.Fatal(err)
	}
	if err := f.settings.SetNetwork(ctx, "app", AttachPostDeploy, []string{"shared"}); !errors.Is(err, platform.ErrBusy) {
		t.Fatalf("SetNetwork while the app is busy = %v; want platform.ErrBusy", err)
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("record changed while the app was busy: %+v", got)
	}
	unlock()
	if err := f.settings.SetNetwork(ctx, "app", AttachPostDeploy, []string{"shared"}); err != nil {
		t.Fatal(err)
	}
}
