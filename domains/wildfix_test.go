package domains_test

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-paas/berth/domains"
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
			if err := b.d.Change(b.ctx, "wild", "add", []string{"*.example.test"}); err != nil {
				t.Fatal(err)
			}
			var err error
			if disable == "proxy" {
				err = b.d.SetProxyEnabled(b.ctx, "b", false)
			} else {
				err = b.d.SetEnabled(b.ctx, "b", false)
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
			if err := b.d.Change(b.ctx, "b", "add", []string{"www.example.test"}); err != nil {
				t.Fatal(err)
			}
			check("after domains:add", "b.example.test", "www.example.test")
			if err := b.d.SetGlobalDomains(b.ctx, []string{"example.test", "other.test"}); err != nil {
				t.Fatal(err)
			}
			check("after a global domain change", "b.example.test", "www.example.test", "b.other.test")
			if disable == "proxy" {
				err = b.d.SetProxyEnabled(b.ctx, "b", true)
			} else {
				err = b.d.SetEnabled(b.ctx, "b", true)
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
		if err := domains.ValidateAppDomain(d); err == nil || !strings.Contains(err.Error(), "IP address") {
			t.Errorf("%s: %v, want a refusal", d, err)
		}
	}
	for _, d := range []string{"*.example.org", "*.123.example.org", "*.a1.b2"} {
		if err := domains.ValidateAppDomain(d); err != nil {
			t.Errorf("%s: %v", d, err)
		}
	}
}

// proxy:enable|disable, domains:enable|disable and domains:reset run the
// hosts-changed hook with the app's hosts (certs puts an enabled app's
// custom certificate back in the TLS server's cache, keeps a disabled
// one's out): without it, a re-enabled app's certificate stayed out.
func TestRoutedChangesRunTheHostsChangedHook(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "b"); err != nil {
		t.Fatal(err)
	}
	var calls []string
	b.p.Hooks().OnAppHostsChanged(func(_ context.Context, app string, hosts []string) {
		calls = append(calls, app+" "+strings.Join(hosts, ","))
	})
	for _, change := range []func() error{
		func() error { return b.d.SetProxyEnabled(b.ctx, "b", false) },
		func() error { return b.d.SetProxyEnabled(b.ctx, "b", true) },
		func() error { return b.d.SetEnabled(b.ctx, "b", false) },
		func() error { return b.d.SetEnabled(b.ctx, "b", true) },
		func() error { return b.d.Reset(b.ctx, "b") },
	} {
		before := len(calls)
		if err := change(); err != nil {
			t.Fatal(err)
		}
		if len(calls) != before+1 || !strings.HasPrefix(calls[len(calls)-1], "b ") {
			t.Fatalf("hook calls %q after change %d", calls, before)
		}
	}
}
