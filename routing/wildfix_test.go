package routing

import (
	"strings"
	"testing"
)

func TestMatchRefusesNamesThatAreNoDNSNames(t *testing.T) {
	tbl := New()
	tbl.SetHosts("wild", []string{"*.example.org"})
	tbl.SetHosts("exact", []string{"www.example.org"})
	long := strings.Repeat("a", 64)
	for _, host := range []string{
		"..example.org",
		"a..example.org",
		"a.b..example.org",
		long + ".example.org",                         // a label over 63 bytes
		strings.Repeat("a.", 130) + "example.org",     // 271 bytes
		strings.Repeat("x", 60*1024) + ".example.org", // a 60 KB server name
		"",
	} {
		if r, ok := tbl.Match(host); ok {
			t.Errorf("Match(%.40q) = %s, want no route", host, r.App)
		}
	}
	// The limits themselves are names.
	for host, want := range map[string]string{
		strings.Repeat("a", 63) + ".example.org":           "wild",
		strings.Repeat("abcdefghi.", 24) + "x.example.org": "wild", // 253 bytes
		"www.example.org":  "exact",
		"www.example.org.": "exact",
	} {
		if got := matchApp(tbl, host); got != want {
			t.Errorf("Match(%.40q) = %q, want %q", host, got, want)
		}
	}
}

func TestMatchNeverGivesAReservedHostToAWildcard(t *testing.T) {
	tbl := New()
	tbl.SetHosts("wild", []string{"*.example.org"})
	tbl.SetReserved([]string{"dash.example.org", "*.caddy.example.org"})
	for host, want := range map[string]string{
		"dash.example.org":     "",
		"DASH.example.org:443": "",
		"x.caddy.example.org":  "",
		"caddy.example.org":    "wild", // the reserved wildcard covers names below it only
		"shop.example.org":     "wild",
	} {
		if got := matchApp(tbl, host); got != want {
			t.Errorf("Match(%q) = %q, want %q", host, got, want)
		}
	}
	// An app that names one exactly (the platform refuses that for
	// Berth's own hosts) is the table's to route; a deeper wildcard
	// than the reserved one too.
	tbl.SetHosts("inner", []string{"*.x.caddy.example.org"})
	if got := matchApp(tbl, "a.x.caddy.example.org"); got != "inner" {
		t.Errorf("a.x.caddy.example.org went to %q, want inner", got)
	}
	// A reload replaces the set.
	tbl.SetReserved(nil)
	if got := matchApp(tbl, "dash.example.org"); got != "wild" {
		t.Errorf("after the reservation went, dash.example.org went to %q", got)
	}
}

func TestMatchWildcardSaysWhichWildcard(t *testing.T) {
	tbl := New()
	tbl.SetHosts("outer", []string{"*.example.org", "www.example.org"})
	tbl.SetHosts("inner", []string{"*.a.example.org"})
	for host, want := range map[string]string{
		"x.example.org":     "*.example.org",
		"y.x.a.example.org": "*.a.example.org",
		"www.example.org":   "",
	} {
		if _, w, ok := tbl.MatchWildcard(host); !ok || w != want {
			t.Errorf("MatchWildcard(%q) = %q, %v; want %q", host, w, ok, want)
		}
	}
}

func TestDisabledAppKeepsItsHostsFromAWildcard(t *testing.T) {
	tbl := New()
	tbl.SetHosts("wild", []string{"*.example.org"})
	tbl.SetHostsDisabled("b", []string{"b.example.org"}, true)
	r, ok := tbl.Match("b.example.org")
	if !ok || r.App != "b" || !r.Disabled {
		t.Fatalf("Match(b.example.org) = %+v, %v; want b's route, disabled", r, ok)
	}
	// SetHosts (a domains change) keeps it disabled.
	tbl.SetHosts("b", []string{"b.example.org", "c.example.org"})
	if r, _ := tbl.Match("c.example.org"); r.App != "b" || !r.Disabled {
		t.Fatalf("after SetHosts: %+v", r)
	}
	tbl.SetHostsDisabled("b", []string{"b.example.org"}, false)
	if r, _ := tbl.Match("b.example.org"); r.Disabled {
		t.Fatalf("enabled again, still disabled: %+v", r)
	}
	// A reconcile that disables it sets the flag too.
	seen := tbl.Routes()
	tbl.SetIfUnchanged(seen, map[string]Route{"b": {Hosts: []string{"b.example.org"}, Disabled: true}}, nil)
	if r, _ := tbl.Match("b.example.org"); !r.Disabled {
		t.Fatalf("a reconcile did not disable it: %+v", r)
	}
}

func TestSetAllHostsIsOneWrite(t *testing.T) {
	tbl := New()
	tbl.SetHosts("a", []string{"a.old.test"})
	tbl.SetHosts("b", []string{"b.old.test"})
	tbl.SetTargets("a", []string{"10.0.0.1:80"})
	calls := 0
	tbl.OnHostsGone(func([]string) { calls++ })
	tbl.SetAllHosts(map[string][]string{"a": {"a.new.test"}, "b": {"b.new.test"}, "c": {"c.new.test"}})
	if calls != 1 {
		t.Fatalf("hosts-gone ran %d times, want 1 (one write)", calls)
	}
	for host, want := range map[string]string{"a.new.test": "a", "b.new.test": "b", "c.new.test": "c", "a.old.test": ""} {
		if got := matchApp(tbl, host); got != want {
			t.Errorf("Match(%q) = %q, want %q", host, got, want)
		}
	}
	if r, _ := tbl.App("a"); len(r.Targets) != 1 {
		t.Fatalf("targets lost: %+v", r)
	}
}

func TestHostsGoneMayWriteTheTable(t *testing.T) {
	// The hook runs outside the write lock: a hook that writes (or takes
	// long) holds up no other write. Before, this deadlocked.
	tbl := New()
	tbl.SetHosts("a", []string{"a.test"})
	tbl.OnHostsGone(func([]string) { tbl.SetTargets("b", []string{"10.0.0.2:80"}) })
	tbl.Remove("a")
	if _, ok := tbl.App("b"); !ok {
		t.Fatal("the hook's write is missing")
	}
}

// The TLS permission normalizes a server name once (NormalName) and
// matches the result with MatchWildcardNormal: the same answer as
// MatchWildcard on the name as it came.
func TestMatchWildcardNormalAgreesOnANormalName(t *testing.T) {
	tbl := New()
	tbl.SetHosts("outer", []string{"*.example.org", "www.example.org"})
	tbl.SetReserved([]string{"dash.example.org"})
	for _, host := range []string{"X.Example.ORG.", "www.EXAMPLE.org", "dash.example.org", "none.example.test"} {
		r1, w1, ok1 := tbl.MatchWildcard(host)
		n, ok := NormalName(host)
		if !ok {
			t.Fatalf("NormalName(%q) refused it", host)
		}
		r2, w2, ok2 := tbl.MatchWildcardNormal(n)
		if r1 != r2 || w1 != w2 || ok1 != ok2 {
			t.Errorf("%q: MatchWildcard %v %q %v, MatchWildcardNormal(%q) %v %q %v", host, r1, w1, ok1, n, r2, w2, ok2)
		}
	}
	if _, ok := NormalName(strings.Repeat("a.", 200) + "example.org"); ok {
		t.Error("NormalName took a name too long to be a DNS name")
	}
}
