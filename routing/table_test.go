package routing

import (
	"fmt"
	"slices"
	"sync"
	"testing"
)

func TestLookupUnknownHostMisses(t *testing.T) {
	tbl := New()
	tbl.SetHosts("blog", []string{"blog.example.test"})
	if _, ok := tbl.Lookup("other.example.test"); ok {
		t.Fatal("an unknown host resolved to an app")
	}
}

func TestLookupIgnoresPortCaseAndTrailingDot(t *testing.T) {
	tbl := New()
	tbl.SetHosts("blog", []string{"Blog.Example.Test"})
	for _, host := range []string{"blog.example.test", "BLOG.example.test:8080", "blog.example.test."} {
		r, ok := tbl.Lookup(host)
		if !ok || r.App != "blog" {
			t.Errorf("Lookup(%q) = %v, %v; want blog", host, r, ok)
		}
	}
}

func TestSetTargetsKeepsHosts(t *testing.T) {
	tbl := New()
	tbl.SetHosts("blog", []string{"blog.example.test"})
	tbl.SetTargets("blog", []string{"10.0.0.3:5000", "10.0.0.2:5000"})
	r, _ := tbl.Lookup("blog.example.test")
	if !slices.Equal(r.Targets, []string{"10.0.0.2:5000", "10.0.0.3:5000"}) {
		t.Fatalf("targets = %v", r.Targets)
	}
}

func TestSnapshotIsNotChangedByLaterWrites(t *testing.T) {
	tbl := New()
	tbl.SetTargets("blog", []string{"10.0.0.2:5000"})
	before, _ := tbl.App("blog")
	tbl.SetTargets("blog", []string{"10.0.0.9:5000"})
	if before.Targets[0] != "10.0.0.2:5000" {
		t.Fatalf("a reader's route changed under it: %v", before.Targets)
	}
}

func TestRemoveDropsHosts(t *testing.T) {
	tbl := New()
	tbl.SetHosts("blog", []string{"blog.example.test"})
	tbl.Remove("blog")
	if _, ok := tbl.Lookup("blog.example.test"); ok {
		t.Fatal("removed app still routed")
	}
	if len(tbl.Apps()) != 0 {
		t.Fatal("removed app still listed")
	}
}

func TestDuplicateHostGoesToFirstAppByName(t *testing.T) {
	for i := 0; i < 20; i++ {
		tbl := New()
		tbl.SetHosts("zeta", []string{"shared.test"})
		tbl.SetHosts("alpha", []string{"shared.test"})
		if r, _ := tbl.Lookup("shared.test"); r.App != "alpha" {
			t.Fatalf("shared host went to %s", r.App)
		}
	}
}

func TestNormalizeHost(t *testing.T) {
	cases := map[string]string{
		"Example.COM:443": "example.com",
		"[::1]:8080":      "::1",
		"[::1]":           "::1",
		"a.b.":            "a.b",
		"":                "",
	}
	for in, want := range cases {
		if got := NormalizeHost(in); got != want {
			t.Errorf("NormalizeHost(%q) = %q, want %q", in, got, want)
		}
	}
}

// TestConcurrentReadsAndWrites is for the race detector.
func TestConcurrentReadsAndWrites(t *testing.T) {
	tbl := New()
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < 200; i++ {
				app := fmt.Sprintf("app%d", i%10)
				tbl.SetHosts(app, []string{app + ".test"})
				tbl.SetTargets(app, []string{fmt.Sprintf("10.0.%d.%d:5000", w, i%250)})
			}
		}(w)
	}
	for r := 0; r < 4; r++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 2000; i++ {
				if route, ok := tbl.Lookup(fmt.Sprintf("app%d.test", i%10)); ok {
					_ = len(route.Targets)
				}
			}
		}()
	}
	wg.Wait()
}

