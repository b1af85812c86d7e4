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
