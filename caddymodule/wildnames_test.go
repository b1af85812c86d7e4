package caddymodule

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/certmagic"

	"github.com/berth-paas/berth/routing"
)

func TestWildcardGoneEvictsTheNamesItServedOnly(t *testing.T) {
	table := routing.New()
	table.SetHosts("outer", []string{"*.example.org"})
	table.SetHosts("inner", []string{"*.a.example.org", "exact.example.org"})
	var w wildcardNames
	defaultBudget(&w)
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
	w.setBudget(3, 5, 100, nil, slog.New(slog.NewTextHandler(&logs, nil)))
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
	defaultBudget(&w)
	for i := range DefaultWildcardCertsPerHour {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.allow("*.example.org", "one-more.example.org"); err == nil {
		t.Fatalf("name %d in an hour was allowed", DefaultWildcardCertsPerHour+1)
	}
}

// After a restart the names already in use are remembered by no one, and
// certmagic asks the permission before it loads a stored certificate:
// one in storage is free, whatever the budget.
func TestWildcardBudgetStoredCertificatesAreFree(t *testing.T) {
	storage := &certmagic.FileStorage{Path: t.TempDir()}
	ctx := context.Background()
	const acme = "acme-v02.api.letsencrypt.org-directory"
	for issuer, name := range map[string]string{
		acme:    "old.example.org",
		"local": "internal.example.org",
	} {
		if err := storage.Store(ctx, certmagic.StorageKeys.SiteCert(issuer, name), []byte("cert")); err != nil {
			t.Fatal(err)
		}
	}
	var w wildcardNames
	// The on-demand policy's issuer is ACME: certmagic loads only its
	// certificates, so a `local` one is no free load but an ACME order
	// (failed before: any issuer directory counted).
	w.setBudget(0, 0, 0, storedCertificate(storage, []string{acme}), nil)
	if err := w.allow("*.example.org", "old.example.org"); err != nil {
		t.Errorf("old.example.org has a stored certificate of the policy's issuer: %v", err)
	}
	for _, n := range []string{"internal.example.org", "new.example.org"} {
		if err := w.allow("*.example.org", n); err == nil {
			t.Errorf("%s has no certificate of the policy's issuer and was allowed with a budget of 0", n)
		}
	}
}

// countingStorage counts the reads of the budget's lookups.
type countingStorage struct {
	certmagic.Storage
	lists, exists int
}

func (c *countingStorage) List(ctx context.Context, p string, r bool) ([]string, error) {
	c.lists++
	return c.Storage.List(ctx, p, r)
}

func (c *countingStorage) Exists(ctx context.Context, key string) bool {
	c.exists++
	return c.Storage.Exists(ctx, key)
}

// Random names under a wildcard cost at most storedLookupsPerMin lookups
// of one Exists per policy issuer a minute, and no listing: each
// handshake listed every issuer directory before (failed before: 1,000
// lists and 2,000 Exists for 1,000 names).
func TestWildcardBudgetStorageLookupsAreCapped(t *testing.T) {
	storage := &countingStorage{Storage: &certmagic.FileStorage{Path: t.TempDir()}}
	for _, issuer := range []string{"acme", "zerossl"} {
		if err := storage.Store(context.Background(), certmagic.StorageKeys.SiteCert(issuer, "old.example.org"), []byte("c")); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := wildcardNames{now: func() time.Time { return now }}
	w.setBudget(0, 0, 0, storedCertificate(storage, []string{"acme", "zerossl"}), nil)
	for i := range 1000 {
		if w.allow("*.example.org", fmt.Sprintf("r%d.example.org", i)) == nil {
			t.Fatalf("r%d allowed with a budget of 0", i)
		}
	}
	if storage.lists != 0 || storage.exists > 2*storedLookupsPerMin {
		t.Fatalf("1000 names: %d lists, %d Exists (want 0, at most %d)", storage.lists, storage.exists, 2*storedLookupsPerMin)
	}
	// Over the cap, a stored name counts as new; a minute later it is
	// looked up, and a known answer is not asked again.
	if w.allow("*.example.org", "old.example.org") == nil {
		t.Fatal("a name over the lookup cap was looked up")
	}
	now = now.Add(time.Minute + time.Second)
	if err := w.allow("*.example.org", "old.example.org"); err != nil {
		t.Fatalf("a stored name a minute later: %v", err)
	}
	before := storage.exists
	if w.allow("*.example.org", "r1.example.org") == nil || storage.exists != before {
		t.Fatalf("a name with a known answer was looked up again (%d Exists, %d before)", storage.exists, before)
	}
}

// The total is a rolling week, not every name ever allowed: an anonymous
// visitor who fills it locks new names out for a week at most, not until
// a restart.
func TestWildcardBudgetMaxIsARollingWeek(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := wildcardNames{now: func() time.Time { return now }}
	w.setBudget(100, 5, 100, nil, nil)
	for i := range 5 {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
		now = now.Add(2 * time.Hour)
	}
	if err := w.allow("*.example.org", "n5.example.org"); err == nil || !strings.Contains(err.Error(), "wildcard_certs_max 5") {
		t.Fatalf("the 6th name in a week: %v", err)
	}
	// A week after the first, one more has room; the remembered stay free.
	now = time.Date(2026, 1, 8, 0, 0, 1, 0, time.UTC)
	if err := w.allow("*.example.org", "n5.example.org"); err != nil {
		t.Fatalf("a week later: %v", err)
	}
	if err := w.allow("*.example.org", "n6.example.org"); err == nil {
		t.Fatal("the week's window let two in where one left it")
	}
	if err := w.allow("*.example.org", "n0.example.org"); err != nil {
		t.Fatalf("a remembered name: %v", err)
	}
}

// Let's Encrypt counts 50 certificates per registered domain per week,
// whatever the wildcards under it: they share one budget.
func TestWildcardBudgetPerRegisteredDomain(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := wildcardNames{now: func() time.Time { return now }}
	w.setBudget(100, 100, 3, nil, nil)
	for wild, name := range map[string]string{"*.a.example.org": "x.a.example.org", "*.b.example.org": "x.b.example.org", "*.example.org": "y.example.org"} {
		if err := w.allow(wild, name); err != nil {
			t.Fatal(err)
		}
	}
	err := w.allow("*.c.example.org", "x.c.example.org")
	if err == nil || !strings.Contains(err.Error(), "wildcard_certs_per_domain 3") || !strings.Contains(err.Error(), "example.org") {
		t.Fatalf("the 4th new name under example.org in a week: %v", err)
	}
	// Another registered domain has its own, also under a public suffix
	// of two labels (a.co.uk and b.co.uk are two domains).
	for _, n := range []string{"x.a.co.uk", "y.a.co.uk", "z.a.co.uk", "x.b.co.uk"} {
		if err := w.allow("*."+n[2:], n); err != nil {
			t.Fatalf("%s: %v", n, err)
		}
	}
	now = now.Add(budgetWeek)
	if err := w.allow("*.c.example.org", "x.c.example.org"); err != nil {
		t.Fatalf("a week later: %v", err)
	}
}

// A disabled app keeps its wildcard, and the names remembered under it
// keep matching it: they must be evicted all the same (their cached
// certificates would finish handshakes for an app that serves nothing).
func TestWildcardDisabledEvictsItsNames(t *testing.T) {
	table := routing.New()
	table.SetHosts("t", []string{"*.example.org", "exact.example.org"})
	var w wildcardNames
	defaultBudget(&w)
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
	defaultBudget(&w)
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

// A wildcard's hosts-gone call (domains:disable, open to a deploy key)
// evicts its names but keeps its week's counts: a disable and enable gave
// it its whole budget again (failed before: the 4th name was allowed).
func TestWildcardGoneKeepsTheBudgetCounts(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := wildcardNames{now: func() time.Time { return now }}
	w.setBudget(100, 3, 100, nil, nil)
	table := routing.New()
	table.SetHosts("app", []string{"*.example.org"})
	for i := range 3 {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	table.SetHosts("app", nil)
	if got := w.gone(table, []string{"*.example.org"}); len(got) != 3 {
		t.Fatalf("gone = %q, want the 3 names", got)
	}
	table.SetHosts("app", []string{"*.example.org"})
	if err := w.allow("*.example.org", "n3.example.org"); err == nil || !strings.Contains(err.Error(), "wildcard_certs_max 3") {
		t.Fatalf("a 4th name after a disable and enable: %v", err)
	}
}

// A name the budget let in has its certificate obtained and stored: after
// a disable and enable (which clears the wildcard's names and keeps the
// week's counts) it is free, not charged again. Before, the cached "not
// stored" answer from its first lookup charged it, and past the budget
// its handshakes failed for a week though its certificate was stored.
func TestWildcardNameLetInIsFreeAfterADisable(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	w := wildcardNames{now: func() time.Time { return now }}
	w.setBudget(100, 3, 100, func(string) bool { return false }, nil)
	table := routing.New()
	table.SetHosts("app", []string{"*.example.org"})
	for i := range 3 {
		if err := w.allow("*.example.org", fmt.Sprintf("n%d.example.org", i)); err != nil {
			t.Fatal(err)
		}
	}
	table.SetHosts("app", nil)
	w.gone(table, []string{"*.example.org"})
	table.SetHosts("app", []string{"*.example.org"})
	if err := w.allow("*.example.org", "n0.example.org"); err != nil {
		t.Fatalf("a name let in before the disable: %v", err)
	}
}

// defaultBudget gives w the budget of a Caddyfile that sets none, as the
// berth app's Start does.
func defaultBudget(w *wildcardNames) {
	var a App
	w.setBudget(a.wildcardCertsPerHour(), a.wildcardCertsMax(), a.wildcardCertsPerDomain(), nil, nil)
}
