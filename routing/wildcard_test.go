package routing

import (
	"slices"
	"testing"
)

// matchApp is the app Match routes host to, or "" when none.
func matchApp(tbl *Table, host string) string {
	r, ok := tbl.Match(host)
	if !ok {
		return ""
	}
	return r.App
}

func TestWildcardMatchesAnyDepthButNotTheDomainItself(t *testing.T) {
	tbl := New()
	tbl.SetHosts("wild", []string{"*.example.org"})
	for host, want := range map[string]string{
		"www.example.org":        "wild",
		"a.b.c.example.org":      "wild",
		"WWW.Example.Org:8443":   "wild",
		"www.example.org.":       "wild",
		"example.org":            "",
		".example.org":           "",
		"www.example.org.evil":   "",
		"wwwexample.org":         "",
		"www.other.org":          "",
		"*.example.org":          "", // no client asks for a wildcard
		"x.*.example.org":        "",
		"www.sub.example.org:80": "wild",
	} {
		if got := matchApp(tbl, host); got != want {
			t.Errorf("Match(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestExactHostBeatsWildcard(t *testing.T) {
	tbl := New()
	tbl.SetHosts("wild", []string{"*.example.org"})
	tbl.SetHosts("blog", []string{"blog.example.org"})
	if got := matchApp(tbl, "blog.example.org"); got != "blog" {
		t.Fatalf("blog.example.org went to %q, want the exact host's app", got)
	}
	if got := matchApp(tbl, "shop.example.org"); got != "wild" {
		t.Fatalf("shop.example.org went to %q, want the wildcard's app", got)
	}
	// A host under the exact one is the wildcard's: an exact host covers
	// itself only.
	if got := matchApp(tbl, "x.blog.example.org"); got != "wild" {
		t.Fatalf("x.blog.example.org went to %q, want the wildcard's app", got)
	}
}

func TestDeeperWildcardBeatsShallowerOne(t *testing.T) {
	tbl := New()
	tbl.SetHosts("outer", []string{"*.example.org"})
	tbl.SetHosts("inner", []string{"*.a.example.org"})
	for host, want := range map[string]string{
		"x.a.example.org":   "inner",
		"y.x.a.example.org": "inner",
		"a.example.org":     "outer", // *.a.example.org does not cover a.example.org
		"b.example.org":     "outer",
	} {
		if got := matchApp(tbl, host); got != want {
			t.Errorf("Match(%q) = %q, want %q", host, got, want)
		}
	}
}

func TestLookupFindsAWildcardOnlyByItsOwnName(t *testing.T) {
	tbl := New()
	tbl.SetHosts("wild", []string{"*.Example.org"})
	if _, ok := tbl.Lookup("www.example.org"); ok {
		t.Fatal("Lookup, the exact view, matched a host through a wildcard")
	}
	if r, ok := tbl.Lookup("*.example.org"); !ok || r.App != "wild" {
		t.Fatalf("Lookup(*.example.org) = %v, %v; want the app that names it", r, ok)
	}
}

func TestRemovingTheWildcardStopsItsHosts(t *testing.T) {
	tbl := New()
	var gone []string
	tbl.OnHostsGone(func(hosts []string) { gone = append(gone, hosts...) })
	tbl.SetHosts("wild", []string{"wild.example.test", "*.example.org"})
	tbl.SetHosts("wild", []string{"wild.example.test"})
	if got := matchApp(tbl, "www.example.org"); got != "" {
		t.Fatalf("www.example.org still goes to %q after the wildcard went", got)
	}
	if !slices.Equal(gone, []string{"*.example.org"}) {
		t.Fatalf("hosts gone = %v, want the wildcard", gone)
	}
	tbl.SetHosts("wild", []string{"*.example.org"})
	tbl.Remove("wild")
	if got := matchApp(tbl, "www.example.org"); got != "" {
		t.Fatalf("www.example.org still goes to %q after its app went", got)
	}
}

func TestWildcardOfTwoAppsGoesToTheFirstByName(t *testing.T) {
	// The platform refuses it; the table stays deterministic anyway.
	tbl := New()
	tbl.SetHosts("b", []string{"*.example.org"})
	tbl.SetHosts("a", []string{"*.example.org"})
	if got := matchApp(tbl, "x.example.org"); got != "a" {
		t.Fatalf("x.example.org went to %q, want a", got)
	}
	tbl.Remove("a")
	if got := matchApp(tbl, "x.example.org"); got != "b" {
		t.Fatalf("x.example.org went to %q after a went, want b", got)
	}
}

func TestWildcardsSurviveABatchWrite(t *testing.T) {
	tbl := New()
	tbl.SetIfUnchanged(tbl.Routes(), map[string]Route{
		"wild": {Hosts: []string{"*.Example.org"}, Targets: []string{"10.0.0.2:5000"}},
	}, nil)
	r, ok := tbl.Match("www.example.org")
	if !ok || r.App != "wild" || len(r.Targets) != 1 {
		t.Fatalf("Match after SetIfUnchanged = %v, %v", r, ok)
	}
}

func TestMatchDoesNotAllocate(t *testing.T) {
	tbl := New()
	tbl.SetHosts("blog", []string{"blog.example.org"})
	tbl.SetHosts("wild", []string{"*.example.org"})
	tbl.SetHosts("inner", []string{"*.a.example.org"})
	for _, host := range []string{"blog.example.org:443", "x.y.a.example.org", "nothere.test", "deep.x.example.org"} {
		if n := testing.AllocsPerRun(100, func() { tbl.Match(host) }); n != 0 {
			t.Errorf("Match(%q) allocates %v times", host, n)
		}
	}
}
