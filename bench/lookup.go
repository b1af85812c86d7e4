package main

import (
	"bytes"
	"context"
	"fmt"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"time"
)

// goBench runs `go test -run '^$' -bench pattern -benchtime t pkg` and
// returns ns/op by benchmark name (without the -GOMAXPROCS suffix), the
// command, and how long it ran.
func (e *env) goBench(pkg, pattern, benchtime string) (map[string]float64, string, time.Duration, error) {
	args := []string{"test", "-run", "^$", "-bench", pattern, "-benchtime", benchtime, pkg}
	cmd := exec.Command("go", args...)
	cmd.Dir = e.root
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	command := "go " + strings.Join(args, " ")
	progress("lookup: %s", command)
	t0 := time.Now()
	if err := cmd.Run(); err != nil {
		return nil, command, 0, fmt.Errorf("%s: %v\n%s", command, err, out.String())
	}
	took := time.Since(t0)
	re := regexp.MustCompile(`(?m)^(Benchmark\S+?)(?:-\d+)?\s+\d+\s+([\d.]+) ns/op`)
	res := map[string]float64{}
	for _, m := range re.FindAllStringSubmatch(out.String(), -1) {
		v, _ := strconv.ParseFloat(m[2], 64)
		res[m[1]] = v
	}
	if len(res) == 0 {
		return nil, command, took, fmt.Errorf("%s printed no results:\n%s", command, out.String())
	}
	return res, command, took, nil
}

func ns(v float64) string {
	switch {
	case v >= 1e6:
		return fmt.Sprintf("%.1f ms", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.1f µs", v/1e3)
	default:
		return fmt.Sprintf("%.1f ns", v)
	}
}

// benchLookup runs the routing table's Go benchmarks: routing's
// BenchmarkLookup and the write benchmarks in bench/table_test.go.
func benchLookup(ctx context.Context, e *env, cfg config, rep *report) error {
	// A fixed count: BenchmarkLookup fills its table inside the function
	// the testing package calls once per round, and at 10,000 apps that
	// fill takes about a minute; a count means two rounds instead of ~5.
	pattern := "BenchmarkLookup"
	if cfg.quick {
		pattern = "BenchmarkLookup/apps=(10|500)$" // no 10,000-app table in a quick run
	}
	lookup, cmd1, took1, err := e.goBench("./routing", pattern, cfg.lookupN)
	if err != nil {
		return err
	}
	writes, cmd2, took2, err := e.goBench("./bench", ".", cfg.benchtime)
	if err != nil {
		return err
	}
	l := func(apps int) float64 { return lookup[fmt.Sprintf("BenchmarkLookup/apps=%d", apps)] }
	rep.add("routing table (go test)", "Lookup per request: 500 apps vs 10 apps", ns(l(500)), ns(l(10)), ratio(l(500), l(10)))
	if l(10000) > 0 {
		rep.add("routing table (go test)", "Lookup per request: 10,000 apps vs 10 apps", ns(l(10000)), ns(l(10)), ratio(l(10000), l(10)))
	}
	s := func(name string, apps int) float64 { return writes[fmt.Sprintf("%s/apps=%d", name, apps)] }
	for _, apps := range []int{500, 2000} {
		rep.add("routing table (go test)", fmt.Sprintf("one container event's write (SetTargets), %d apps: copy-on-write table vs map under a mutex", apps),
			ns(s("BenchmarkSetTargets", apps)), ns(s("BenchmarkLockedMapSet", apps)), ratio(s("BenchmarkSetTargets", apps), s("BenchmarkLockedMapSet", apps)))
	}
	r500, r2000 := s("BenchmarkReconcileWrites", 500), s("BenchmarkReconcileWrites", 2000)
	rep.add("routing table (go test)", "table writes of one full Reconcile: 2,000 apps vs 500 apps", ns(r2000), ns(r500), ratio(r2000, r500))
	var rows [][]string
	for _, group := range []struct {
		name string
		res  map[string]float64
		keys []string
	}{
		{"BenchmarkLookup", lookup, []string{"apps=10", "apps=500", "apps=10000"}},
		{"BenchmarkSetTargets", writes, []string{"apps=10", "apps=500", "apps=2000"}},
		{"BenchmarkLockedMapSet", writes, []string{"apps=10", "apps=500", "apps=2000"}},
		{"BenchmarkReconcileWrites", writes, []string{"apps=500", "apps=2000"}},
	} {
		for _, k := range group.keys {
			if v, ok := group.res[group.name+"/"+k]; ok {
				rows = append(rows, []string{group.name + "/" + k, ns(v)})
			}
		}
	}
	rep.section("Routing table", fmt.Sprintf("`%s` (routing/table_test.go; it ran for %s; at 10,000 apps, almost all of it is filling the table) "+
		"and `%s` (bench/table_test.go; %s). "+
		"SetTargets is what one container event costs the table; a full Reconcile (at start, every 15 s, and after the event stream breaks) "+
		"makes one table write for every app (SetIfUnchanged: targets-only changes go into the apps' cells, new apps and host changes rebuild the index once); "+
		"ReconcileWrites is that write, on a goroutine beside the events (it never delays one).\n\n",
		cmd1, took1.Round(time.Second), cmd2, took2.Round(time.Second))+table([]string{"benchmark", "time per op"}, rows))
	return nil
}
