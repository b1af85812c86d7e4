package main

import (
	"fmt"
	"sync"
	"testing"

	"github.com/berth-paas/berth/routing"
)

// These benchmarks complement routing's BenchmarkLookup: they time the
// table's writes, which copy the whole table (copy on write). `go run
// ./bench` runs them; so does `go test -run '^$' -bench . ./bench`.

// tables caches filled tables: filling one used to take a write per app, and
// each write copies the table, so a table of N apps costs O(N²) to fill
// (about a minute at 10,000 apps), and the testing package calls a
// benchmark's function several times.
var tables = map[int]*routing.Table{}

func filledTable(apps int) *routing.Table {
	if tbl, ok := tables[apps]; ok {
		return tbl
	}
	// One batch write: filling app by app would rebuild the table's host
	// index once per app (minutes at 10,000 apps).
	tbl := routing.New()
	routes := make(map[string]routing.Route, apps)
	for i := 0; i < apps; i++ {
		name := fmt.Sprintf("app%d", i)
		routes[name] = routing.Route{Hosts: []string{name + ".example.test"}, Targets: []string{"10.0.0.2:5000"}}
	}
	tbl.SetIfUnchanged(tbl.Routes(), routes, nil)
	tables[apps] = tbl
	return tbl
}

// BenchmarkSetTargets is one container event's table write: one app's
// targets change in a table of N apps.
func BenchmarkSetTargets(b *testing.B) {
	for _, apps := range []int{10, 500, 2000, 10000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			tbl := filledTable(apps)
			name := fmt.Sprintf("app%d", apps/2)
			targets := [][]string{{"10.0.0.3:5000"}, {"10.0.0.4:5000"}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				tbl.SetTargets(name, targets[i%2])
			}
		})
	}
}

// BenchmarkLockedMapSet is the baseline for BenchmarkSetTargets: the same
// write into a map under a mutex, as a table that is changed in place
// (and read under a lock) would do it.
func BenchmarkLockedMapSet(b *testing.B) {
	for _, apps := range []int{10, 500, 2000, 10000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			var mu sync.RWMutex
			m := map[string][]string{}
			for i := 0; i < apps; i++ {
				m[fmt.Sprintf("app%d", i)] = []string{"10.0.0.2:5000"}
			}
			name := fmt.Sprintf("app%d", apps/2)
			targets := [][]string{{"10.0.0.3:5000"}, {"10.0.0.4:5000"}}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				mu.Lock()
				m[name] = append([]string(nil), targets[i%2]...)
				mu.Unlock()
			}
		})
	}
}

// BenchmarkReconcileWrites is the table work of one Platform.Reconcile:
// SetHosts and SetTargets for every one of N apps (two full copies of the
// table per app).
func BenchmarkReconcileWrites(b *testing.B) {
	for _, apps := range []int{500, 2000} {
		b.Run(fmt.Sprintf("apps=%d", apps), func(b *testing.B) {
			tbl := filledTable(apps)
			names := make([]string, apps)
			hosts := make([][]string, apps)
			for i := range names {
				names[i] = fmt.Sprintf("app%d", i)
				hosts[i] = []string{names[i] + ".example.test"}
			}
			targets := []string{"10.0.0.2:5000"}
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				for j, name := range names {
					tbl.SetHosts(name, hosts[j])
					tbl.SetTargets(name, targets)
				}
			}
		})
	}
}
