package platform_test

import (
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// A disabled app's hosts stay its own: another app's wildcard must not
// take them (their cookies, a certificate for them).
func TestDisabledAppsHostsDoNotFallToAWildcard(t *testing.T) {
	for _, disable := range []string{"proxy", "domains"} {
		t.Run(disable, func(t *testing.T) {
			b := newBed(t)
			for _, app := range []string{"wild", "b"} {
				if err := b.p.Create(b.ctx, app); err != nil {
					t.Fatal(err)
				}
			}
			if err := b.p.ChangeDomains(b.ctx, "wild", "add", []string{"*.example.test"}); err != nil {
				t.Fatal(err)
			}
			var err error
			if disable == "proxy" {
				err = b.p.SetProxyEnabled(b.ctx, "b", false)
			} else {
				err = b.p.SetDomainsEnabled(b.ctx, "b", false)
			}
			if err != nil {
				t.Fatal(err)
			}
			check := func(when string, hosts ...string) {
				t.Helper()
				for _, h := range hosts {
					r, ok := b.table.Match(h)
					if !ok || r.App != "b" || !r.Disabled {
						t.Fatalf("%s: %s goes to %+v, want b's route, disabled", when, h, r)
					}
				}
			}
			check("disabled", "b.example.test")
			// domains:add and a global domains change (a reload) keep it
			// disabled.
			if err := b.p.ChangeDomains(b.ctx, "b", "add", []string{"www.example.test"}); err != nil {
				t.Fatal(err)
			}
			check("after domains:add", "b.example.test", "www.example.test")
			if err := b.p.SetGlobalDomains(b.ctx, []string{"example.test", "other.test"}); err != nil {
				t.Fatal(err)
			}
			check("after a global domain change", "b.example.test", "www.example.test", "b.other.test")
			if disable == "proxy" {
				err = b.p.SetProxyEnabled(b.ctx, "b", true)
			} else {
				err = b.p.SetDomainsEnabled(b.ctx, "b", true)
			}
			if err != nil {
				t.Fatal(err)
			}
			if r, ok := b.table.Match("b.example.test"); !ok || r.App != "b" || r.Disabled {
				t.Fatalf("enabled again: %+v", r)
			}
		})
	}
}

func TestWildcardRefusesANumericLastLabel(t *testing.T) {
	for _, d := range []string{"*.0.1", "*.1.2.3", "*.example.123"} {
		if err := platform.ValidateAppDomain(d); err == nil || !strings.Contains(err.Error(), "IP address") {
			t.Errorf("%s: %v, want a refusal", d, err)
		}
	}
	for _, d := range []string{"*.example.org", "*.123.example.org", "*.a1.b2"} {
		if err := platform.ValidateAppDomain(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}