func BenchmarkLookup(b *testing.B) {
	for _, apps := range []int{10, 500, 10000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			// One batch write: filling app by app copies the table each time.
			tbl := New()
			routes := make(map[string]Route, apps)
			for i := 0; i < apps; i++ {
				name := fmt.Sprintf("app%d", i)
				routes[name] = Route{Hosts: []string{name + ".example.test"}, Targets: []string{"10.0.0.2:5000"}}
			}
			tbl.SetIfUnchanged(tbl.Routes(), routes, nil)
			host := fmt.Sprintf("app%d.example.test:443", apps/2)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Match is what a request pays (handler, upstreams,
				// TLS permission); Lookup is the exact half of it.
				if _, ok := tbl.Match(host); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

// BenchmarkMatchWildcard is BenchmarkLookup's table with every tenth app
// holding a wildcard too, and hosts that only a wildcard serves (three
// labels deep under it: the walk's worst realistic case).
func BenchmarkMatchWildcard(b *testing.B) {
	for _, apps := range []int{10, 500, 10000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			tbl := New()
			routes := make(map[string]Route, apps)
			for i := 0; i < apps; i++ {
				name := fmt.Sprintf("app%d", i)
				hosts := []string{name + ".example.test"}
				if i%10 == 0 {
					hosts = append(hosts, "*."+name+".test")
				}
				routes[name] = Route{Hosts: hosts, Targets: []string{"10.0.0.2:5000"}}
			}
			tbl.SetIfUnchanged(tbl.Routes(), routes, nil)
			host := fmt.Sprintf("a.b.c.app%d.test:443", apps/20*10)
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				if _, ok := tbl.Match(host); !ok {
					b.Fatal("miss")
				}
			}
		})
	}
}

func TestInFlightCountsUntilDone(t *testing.T) {
	var f InFlight
	done1 := f.Begin("10.0.0.2:5000")
	done2 := f.Begin("10.0.0.2:5000")
	f.Begin("10.0.0.3:5000")
	if n := f.Count("10.0.0.2:5000"); n != 2 {
		t.Fatalf("count = %d, want 2", n)
	}
	done1()
	done1() // a second call must not count twice
	done2()
	if n := f.Count("10.0.0.2:5000"); n != 0 {
		t.Fatalf("count = %d, want 0", n)
	}
	if n := f.Count("10.0.0.9:5000"); n != 0 {
		t.Fatalf("unknown address count = %d", n)
	}
}

func TestSetIfUnchangedKeepsNewerRoutes(t *testing.T) {
	tbl := New()
	tbl.SetTargets("a", []string{"10.0.0.1:5000"})
	tbl.SetTargets("b", []string{"10.0.0.2:5000"})
	tbl.SetTargets("gone", []string{"10.0.0.3:5000"})
	seen := tbl.Routes()
	// An event changes b after the reconcile looked.
	tbl.SetTargets("b", []string{"10.0.0.9:5000"})
	tbl.SetIfUnchanged(seen, map[string]Route{
		"a": {Hosts: []string{"a.test"}, Targets: []string{"10.0.0.5:5000"}},
		"b": {Hosts: []string{"b.test"}, Targets: []string{"10.0.0.2:5000"}},
		"c": {Hosts: []string{"c.test"}},
	}, []string{"gone"})
	if r, _ := tbl.App("a"); r.Targets[0] != "10.0.0.5:5000" {
		t.Errorf("a was not updated: %v", r.Targets)
	}
	if r, _ := tbl.App("b"); r.Targets[0] != "10.0.0.9:5000" {
		t.Errorf("b's newer route was overwritten: %v", r.Targets)
	}
	if _, ok := tbl.Lookup("c.test"); !ok {
		t.Error("c was not added")
	}
	if _, ok := tbl.App("gone"); ok {
		t.Error("gone was not removed")
	}
}

func BenchmarkReconcileWrite(b *testing.B) {
	for _, apps := range []int{500, 2000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			tbl := New()
			next := map[string]Route{}
			for i := 0; i < apps; i++ {
				name := fmt.Sprintf("app%d", i)
				next[name] = Route{Hosts: []string{name + ".test"}, Targets: []string{fmt.Sprintf("10.0.%d.%d:5000", i/250, i%250)}}
			}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				// Alternate targets so every round writes.
				for name, r := range next {
					r.Targets = []string{r.Targets[0] + fmt.Sprint(i%2)}
					next[name] = r
				}
				tbl.SetIfUnchanged(tbl.Routes(), next, nil)
			}
		})
	}
}

