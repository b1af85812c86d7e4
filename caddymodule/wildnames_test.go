package caddymodule

import (
	"bytes"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/routing"
)

func TestWildcardGoneEvictsTheNamesItServedOnly(t *testing.T) {
	table := routing.New()
	table.SetHosts("outer", []string{"*.example.org"})
	table.SetHosts("inner", []string{"*.a.example.org", "exact.example.org"})
	var w wildcardNames
	for _, n := range []string{"x.example.org", "y.a.example.org"} {
		if _, wild, _ := table.MatchWildcard(n); w.allow(wild, n) != nil {
			t.Fatal(n)
		}
	}
	// z.a.example.org was outer's before inner took *.a.example.org.
	if err := w.allow("*.example.org", "z.a.example.org"); err != nil {
		t.Fatal(err)
	}
	table.SetHosts("outer", nil) // *.example.org goes
	got := w.gone(table, []string{"*.example.org", "plain.example.test"})
	slices.Sort(got)
	// x.example.org is routed no more; z.a.example.org still is (the
	// deeper wildcard) and is inner's now; y.a.example.org is inner's and
	// not even looked at; the wildcard itself is never evicted (a
	// Caddyfile-managed *.DOMAIN certificate must stay).
	if want := []string{"plain.example.test", "x.example.org"}; !slices.Equal(got, want) {
		t.Fatalf("gone = %q, want %q", got, want)
	}
	if got := w.gone(table, []string{"*.example.org"}); len(got) != 0 {
		t.Fatalf("an evicted name was remembered still: %q", got)
	}
	table.SetHosts("inner", nil)
	got = w.gone(table, []string{"*.a.example.org"})
	slices.Sort(got)
	if want := []string{"y.a.example.org", "z.a.example.org"}; !slices.Equal(got, want) {
		t.Fatalf("gone = %q, want %q (an adopted name goes with its new wildcard)", got, want)
	}
}

func TestWildcardBudgetBoundsNewNamesPerHourAndInAll(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	var logs bytes.Buffer
	w := wildcardNames{now: func() time.Time { return now }}
	w.setBudget(3, 5, slog.New(slog.NewTextHandler(&logs, nil)))
	for i := range 3 {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	err := w.allow("*.example.org", "n3.example.org")
	if err == nil || !strings.Contains(err.Error(), "wildcard_certs_per_hour 3") {
		t.Fatalf("the 4th new name in an hour: %v", err)
	}
	if !strings.Contains(logs.String(), "certs:add") || !strings.Contains(logs.String(), "DNS-01") {
		t.Fatalf("the log line does not say what to do: %s", logs.String())
	}
	// Remembered names are free; another wildcard has its own budget.
	if err := w.allow("*.example.org", "n1.example.org"); err != nil {
		t.Fatalf("a remembered name: %v", err)
	}
	if err := w.allow("*.other.org", "a.other.org"); err != nil {
		t.Fatalf("another wildcard: %v", err)
	}
	// An hour later there is room again, up to the total.
	now = now.Add(time.Hour)
	for i := 3; i < 5; i++ {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	err = w.allow("*.example.org", "n5.example.org")
	if err == nil || !strings.Contains(err.Error(), "wildcard_certs_max 5") {
		t.Fatalf("the 6th name in all: %v", err)
	}
	if n := strings.Count(logs.String(), "\n"); n != 2 {
		t.Fatalf("%d log lines, want 2 (one per refusal, a minute apart at least):\n%s", n, logs.String())
	}
	// The total follows the budget: no wildcard remembers more.
	if got := len(w.byWild["*.example.org"].names); got != 5 {
		t.Fatalf("%d names remembered, want 5", got)
	}
}

func TestWildcardBudgetDefaults(t *testing.T) {
	var w wildcardNames
	for i := range DefaultWildcardCertsPerHour {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.allow("*.example.org", "one-more.example.org"); err == nil {
		t.Fatalf("name %d in an hour was allowed", DefaultWildcardCertsPerHour+1)
	}
}

// A disabled app keeps its wildcard, and the names remembered under it
// keep matching it: they must be evicted all the same (their cached
// certificates would finish handshakes for an app that serves nothing).
func TestWildcardDisabledEvictsItsNames(t *testing.T) {
	table := routing.New()
	table.SetHosts("t", []string{"*.example.org", "exact.example.org"})
	var w wildcardNames
	if err := w.allow("*.example.org", "x.example.org"); err != nil {
		t.Fatal(err)
	}
	var got []string
	table.OnHostsGone(func(hosts []string) { got = w.gone(table, hosts) })
	table.SetHostsDisabled("t", []string{"*.example.org", "exact.example.org"}, true)
	slices.Sort(got)
	if want := []string{"exact.example.org", "x.example.org"}; !slices.Equal(got, want) {
		t.Fatalf("disabling the app evicts %q, want %q", got, want)
	}
}

// Two wildcards gone at once: the first one's hook matched a name to the
// second, whose own hook has emptied its names already. The name must not
// be remembered under the gone wildcard (never evicted): adopt looks
// again and hands it back to evict.
func TestWildcardAdoptUnderAWildcardGoneMeanwhile(t *testing.T) {
	table := routing.New()
	table.SetHosts("inner", []string{"*.a.example.org"})
	var w wildcardNames
	table.SetHosts("inner", nil) // gone after the first hook's match
	if w.gone(table, []string{"*.a.example.org"}) != nil {
		t.Fatal("nothing was remembered under the inner wildcard")
	}
	if w.adopt(table, "*.a.example.org", "z.a.example.org") {
		t.Fatal("adopt kept a name under a wildcard the table no longer has")
	}
	if s := w.byWild["*.a.example.org"]; s != nil && len(s.names) > 0 {
		t.Fatalf("the name stays remembered under the gone wildcard: %v", s.names)
	}
}
