package main

import (
	"context"
	"fmt"
	"net/http"
	"net/netip"
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
	if err := b.writeCaddyfile(sites.String()); err != nil {
		return err
	}
	if _, err := e.start(b); err != nil {
		return err
	}
	defer b.stop()

	for i, a := range apps {
		targets := []target{
			{name: "Berth route", url: fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort), host: a.Name + "." + benchDomain, want: want(a)},
			{name: "Caddy static reverse_proxy", url: fmt.Sprintf("http://127.0.0.1:%d/", b.static), host: a.Name + ".static.test", want: want(a)},
			direct(i),
		}
		targets[2].name = "direct to container"
		for _, t := range targets {
			if err := waitFor(c, t, 20*time.Second); err != nil {
				return err
			}
		}
		dur, runs, label := cfg.proxyDur, cfg.proxyRuns, "Go app, keep-alive"
		if a.Image == httpdImage {
			dur, runs, label = cfg.bbDur, cfg.bbRuns, "busybox httpd, conn per request"
		}
		progress("proxy (%s): %d interleaved rounds of %s per target, %d connections", label, runs, dur, cfg.conc)
		for _, t := range targets { // warm-up, not counted
			runLoad(t, cfg.conc, dur/5, cfg.maxReq/5)
		}
		stats := make([]loadStats, len(targets))
		for r := 0; r < runs; r++ {
			for j, t := range targets {
				res := runLoad(t, cfg.conc, dur, cfg.maxReq)
				stats[j].add(res)
				progress("  round %d %-28s %8.0f req/s  p50 %s  p99 %s  errors %d", r+1, t.name, res.rps(), ms(pct(res.lat, 50)), ms(pct(res.lat, 99)), res.errs)
			}
		}
		bench := "proxy (" + label + ")"
		berth, static, dir := stats[0], stats[1], stats[2]
		rep.add(bench, "req/s: Berth route vs Caddy static reverse_proxy", f0(berth.rps()), f0(static.rps()), ratio(berth.rps(), static.rps()))
		rep.add(bench, "p50 latency: Berth vs static", ms(berth.p(50)), ms(static.p(50)), ratio(float64(berth.p(50)), float64(static.p(50))))
		rep.add(bench, "p99 latency: Berth vs static", ms(berth.p(99)), ms(static.p(99)), ratio(float64(berth.p(99)), float64(static.p(99))))
		rep.add(bench, "req/s: static reverse_proxy vs direct to container", f0(static.rps()), f0(dir.rps()), ratio(static.rps(), dir.rps()))
		rep.add(bench, "p50 latency: static vs direct", ms(static.p(50)), ms(dir.p(50)), ratio(float64(static.p(50)), float64(dir.p(50))))
		rep.add(bench, "p99 latency: static vs direct", ms(static.p(99)), ms(dir.p(99)), ratio(float64(static.p(99)), float64(dir.p(99))))
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
