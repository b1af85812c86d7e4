package main

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"time"
)

// benchProxy measures what a Berth route costs per request. One caddy
// serves the berth site and, on another port, a static reverse_proxy site
// to the same container; the same load generator (cfg.conc keep-alive
// connections, fixed duration, bounded count) drives the three targets in
// turns: Berth, static, direct, Berth, static, direct, ...
//
// Two backends: the Go stream app (keep-alive, so the proxies' own cost
// shows) and busybox httpd (the test apps' server, which closes every
// connection, so each proxied request also dials the container).
func benchProxy(ctx context.Context, e *env, cfg config, rep *report) error {
	b, err := e.newBerth("proxy")
	if err != nil {
		return err
	}
	apps := []appSpec{
		{Name: "bench-stream", Image: streamImage, Port: 5000},
		{Name: "bench-httpd", Image: httpdImage, Port: 5000},
	}
	ids, err := e.runApps(ctx, b.stateDir, apps)
	defer e.removeContainers(context.WithoutCancel(ctx), ids)
	if err != nil {
		return err
	}
	ips := make([]netip.Addr, len(ids))
	for i, id := range ids {
		if ips[i], err = e.containerIP(ctx, id); err != nil {
			return err
		}
	}
	direct := func(i int) target {
		return target{name: "direct", url: fmt.Sprintf("http://%s/", netip.AddrPortFrom(ips[i], uint16(apps[i].Port))), want: want(apps[i])}
	}
	c := newClient(1, 2*time.Second)
	for i := range apps {
		if err := waitFor(c, direct(i), 20*time.Second); err != nil {
			return err
		}
	}
	var sites strings.Builder
	for i, a := range apps {
		fmt.Fprintf(&sites, "http://%s.static.test:%%[1]d {\n\tbind 127.0.0.1\n\treverse_proxy %s\n}\n",
			a.Name, netip.AddrPortFrom(ips[i], uint16(a.Port)))
	}
	// The same berth handler without its per-app metrics (issue 15), as
	// the static port's catch-all: an app's own host sent there reaches
	// it, which prices the metrics in the same process.
	sites.WriteString("http://:%[1]d {\n\tbind 127.0.0.1\n\tberth {\n\t\tmetrics off\n\t}\n}\n")
	// And once more on its own port through Caddy's reverse_proxy handler
	// (`proxy caddy`, Berth's path before issue 16), to compare the two
	// proxy paths in one run.
	var caddyPathPort int
	if err := e.ports.Take(&caddyPathPort); err != nil {
		return err
	}
	fmt.Fprintf(&sites, "http://:%d {\n\tbind 127.0.0.1\n\tberth {\n\t\tmetrics off\n\t\tproxy caddy\n\t}\n}\n", caddyPathPort)
	if err := b.writeCaddyfile(sites.String()); err != nil {
		return err
	}
	if _, err := e.start(b); err != nil {
		return err
	}
	defer b.stop()

	// The non-Caddy peers (issue 16) stand in front of the Go app only:
	// busybox httpd closes every connection, which measures dialing.
	streamUp := netip.AddrPortFrom(ips[0], uint16(apps[0].Port)).String()
	nginxPort, err := e.startNginx(streamUp)
	if err != nil {
		return err
	}
	goPort, err := e.startGoProxy(streamUp, "")
	if err != nil {
		return err
	}
	leanPort, err := e.startGoProxy(streamUp, "appproxy")
	if err != nil {
		return err
	}
	leanGoPort, err := e.startGoProxy(streamUp, "appproxy-gotransport")
	if err != nil {
		return err
	}

	type proxyCase struct {
		app   int
		path  string
		label string
		dur   time.Duration
		runs  int
	}
	cases := []proxyCase{
		{0, "/", "Go app, keep-alive", cfg.proxyDur, cfg.proxyRuns},
		{0, "/64k", "Go app, keep-alive, 64 KiB", cfg.proxyDur, cfg.proxyRuns},
		{1, "/", "busybox httpd, conn per request", cfg.bbDur, cfg.bbRuns},
	}
	for _, pc := range cases {
		i, a := pc.app, apps[pc.app]
		targets := []target{
			{name: "Berth route", url: fmt.Sprintf("http://127.0.0.1:%d%s", b.httpPort, pc.path), host: a.Name + "." + benchDomain, want: want(a)},
			{name: "Caddy static reverse_proxy", url: fmt.Sprintf("http://127.0.0.1:%d%s", b.static, pc.path), host: a.Name + ".static.test", want: want(a)},
			{name: "Berth route, metrics off", url: fmt.Sprintf("http://127.0.0.1:%d%s", b.static, pc.path), host: a.Name + "." + benchDomain, want: want(a)},
			{name: "Berth, metrics off, Caddy's proxy", url: fmt.Sprintf("http://127.0.0.1:%d%s", caddyPathPort, pc.path), host: a.Name + "." + benchDomain, want: want(a)},
		}
		peers := a.Image == streamImage
		if peers {
			targets = append(targets,
				target{name: "nginx (2 workers, keepalive upstream)", url: fmt.Sprintf("http://127.0.0.1:%d%s", nginxPort, pc.path), host: a.Name + ".nginx.test", want: want(a)},
				target{name: "Go httputil.ReverseProxy", url: fmt.Sprintf("http://127.0.0.1:%d%s", goPort, pc.path), host: a.Name + ".go.test", want: want(a)},
				target{name: "appproxy in net/http, no Caddy", url: fmt.Sprintf("http://127.0.0.1:%d%s", leanPort, pc.path), host: a.Name + ".lean.test", want: want(a)},
				target{name: "the same with Go's http.Transport", url: fmt.Sprintf("http://127.0.0.1:%d%s", leanGoPort, pc.path), host: a.Name + ".lean.test", want: want(a)},
			)
		}
		d := direct(i)
		d.name, d.url = "direct to container", strings.TrimSuffix(d.url, "/")+pc.path
		targets = append(targets, d)
		for _, t := range targets {
			if err := waitFor(c, t, 20*time.Second); err != nil {
				return err
			}
		}
		dur, runs, label := pc.dur, pc.runs, pc.label
		progress("proxy (%s): %d interleaved rounds of %s per target, %d connections", label, runs, dur, cfg.conc)
		for _, t := range targets { // warm-up, not counted
			runLoad(t, cfg.conc, dur/5, cfg.maxReq/5)
		}
		stats := make([]loadStats, len(targets))
		for r := 0; r < runs; r++ {
			for j, t := range targets {
				res := runLoad(t, cfg.conc, dur, cfg.maxReq)
				stats[j].add(res)
				progress("  round %d %-38s %8.0f req/s  p50 %s  p99 %s  errors %d", r+1, t.name, res.rps(), ms(pct(res.lat, 50)), ms(pct(res.lat, 99)), res.errs)
			}
		}
		if cfg.pprofDir != "" && pc.app == 0 {
			if err := profileBerth(b, targets[0], cfg, pc.path); err != nil {
				rep.warn("proxy (%s): profile: %v", label, err)
			}
		}
		bench := "proxy (" + label + ")"
		berth, static, noMetrics, viaCaddy, dir := stats[0], stats[1], stats[2], stats[3], stats[len(stats)-1]
		rep.add(bench, "req/s: Berth's proxy vs Caddy's reverse_proxy handler (both metrics off)", f0(noMetrics.rps()), f0(viaCaddy.rps()), ratio(noMetrics.rps(), viaCaddy.rps()))
		rep.add(bench, "p99 latency: Berth's proxy vs Caddy's handler", ms(noMetrics.p(99)), ms(viaCaddy.p(99)), ratio(float64(noMetrics.p(99)), float64(viaCaddy.p(99))))
		rep.add(bench, "req/s: Berth route vs the same without metrics", f0(berth.rps()), f0(noMetrics.rps()), ratio(berth.rps(), noMetrics.rps()))
		rep.add(bench, "p99 latency: Berth vs the same without metrics", ms(berth.p(99)), ms(noMetrics.p(99)), ratio(float64(berth.p(99)), float64(noMetrics.p(99))))
		if peers {
			ngx, gop, lean, leanGo := stats[4], stats[5], stats[6], stats[7]
			rep.add(bench, "req/s: appproxy's client vs Go's http.Transport (both without Caddy)", f0(lean.rps()), f0(leanGo.rps()), ratio(lean.rps(), leanGo.rps()))
			rep.add(bench, "req/s: Berth route (metrics off) vs Berth's proxy without Caddy's server", f0(noMetrics.rps()), f0(lean.rps()), ratio(noMetrics.rps(), lean.rps()))
			rep.add(bench, "req/s: Berth's proxy without Caddy vs nginx", f0(lean.rps()), f0(ngx.rps()), ratio(lean.rps(), ngx.rps()))
			rep.add(bench, "req/s: Berth route vs nginx", f0(berth.rps()), f0(ngx.rps()), ratio(berth.rps(), ngx.rps()))
			rep.add(bench, "p99 latency: Berth vs nginx", ms(berth.p(99)), ms(ngx.p(99)), ratio(float64(berth.p(99)), float64(ngx.p(99))))
			rep.add(bench, "req/s: Caddy static reverse_proxy vs nginx", f0(static.rps()), f0(ngx.rps()), ratio(static.rps(), ngx.rps()))
			rep.add(bench, "req/s: Berth through Caddy's handler (metrics off) vs nginx", f0(viaCaddy.rps()), f0(ngx.rps()), ratio(viaCaddy.rps(), ngx.rps()))
			rep.add(bench, "req/s: Go httputil.ReverseProxy vs nginx", f0(gop.rps()), f0(ngx.rps()), ratio(gop.rps(), ngx.rps()))
			rep.add(bench, "req/s: Berth route vs Go httputil.ReverseProxy", f0(berth.rps()), f0(gop.rps()), ratio(berth.rps(), gop.rps()))
			rep.add(bench, "req/s: direct to container vs nginx", f0(dir.rps()), f0(ngx.rps()), ratio(dir.rps(), ngx.rps()))
		}
		rep.add(bench, "req/s: Berth route vs Caddy static reverse_proxy", f0(berth.rps()), f0(static.rps()), ratio(berth.rps(), static.rps()))
		rep.add(bench, "p50 latency: Berth vs static", ms(berth.p(50)), ms(static.p(50)), ratio(float64(berth.p(50)), float64(static.p(50))))
		rep.add(bench, "p99 latency: Berth vs static", ms(berth.p(99)), ms(static.p(99)), ratio(float64(berth.p(99)), float64(static.p(99))))
		rep.add(bench, "req/s: static reverse_proxy vs direct to container", f0(static.rps()), f0(dir.rps()), ratio(static.rps(), dir.rps()))
		var rows [][]string
		for j, t := range targets {
			s := stats[j]
			rows = append(rows, []string{t.name, f0(s.rps()), ms(s.p(50)), ms(s.p(99)), fmt.Sprint(s.ok), fmt.Sprint(s.errs), s.rounds()})
			if s.errs > 0 {
				rep.warn("proxy (%s), %s: %d of %d requests failed; first: %s", label, t.name, s.errs, s.ok+s.errs, s.firstErr)
			}
		}
		rep.section(fmt.Sprintf("Proxy overhead: %s", label), fmt.Sprintf(
			"%d connections, keep-alive from the load generator, %d interleaved rounds of %s per target (after a warm-up run each), same process; "+
				"the Berth route and the static site are served by the same caddy process.\n\n", cfg.conc, runs, dur)+
			table([]string{"target", "req/s", "p50", "p99", "requests", "errors", "req/s per round"}, rows))
	}
	return nil
}

