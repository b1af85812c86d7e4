// Command bench runs Berth's benchmarks (issue 7). Every number is
// reported against a baseline measured in the same process, on the same
// machine, in the same run, interleaved where the two can run in turns:
//
//	proxy     requests through a Berth route vs Caddy's static
//	          reverse_proxy to the same container vs the container directly
//	converge  container start event → first proxied 200 through Berth,
//	          with 0 and with 500 other apps registered, vs the cost of a
//	          full Caddy config reload (and whether long streams survive it)
//	scale     500 running apps: Caddy's memory and Berth's reconcile on
//	          start, vs an empty start
//	lookup    the routing table's Go benchmarks (routing's BenchmarkLookup
//	          and the write benchmarks in bench/table_test.go)
//	git       a push of ~100 MB of history through Berth vs git
//	          receive-pack over OpenSSH's sshd
//	deploy    git push → new version serving vs a plain docker build of
//	          the same context; failed requests under load over the
//	          deploys, a caddy reload, and the gap of a caddy stop + run
//	rebuild   the build of an unchanged app and of one with a changed
//	          source file vs its first build, with BuildKit and
//	          herokuish (issues 13 and 16)
//	pack      the same with the pack builder (CNB, its cache volume)
//	serving   a new app's git push → its host answering 200 through
//	          Berth vs a plain docker build (and build + run) of the
//	          same kind of context (issue 16)
//
// Run them all, from the module's root:
//
//	go run ./bench
//
// That prints a Markdown table and writes it, with the date, the machine
// and the command, into BENCHMARKS.md between its markers. Flags:
//
//	-run proxy,converge,scale,lookup,git,deploy,pack,rebuild,serving   run a subset (a subset writes no file unless -o is given)
//	-quick                          scale every count and duration down (writes no file unless -o)
//	-o FILE                         write the results into FILE
//
// It needs root (or the docker group), a running dockerd, git, ssh,
// ssh-keygen, a static busybox (busybox-static), and for the git baseline
// OpenSSH's server (openssh-server; without it that baseline falls back
// to a local push, and says so). All traffic goes to 127.0.0.1 or to the
// addresses of the containers it runs; every loop is bounded in count and
// time. Everything it makes (containers labelled berth.bench, its two
// images, processes, temporary files) is removed at the end, on failure,
// and on SIGINT or SIGTERM.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-paas/berth/docker"
)

// config holds the counts and durations of one run.
type config struct {
	quick bool

	conc        int           // load generator connections
	proxyDur    time.Duration // one load run (Go app backend)
	proxyRuns   int           // interleaved rounds per target (Go app backend)
	bbDur       time.Duration // one load run (busybox httpd backend)
	bbRuns      int
	maxReq      int // cap per load run
	events      int // convergence events per kind and configuration
	regApps     int // apps registered (records only) for the second convergence run
	reloads     int // static Caddy reloads per configuration
	scaleApps   int // running apps in the scale benchmark
	scaleEvents int // restarts among them
	staleTrials int // stale-route trials per phase
	idleWindow  time.Duration
	gitMB       int
	gitRounds   int
	benchtime   string // for bench/table_test.go
	lookupN     string // -benchtime for routing's BenchmarkLookup
	pprofDir    string // if set, profile the Berth caddy under load into this dir
	// traceSlow, if set, runs the convergence benchmark's Berth with
	// Caddy's debug log and prints its lines for each event slower than
	// this (the event, the refreshes, the route written).
	traceSlow time.Duration
}

func fullConfig() config {
	return config{
		conc: 16, proxyDur: 5 * time.Second, proxyRuns: 5, bbDur: 3 * time.Second, bbRuns: 3, maxReq: 200000,
		events: 100, regApps: 500, reloads: 50,
		scaleApps: 500, scaleEvents: 30, staleTrials: 3, idleWindow: 16 * time.Second,
		gitMB: 100, gitRounds: 3, benchtime: "1s", lookupN: "5000000x",
	}
}

func quickConfig() config {
	return config{
		quick: true,
		conc:  16, proxyDur: time.Second, proxyRuns: 2, bbDur: time.Second, bbRuns: 2, maxReq: 50000,
		events: 10, regApps: 50, reloads: 10,
		scaleApps: 50, scaleEvents: 10, staleTrials: 1, idleWindow: 16 * time.Second,
		gitMB: 10, gitRounds: 1, benchtime: "100ms", lookupN: "1000000x",
	}
}

var allBenchmarks = []string{"proxy", "converge", "scale", "lookup", "git", "deploy", "pack", "rebuild", "serving"}

