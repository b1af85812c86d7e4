package domains

// Fuzz target for the domains commands' list changes (a user's input
// reaches it from domains:*); tests/fuzz.sh runs it for a few seconds.

import (
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// FuzzChangeDomains: a domain that passes ValidateDomain is a lowercase
// host name; each domains action gives a list without duplicates, holding
// what it should, or an error and no list.
func FuzzChangeDomains(f *testing.F) {
	f.Add("a.test b.test", "add", "c.test a.test")
	f.Add("a.test b.test", "remove", "b.test")
	f.Add("a.test", "remove", "x.test")
	f.Add("", "set", "a.test b.test a.test")
	f.Add("a.test", "clear", "")
	f.Add("", "add", "Upper.test *.wild.test localhost nodot")
	f.Fuzz(func(t *testing.T, have, action, give string) {
		var domains []string
		for _, d := range strings.Fields(give) {
			if platform.ValidateDomain(d) != nil {
				continue
			}
			if d != strings.ToLower(d) || strings.ContainsAny(d, "*/:_ ") || !strings.Contains(d, ".") && d != "localhost" {
				t.Fatalf("domain %q accepted", d)
			}
			domains = append(domains, d)
		}
		list := slices.Compact(slices.Sorted(slices.Values(strings.Fields(have))))
		before := slices.Clone(list)
		got, err := changeDomainList(slices.Clone(list), action, domains)
		if err != nil {
			if got != nil {
				t.Fatalf("%s %q on %q refused (%v) but gave %q", action, domains, list, err, got)
			}
			return
		}
		if dup := len(got) - len(slices.Compact(slices.Sorted(slices.Values(got)))); dup != 0 {
			t.Fatalf("%s %q on %q gave duplicates: %q", action, domains, before, got)
		}
		for _, d := range got {
			if !slices.Contains(before, d) && !slices.Contains(domains, d) {
				t.Fatalf("%s %q on %q gave %q, which came from nowhere", action, domains, before, d)
			}
		}
		switch action {
		case "add", "set":
			for _, d := range domains {
				if !slices.Contains(got, d) {
					t.Fatalf("%s %q on %q lost %s: %q", action, domains, before, d, got)
				}
			}
		case "remove":
			for _, d := range got {
				if slices.Contains(domains, d) {
					t.Fatalf("remove %q on %q kept %s", domains, before, d)
				}
			}
		case "clear":
			if len(got) != 0 {
				t.Fatalf("clear gave %q", got)
			}
		default:
			t.Fatalf("unknown action %q accepted", action)
		}
	})
}