func want(a appSpec) string {
	if a.Image == streamImage {
		return "streamapp"
	}
	return a.Name
}

// waitFor polls t until it answers 200 with the wanted body.
func waitFor(c *http.Client, t target, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for {
		err := get(c, t)
		if err == nil {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s (%s %s) did not answer within %s: %v", t.name, t.url, t.host, limit, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// loadStats adds up the rounds of one target.
type loadStats struct {
	ok, errs int
	elapsed  time.Duration
	lat      []time.Duration
	perRound []float64
	firstErr string
}

func (s *loadStats) add(r loadResult) {
	s.ok += r.ok
	s.errs += r.errs
	s.elapsed += r.elapsed
	s.lat = append(s.lat, r.lat...)
	s.perRound = append(s.perRound, r.rps())
	if s.firstErr == "" {
		s.firstErr = r.firstErr
	}
}

func (s *loadStats) rps() float64 {
	if s.elapsed == 0 {
		return 0
	}
	return float64(s.ok) / s.elapsed.Seconds()
}

func (s *loadStats) p(q float64) time.Duration { return pct(s.lat, q) }

func (s *loadStats) rounds() string {
	var parts []string
	for _, r := range s.perRound {
		parts = append(parts, f0(r))
	}
	return strings.Join(parts, ", ")
}

func (r loadResult) rps() float64 {
	if r.elapsed == 0 {
		return 0
	}
	return float64(r.ok) / r.elapsed.Seconds()
}

func f0(v float64) string { return fmt.Sprintf("%.0f", v) }

// profileBerth takes a CPU profile of the Berth caddy from its admin
// endpoint (/debug/pprof) while t is under load, then its allocation
// profile, into cfg.pprofDir (read them with go tool pprof -top).
func profileBerth(b *caddyProc, t target, cfg config, path string) error {
	if err := os.MkdirAll(cfg.pprofDir, 0o755); err != nil {
		return err
	}
	name := "small"
	if path != "/" {
		name = strings.Trim(path, "/")
	}
	secs := max(1, int(cfg.proxyDur/time.Second))
	fetch := func(q, file string, timeout time.Duration) error {
		c := &http.Client{Timeout: timeout}
		resp, err := c.Get(fmt.Sprintf("http://127.0.0.1:%d/debug/pprof/%s", b.adminPort, q))
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("%s: status %d", q, resp.StatusCode)
		}
		f, err := os.Create(filepath.Join(cfg.pprofDir, file))
		if err != nil {
			return err
		}
		defer f.Close()
		_, err = io.Copy(f, resp.Body)
		return err
	}
	// The allocation profile counts from the process's start, every
	// target's rounds included: one taken before this load is the base
	// (go tool pprof -diff_base BEFORE AFTER) that leaves the Berth
	// route's alone.
	if err := fetch("allocs", "berth-allocs-"+name+"-before.pprof", 30*time.Second); err != nil {
		return err
	}
	done := make(chan loadResult, 1)
	go func() { done <- runLoad(t, cfg.conc, time.Duration(secs+1)*time.Second, cfg.maxReq*4) }()
	time.Sleep(500 * time.Millisecond)
	err := fetch(fmt.Sprintf("profile?seconds=%d", secs), "berth-cpu-"+name+".pprof", time.Duration(secs+30)*time.Second)
	res := <-done
	progress("  profiled Berth route (%s) for %ds under load: %.0f req/s", name, secs, res.rps())
	if err != nil {
		return err
	}
	return fetch("allocs", "berth-allocs-"+name+".pprof", 30*time.Second)
}