func main() {
	if spec := os.Getenv(goProxyEnv); spec != "" {
		runGoProxy(spec)
	}
	runFlag := flag.String("run", strings.Join(allBenchmarks, ","), "benchmarks to run, comma-separated: "+strings.Join(allBenchmarks, ", "))
	quick := flag.Bool("quick", false, "scale counts and durations down for a quick run")
	out := flag.String("o", "", "write the results into this file (default: BENCHMARKS.md on a full run, nothing otherwise)")
	events := flag.Int("events", 0, "convergence events per kind and configuration (default 100, -quick 10)")
	apps := flag.Int("apps", 0, "apps for the scale benchmark and registered apps for convergence (default 500, -quick 50)")
	gitMB := flag.Int("git-mb", 0, "size of the pushed history in MB (default 100, -quick 10)")
	proxyRounds := flag.Int("proxy-rounds", 0, "interleaved rounds per proxy target (default 5, -quick 2)")
	proxyDur := flag.Duration("proxy-dur", 0, "duration of one proxy load round (default 5s, -quick 1s)")
	conc := flag.Int("conc", 0, "load generator connections per proxy target (default 16)")
	pprofDir := flag.String("pprof", "", "take CPU and allocation profiles of the Berth caddy under load into this directory")
	traceSlow := flag.Duration("trace-slow", 0, "converge: run Berth with Caddy's debug log and print Berth's log lines for every event slower than this (e.g. 250ms)")
	flag.StringVar(&benchSubnet, "subnet", "", "create Berth's network with this subnet (e.g. 10.107.128.0/17) when the bench creates it: an engine whose address pool hands out /24s fits only ~250 app containers")
	flag.Parse()

	cfg := fullConfig()
	if *quick {
		cfg = quickConfig()
	}
	if *events > 0 {
		cfg.events = *events
	}
	if *apps > 0 {
		cfg.scaleApps, cfg.regApps = *apps, *apps
	}
	if *gitMB > 0 {
		cfg.gitMB = *gitMB
	}
	if *proxyRounds > 0 {
		cfg.proxyRuns = *proxyRounds
	}
	if *proxyDur > 0 {
		cfg.proxyDur = *proxyDur
	}
	cfg.pprofDir = *pprofDir
	cfg.traceSlow = *traceSlow
	if *conc > 0 {
		cfg.conc = *conc
	}
	var selected []string
	for _, name := range strings.Split(*runFlag, ",") {
		name = strings.TrimSpace(name)
		if name == "" {
			continue
		}
		if !slices.Contains(allBenchmarks, name) {
			fmt.Fprintf(os.Stderr, "unknown benchmark %q (known: %s)\n", name, strings.Join(allBenchmarks, ", "))
			os.Exit(2)
		}
		selected = append(selected, name)
	}
	if slices.Contains(selected, "scale") && cfg.scaleApps+scaleExtraContainers > docker.MaxBridgeContainers {
		// Found 29 minutes into a run of -apps 2000: the 1,024th
		// container of one network is refused ("exchange full").
		fmt.Fprintf(os.Stderr, "-apps %d: the scale benchmark runs each app's container on Berth's network, one bridge, which holds at most %d containers (and %d of the benchmark's own): use -apps %d or fewer, or run only converge, whose apps are registered without containers\n",
			cfg.scaleApps, docker.MaxBridgeContainers, scaleExtraContainers, docker.MaxBridgeContainers-scaleExtraContainers)
		os.Exit(2)
	}
	full := !cfg.quick && len(selected) == len(allBenchmarks) && *events == 0 && *apps == 0 && *gitMB == 0 && *proxyRounds == 0 && *proxyDur == 0 && *conc == 0 && *traceSlow == 0
	command := "go run ./bench"
	if len(os.Args) > 1 {
		command += " " + strings.Join(os.Args[1:], " ")
	}
	os.Exit(run(cfg, selected, full, *out, command))
}

func run(cfg config, selected []string, full bool, out, command string) (code int) {
	started := time.Now()
	m := readMachine()
	e, err := newEnv(cfg.quick)
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	defer e.cleanUp()
	// SIGINT or SIGTERM: clean up, then exit.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM)
	go func() {
		s := <-sigs
		progress("got %v: cleaning up", s)
		e.cleanUp()
		os.Exit(1)
	}()

	ctx := context.Background()
	setup := func() error {
		if err := e.setUpSSH(); err != nil {
			return err
		}
		if err := e.setUpDocker(ctx); err != nil {
			return err
		}
		if err := e.buildBinaries(); err != nil {
			return err
		}
		return e.makeImages(ctx)
	}
	if err := setup(); err != nil {
		fmt.Fprintln(os.Stderr, "bench: setup:", err)
		return 1
	}

	rep := &report{}
	benches := map[string]func(context.Context, *env, config, *report) error{
		"proxy":    benchProxy,
		"deploy":   benchDeploy,
		"pack":     benchPack,
		"rebuild":  benchRebuild,
		"serving":  benchServing,
		"converge": benchConverge,
		"scale":    benchScale,
		"lookup":   benchLookup,
		"git":      benchGit,
	}
	failed := false
	for _, name := range selected {
		progress("=== %s", name)
		t0 := time.Now()
		load0 := loadavg()
		if err := runOne(ctx, benches[name], e, cfg, rep); err != nil {
			failed = true
			rep.warn("benchmark %s failed: %v", name, err)
			rep.add(name, "FAILED: "+firstLine(err.Error()), "", "", "")
		}
		progress("=== %s took %s", name, time.Since(t0).Round(time.Second))
		rep.conditions = append(rep.conditions, []string{name, t0.UTC().Format("15:04:05"), time.Since(t0).Round(time.Second).String(), load0, loadavg()})
	}
	m.loadavg1 = loadavg()
	generated := rep.render(m, command, started, time.Since(started))
	fmt.Println(generated)
	if out == "" && full {
		out = filepath.Join(e.root, "BENCHMARKS.md")
	}
	if out != "" {
		if err := writeBenchmarksMD(out, generated); err != nil {
			fmt.Fprintln(os.Stderr, "bench:", err)
			return 1
		}
		progress("wrote %s", out)
	}
	if failed {
		return 1
	}
	return 0
}

// runOne runs a benchmark, turning a panic into an error so the cleanups
// still run and the other benchmarks still report.
func runOne(ctx context.Context, fn func(context.Context, *env, config, *report) error, e *env, cfg config, rep *report) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("panic: %v", p)
		}
	}()
	return fn(ctx, e, cfg, rep)
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(s, "\n")
	return s
}
