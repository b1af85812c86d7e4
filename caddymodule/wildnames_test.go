package caddymodule

import (
	"slices"
	"testing"

	"github.com/berth-paas/berth/routing"
)

func TestWildcardGoneEvictsTheNamesItServedOnly(t *testing.T) {
	table := routing.New()
	table.SetHosts("outer", []string{"*.example.org"})
	table.SetHosts("inner", []string{"*.a.example.org", "exact.example.org"})
	var w wildcardNames
	for _, n := range []string{"x.example.org", "y.a.example.org", "other.test"} {
		w.add(n)
	}
	table.SetHosts("outer", nil) // *.example.org goes
	got := w.gone(table, []string{"*.example.org", "plain.example.test"})
	slices.Sort(got)
	// x.example.org is routed no more; y.a.example.org still is (the
	// deeper wildcard); other.test is under no gone wildcard; the
	// wildcard itself is never evicted (a Caddyfile-managed *.DOMAIN
	// certificate must stay).
	if want := []string{"plain.example.test", "x.example.org"}; !slices.Equal(got, want) {
		t.Fatalf("gone = %q, want %q", got, want)
	}
	if got := w.gone(table, []string{"*.example.org"}); len(got) != 0 {
		t.Fatalf("an evicted name was remembered still: %q", got)
	}
}

func TestWildcardNamesAreBounded(t *testing.T) {
	var w wildcardNames
	for i := range maxWildcardNames + 10 {
		w.add(string(rune('a'+i%26)) + "." + string(rune(i)) + ".example.org")
	}
	if len(w.names) > maxWildcardNames {
		t.Fatalf("%d names remembered, over the bound %d", len(w.names), maxWildcardNames)
	}
}
