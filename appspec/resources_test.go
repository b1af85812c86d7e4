package appspec

import (
	"context"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

func TestResolveRefusesAReservationAboveTheLimit(t *testing.T) {
	r := platform.ResourceSettings{
		Limits:       map[string]platform.Resources{"web": {Memory: "64m"}},
		Reservations: map[string]platform.Resources{DefaultProcessType: {Memory: "128m"}},
	}
	if _, err := resolve(r, "web"); err == nil || !strings.Contains(err.Error(), "above its memory limit") {
		t.Errorf("resolve = %v", err)
	}
	if _, err := resolve(r, "worker"); err != nil {
		t.Errorf("worker has no limit: %v", err)
	}
}

// Refused resource settings leave the record as it was.
func TestResourceRefusalsKeepTheRecord(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.settings.SetResources(ctx, "app", Limit, "", platform.Resources{Memory: "64m", MemorySwap: "-1"}); err != nil {
		t.Fatal(err)
	}
	for _, r := range []struct {
		kind string
		res  platform.Resources
		want string
	}{
		{Reserve, platform.Resources{Memory: "128m"}, "above its memory limit"},
		{Limit, platform.Resources{Memory: "1m"}, "below Docker's least"},
		{Limit, platform.Resources{MemorySwap: "32m"}, "at least its memory limit"},
		{Reserve, platform.Resources{MemorySwap: "1g"}, "not a reservation"},
		{Reserve, platform.Resources{CPU: "1"}, "cannot reserve CPU"},
		{Limit, platform.Resources{CPU: "64"}, "more than this host's 2 CPUs"},
	} {
		if err := f.settings.SetResources(ctx, "app", r.kind, "", r.res); err == nil || !strings.Contains(err.Error(), r.want) {
			t.Errorf("SetResources(%s, %+v) = %v; want %q", r.kind, r.res, err, r.want)
		}
	}
	want := platform.ResourceSettings{Limits: map[string]platform.Resources{DefaultProcessType: {Memory: "64m", MemorySwap: "-1"}}, SetBy: SetByAdmin}
	if got := f.app(t, "app").Resources; !reflect.DeepEqual(got, want) {
		t.Errorf("resources = %+v\nwant %+v", got, want)
	}
}

// Setting or clearing one type's resources checks what results for every
// type that has settings, not only the types of the current release, and
// a refusal leaves the record as it was.
func TestResourceChangesKeepEveryTypeValid(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	s := f.settings
	if err := s.SetResources(ctx, "app", Limit, "", platform.Resources{Memory: "64m"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetResources(ctx, "app", Limit, "web", platform.Resources{MemorySwap: "128m"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetResources(ctx, "app", Limit, "worker", platform.Resources{Memory: "32m"}); err != nil {
		t.Fatal(err)
	}
	before := f.app(t, "app")
	// web's memory-swap limit leans on the default memory limit.
	if err := s.ClearResources(ctx, "app", Limit, DefaultProcessType, false); err == nil || !strings.Contains(err.Error(), "memory-swap limit of web needs a memory limit") || !strings.Contains(err.Error(), "nothing was changed") {
		t.Errorf("clearing the default memory limit under web's memory-swap = %v", err)
	}
	// worker is in no release (the app has none), and its own 32m limit
	// is below the new default reservation.
	if err := s.SetResources(ctx, "app", Reserve, "", platform.Resources{Memory: "48m"}); err == nil || !strings.Contains(err.Error(), "reservation of worker") {
		t.Errorf("default reservation above worker's limit = %v", err)
	}
	if after := f.app(t, "app"); !reflect.DeepEqual(after, before) {
		t.Errorf("refused changes altered the record:\n%+v\nwant %+v", after, before)
	}
	if err := s.ClearResources(ctx, "app", Limit, "web", false); err != nil {
		t.Fatal(err)
	}
	if err := s.ClearResources(ctx, "app", Limit, DefaultProcessType, false); err != nil {
		t.Errorf("clearing the default once nothing leans on it: %v", err)
	}
}

// A deploy key may set and clear its app's resource settings until an
// admin changes them; then they are the admin's until an admin clears
// them all.
func TestDeployKeyCannotLoosenAnAdminsLimits(t *testing.T) {
	ctx := context.Background()
	key := platform.AsDeployKey(ctx)
	f := newFixture(t)
	s := f.settings
	if err := s.SetResources(key, "app", Limit, "worker", platform.Resources{Memory: "96m"}); err != nil {
		t.Fatalf("a deploy key limits its own app: %v", err)
	}
	if got := f.app(t, "app").Resources.SetBy; got != SetByDeployKey {
		t.Fatalf("set by %q", got)
	}
	if err := s.ClearResources(key, "app", Limit, "", true); err != nil {
		t.Fatalf("a deploy key clears its own limits: %v", err)
	}
	if err := s.SetResources(ctx, "app", Limit, "", platform.Resources{Memory: "64m"}); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func() error{
		"limit-clear":  func() error { return s.ClearResources(key, "app", Limit, "", true) },
		"limit a type": func() error { return s.SetResources(key, "app", Limit, "web", platform.Resources{Memory: "1g"}) },
		"limit builds": func() error {
			return s.SetResources(key, "app", Limit, platform.BuildProcessType, platform.Resources{Memory: "1g"})
		},
		"reserve":       func() error { return s.SetResources(key, "app", Reserve, "", platform.Resources{Memory: "32m"}) },
		"reserve-clear": func() error { return s.ClearResources(key, "app", Reserve, "", true) },
	} {
		if err := change(); err == nil || !strings.Contains(err.Error(), "set by an admin") {
			t.Errorf("%s by a deploy key after an admin's limit: %v", name, err)
		}
	}
	want := platform.ResourceSettings{Limits: map[string]platform.Resources{DefaultProcessType: {Memory: "64m"}}, SetBy: SetByAdmin}
	if got := f.app(t, "app").Resources; !reflect.DeepEqual(got, want) {
		t.Fatalf("resources = %+v, want %+v", got, want)
	}
	if err := s.ClearResources(ctx, "app", Limit, "", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetResources(key, "app", Limit, "", platform.Resources{Memory: "128m"}); err != nil {
		t.Fatalf("once the admin cleared them all: %v", err)
	}
}

// Settings recorded before Berth noted who set them are an admin's.
func TestUnattributedResourceSettingsAreAnAdmins(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	f.apps.put(t, &platform.App{Name: "app", Resources: platform.ResourceSettings{Limits: map[string]platform.Resources{DefaultProcessType: {Memory: "64m"}}}})
	if err := f.settings.ClearResources(platform.AsDeployKey(ctx), "app", Limit, "", true); err == nil || !strings.Contains(err.Error(), "set by an admin") {
		t.Fatalf("a deploy key cleared limits of unknown origin: %v", err)
	}
	if AdminOwned(platform.ResourceSettings{}) {
		t.Fatal("empty settings are nobody's")
	}
}

// An admin who clears every setting leaves nothing in the record, not
// even who set them.
func TestClearedResourcesLeaveNothing(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.settings.SetResources(ctx, "app", Reserve, "web", platform.Resources{Memory: "64m"}); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.ClearResources(ctx, "app", Reserve, "", true); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("record = %+v", got)
	}
}

// FuzzResources: resource:limit and resource:reserve values. Settings
// that validate resolve, for every process type, to amounts Docker takes:
// positive, a reservation not above the limit, memory-swap with and at
// least the memory limit.
func FuzzResources(f *testing.F) {
	f.Add("1", "512m", "1g", "64m", "worker", "256m")
	f.Add("0.5", "0.0000001", "", "", "web", "")
	f.Add("", "64m", "-1", "128m", "", "")
	f.Add("2e3", "1t", "32m", "", "x", "NaN")
	f.Fuzz(func(t *testing.T, cpu, mem, swap, reserve, typ, typMem string) {
		r := platform.ResourceSettings{
			Limits:       map[string]platform.Resources{DefaultProcessType: {CPU: cpu, Memory: mem, MemorySwap: swap}},
			Reservations: map[string]platform.Resources{DefaultProcessType: {Memory: reserve}},
		}
		if typ != "" && typMem != "" {
			r.Limits[typ] = platform.Resources{Memory: typMem}
		}
		if validate(r) != nil {
			return
		}
		for _, ty := range []string{DefaultProcessType, typ, "other"} {
			h, err := resolve(r, ty)
			if err != nil {
				t.Fatalf("%+v validated, but %s resolves to an error: %v", r, ty, err)
			}
			if (cpu != "" && h.NanoCPUs <= 0) || h.NanoCPUs < 0 || h.Memory < 0 || h.MemoryReservation < 0 || h.MemorySwap < -1 {
				t.Fatalf("%+v: %s resolves to %+v", r, ty, h)
			}
			if mem != "" && h.Memory == 0 || reserve != "" && h.MemoryReservation == 0 {
				t.Fatalf("%+v: %s resolves to no limit: %+v", r, ty, h)
			}
			if h.Memory > 0 && h.MemoryReservation > h.Memory || h.MemorySwap > 0 && h.MemorySwap < h.Memory || h.MemorySwap > 0 && h.Memory == 0 {
				t.Fatalf("%+v: %s resolves to amounts Docker refuses: %+v", r, ty, h)
			}
		}
	})
}
