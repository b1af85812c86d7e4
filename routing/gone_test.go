package routing

import (
	"slices"
	"testing"
)

func TestOnHostsGoneReportsHostsThatStopBeingRouted(t *testing.T) {
	tbl := New()
	var got [][]string
	tbl.OnHostsGone(func(hosts []string) { got = append(got, hosts) })
	tbl.SetHosts("blog", []string{"blog.example.test", "www.blog.test"})
	tbl.SetHosts("shop", []string{"shop.example.test"})
	if len(got) != 0 {
		t.Fatalf("adding hosts reported %v as gone", got)
	}
	tbl.SetHosts("blog", []string{"blog.example.test"})
	tbl.SetTargets("blog", []string{"10.0.0.2:5000"}) // no host changes
	tbl.Remove("shop")
	want := [][]string{{"www.blog.test"}, {"shop.example.test"}}
	if !slices.EqualFunc(got, want, slices.Equal) {
		t.Fatalf("gone = %v, want %v", got, want)
	}
	tbl.SetIfUnchanged(tbl.Routes(), nil, []string{"blog"})
	if last := got[len(got)-1]; !slices.Equal(last, []string{"blog.example.test"}) {
		t.Fatalf("a reconcile that removed blog reported %v", last)
	}
}

// A disable keeps an app's hosts (no host changes), but they are served
// no more: their cached certificates must go as a removed host's do, so
// the hook is told, whichever write disables them, and once.
func TestOnHostsGoneReportsHostsAnAppDisables(t *testing.T) {
	for _, c := range []struct {
		name    string
		disable func(tbl *Table)
	}{
		{"SetHostsDisabled", func(tbl *Table) {
			tbl.SetHostsDisabled("blog", []string{"*.blog.test", "blog.example.test"}, true)
		}},
		{"SetIfUnchanged, hosts kept", func(tbl *Table) {
			seen := tbl.Routes()
			r := *seen["blog"]
			r.Disabled = true
			tbl.SetIfUnchanged(seen, map[string]Route{"blog": r}, nil)
		}},
		{"SetIfUnchanged, with another app's hosts changed", func(tbl *Table) {
			seen := tbl.Routes()
			r := *seen["blog"]
			r.Disabled = true
			tbl.SetIfUnchanged(seen, map[string]Route{"blog": r, "shop": {Hosts: []string{"shop2.example.test"}}}, nil)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			tbl := New()
			var got [][]string
			tbl.OnHostsGone(func(hosts []string) { got = append(got, hosts) })
			tbl.SetHosts("blog", []string{"blog.example.test", "*.blog.test"})
			tbl.SetHosts("shop", []string{"shop.example.test"})
			c.disable(tbl)
			var all []string
			for _, g := range got {
				all = append(all, g...)
			}
			slices.Sort(all)
			all = slices.DeleteFunc(all, func(h string) bool { return h == "shop.example.test" })
			if want := []string{"*.blog.test", "blog.example.test"}; !slices.Equal(all, want) {
				t.Fatalf("disabling blog reported %v, want %v once each", got, want)
			}
			// Disabled again, or enabled: nothing more is gone.
			n := len(got)
			tbl.SetHostsDisabled("blog", []string{"blog.example.test", "*.blog.test"}, true)
			tbl.SetHostsDisabled("blog", []string{"blog.example.test", "*.blog.test"}, false)
			if len(got) != n {
				t.Errorf("a second disable or an enable reported %v", got[n:])
			}
		})
	}
}