// A container event changes only an app's targets: that write must not
// copy the table (issue 16: it cost 188 µs at 500 apps), and every
// reader, whichever snapshot it holds, must see the new targets.
func TestSetTargetsDoesNotCopyTheTable(t *testing.T) {
	tbl := New()
	tbl.SetHosts("a", []string{"a.test"})
	tbl.SetTargets("a", []string{"10.0.0.1:5000"})
	before := tbl.current.Load()
	tbl.SetTargets("a", []string{"10.0.0.2:5000"})
	tbl.SetHosts("a", []string{"A.test."}) // the same hosts, normalized
	if tbl.current.Load() != before {
		t.Fatal("a targets-only write replaced the snapshot")
	}
	if r, ok := tbl.Lookup("a.test"); !ok || r.Targets[0] != "10.0.0.2:5000" || r.Hosts[0] != "a.test" {
		t.Fatalf("lookup after the write = %+v, %v", r, ok)
	}
	// A hosts change still builds a new snapshot, and the old host stops
	// being routed.
	tbl.SetHosts("a", []string{"b.test"})
	if tbl.current.Load() == before {
		t.Fatal("a hosts change kept the old snapshot")
	}
	if _, ok := tbl.Lookup("a.test"); ok {
		t.Fatal("a.test is still routed after the hosts change")
	}
	if r, ok := tbl.Lookup("b.test"); !ok || r.Targets[0] != "10.0.0.2:5000" {
		t.Fatalf("b.test = %+v, %v", r, ok)
	}
}

// SetAllHosts sets every app's hosts in one write: new apps are routed,
// an existing app keeps its targets, and hosts an app no longer names
// stop being routed.
//
// One write: every write that takes hosts away calls OnHostsGone once,
// after its swap, so two apps that each lose a host give one call with
// both hosts (a write per app would give two, and between them a request
// would see one app moved and the other not).
func TestSetAllHostsSetsEveryAppInOneWrite(t *testing.T) {
	tbl := New()
	tbl.SetHosts("a", []string{"a.test", "old.test"})
	tbl.SetTargets("a", []string{"10.0.0.1:5000"})
	tbl.SetHosts("d", []string{"d.test", "old-d.test"})
	var goneCalls [][]string
	tbl.OnHostsGone(func(h []string) { goneCalls = append(goneCalls, h) })
	tbl.SetAllHosts(map[string][]string{"a": {"A.test."}, "b": {"b.test"}, "c": {"c.test"}, "d": {"d.test"}})
	if r, ok := tbl.Lookup("a.test"); !ok || r.App != "a" || len(r.Targets) != 1 || r.Targets[0] != "10.0.0.1:5000" {
		t.Fatalf("a.test = %+v, %v; want app a with its target", r, ok)
	}
	for _, h := range []string{"b.test", "c.test"} {
		if _, ok := tbl.Lookup(h); !ok {
			t.Fatalf("%s is not routed", h)
		}
	}
	if _, ok := tbl.Lookup("old.test"); ok {
		t.Fatal("old.test is still routed")
	}
	if len(goneCalls) != 1 || !slices.Equal(goneCalls[0], []string{"old-d.test", "old.test"}) {
		t.Fatalf("hosts gone calls %v, want one of [old-d.test old.test]: not one write", goneCalls)
	}
}

// Setting the same hosts again changes nothing: no new snapshot.
func TestSetAllHostsWithTheSameHostsKeepsTheSnapshot(t *testing.T) {
	tbl := New()
	tbl.SetAllHosts(map[string][]string{"a": {"a.test"}, "b": {"b.test"}})
	before := tbl.current.Load()
	tbl.SetAllHosts(map[string][]string{"a": {"a.test"}, "b": {"B.TEST"}})
	if tbl.current.Load() != before {
		t.Fatal("an unchanged SetAllHosts replaced the snapshot")
	}
}

// RemoveTarget takes one address out and keeps the rest; an app without a
// route stays without one (a late die event must not create a route).
func TestRemoveTargetTakesOneAddressOut(t *testing.T) {
	tbl := New()
	tbl.SetHosts("a", []string{"a.test"})
	tbl.SetTargets("a", []string{"10.0.0.1:5000", "10.0.0.2:5000"})
	tbl.RemoveTarget("a", "10.0.0.1:5000")
	if r, ok := tbl.Lookup("a.test"); !ok || !slices.Equal(r.Targets, []string{"10.0.0.2:5000"}) {
		t.Fatalf("a.test = %+v, %v; want only 10.0.0.2:5000", r, ok)
	}
	tbl.RemoveTarget("gone", "10.0.0.1:5000")
	if _, ok := tbl.App("gone"); ok {
		t.Fatal("RemoveTarget created a route for an app that had none")
	}
}
