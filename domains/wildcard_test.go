package domains_test

import (
	"strings"
	"testing"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/platform"
)

func TestAppDomainAcceptsALeadingWildcardLabel(t *testing.T) {
	for _, d := range []string{"*.example.org", "*.a.example.org", "*.wc.localhost", "*.localhost", "www.example.org"} {
		if err := domains.ValidateAppDomain(d); err != nil {
			t.Errorf("ValidateAppDomain(%q) = %v, want nil", d, err)
		}
	}
}

func TestAppDomainRefusesAStarAnywhereElse(t *testing.T) {
	for d, want := range map[string]string{
		"*":                "is not a domain name",
		"*.":               "is not a wildcard domain",
		"*.org":            "at least two labels",
		"*foo.example.org": "may only stand first, as a whole label",
		"a.*.example.org":  "may only stand first, as a whole label",
		"*.*.example.org":  "is not a wildcard domain",
		"**.example.org":   "may only stand first, as a whole label",
		"*.example.org.":   "is not a wildcard domain",
		"*.Example.org":    "use lowercase",
		"*.-x.example.org": "is not a wildcard domain",
	} {
		err := domains.ValidateAppDomain(d)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateAppDomain(%q) = %v, want an error saying %q", d, err, want)
		}
	}
}

func TestHostNamesStillRefuseWildcards(t *testing.T) {
	// The dashboard's host and global domains are names, not patterns.
	if err := platform.ValidateDomain("*.example.org"); err == nil || !strings.Contains(err.Error(), "can only be an app's own domain") {
		t.Fatalf("ValidateDomain(*.example.org) = %v", err)
	}
}

func TestGlobalDomainCannotBeAWildcard(t *testing.T) {
	b := newBed(t)
	err := b.d.ChangeGlobal(b.ctx, "add", []string{"*.example.test"})
	if err == nil || !strings.Contains(err.Error(), "can only be an app's own domain") {
		t.Fatalf("a wildcard global domain: %v", err)
	}
}

func TestWildcardDomainRoutesHostsNoOtherAppNames(t *testing.T) {
	b := newBed(t)
	for _, app := range []string{"wild", "blog"} {
		if err := b.p.Create(b.ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.d.Change(b.ctx, "wild", "add", []string{"*.example.test"}); err != nil {
		t.Fatal(err)
	}
	for host, want := range map[string]string{
		"blog.example.test":   "blog", // another app's default host: exact wins
		"wild.example.test":   "wild",
		"nobody.example.test": "wild",
		"a.b.example.test":    "wild",
	} {
		if r, ok := b.table.Match(host); !ok || r.App != want {
			t.Errorf("%s goes to %v, want %s", host, r, want)
		}
	}
	// An app created under the wildcard gets its default host: an exact
	// host beats the wildcard, so it is no conflict.
	if err := b.p.Create(b.ctx, "shop"); err != nil {
		t.Fatalf("an app whose default host a wildcard covers: %v", err)
	}
	if r, ok := b.table.Match("shop.example.test"); !ok || r.App != "shop" {
		t.Fatalf("shop.example.test goes to %v, want shop", r)
	}
	// So is another app's exact domain under it.
	if err := b.d.Change(b.ctx, "blog", "add", []string{"www.example.test", "*.blog.example.test"}); err != nil {
		t.Fatalf("an exact domain and a deeper wildcard under another app's wildcard: %v", err)
	}
	if r, _ := b.table.Match("x.blog.example.test"); r == nil || r.App != "blog" {
		t.Fatalf("x.blog.example.test goes to %v, want blog (the deeper wildcard)", r)
	}
}

func TestTwoAppsCannotClaimOneWildcard(t *testing.T) {
	b := newBed(t)
	for _, app := range []string{"wild", "other"} {
		if err := b.p.Create(b.ctx, app); err != nil {
			t.Fatal(err)
		}
	}
	if err := b.d.Change(b.ctx, "wild", "add", []string{"*.example.org"}); err != nil {
		t.Fatal(err)
	}
	err := b.d.Change(b.ctx, "other", "add", []string{"*.example.org"})
	if err == nil || !strings.Contains(err.Error(), "*.example.org is already served by app wild") {
		t.Fatalf("a second app's claim on the same wildcard: %v", err)
	}
	if d, _ := b.d.Report(b.ctx, "other"); len(d.Own) != 0 {
		t.Fatalf("the refused wildcard was kept: %v", d.Own)
	}
}

func TestRemovingTheWildcardStopsRoutingItsHosts(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "wild"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Change(b.ctx, "wild", "add", []string{"*.example.org"}); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Change(b.ctx, "wild", "remove", []string{"*.example.org"}); err != nil {
		t.Fatal(err)
	}
	if r, ok := b.table.Match("www.example.org"); ok {
		t.Fatalf("www.example.org still goes to %s", r.App)
	}
}

// FuzzValidateAppDomain: an accepted app domain is a host name
// ValidateDomain accepts, or "*." and one (of two labels at least, or
// localhost); a "*" appears nowhere else.
func FuzzValidateAppDomain(f *testing.F) {
	for _, d := range []string{"*.example.org", "*", "*.", "a.*.b.c", "*foo.example.org", "*.localhost", "**.a.b", "*.a.b."} {
		f.Add(d)
	}
	f.Fuzz(func(t *testing.T, d string) {
		if domains.ValidateAppDomain(d) != nil {
			return
		}
		rest, wild := strings.CutPrefix(d, "*.")
		if platform.ValidateDomain(rest) != nil {
			t.Fatalf("%q accepted, but %q is no host name", d, rest)
		}
		if wild && !strings.Contains(rest, ".") && rest != "localhost" {
			t.Fatalf("%q accepted: a wildcard over a single label", d)
		}
	})
}
