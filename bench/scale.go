package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"
)

// startMeasure is what one start of a Berth caddy measured.
type startMeasure struct {
	apps         int
	listening    time.Duration // process start → HTTP and SSH ports accept
	firstHTTP    time.Duration // process start → first HTTP response (any status)
	berthStarted time.Duration // process start → the "berth started" log entry
	allOK        time.Duration // process start → every app host answered 200 with its body
	rssKB        int64
	hwmKB        int64
	cpuIdle      time.Duration // Caddy's CPU time over the idle window
	dockerdIdle  time.Duration // dockerd's CPU time over the same window
	window       time.Duration
}

// measureStart starts b and times it until every app answers through it,
// then reads its memory and, over an idle window, its CPU use and
// dockerd's.
func (e *env) measureStart(b *caddyProc, apps []appSpec, window time.Duration) (startMeasure, error) {
	m := startMeasure{apps: len(apps), window: window}
	var err error
	if m.listening, err = e.start(b); err != nil {
		return m, err
	}
	c := newClient(16, 10*time.Second)
	defer c.CloseIdleConnections()
	base := fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort)
	for deadline := time.Now().Add(time.Minute); ; {
		resp, err := c.Get(base) // no app answers on 127.0.0.1: a 404 from Berth
		if err == nil {
			resp.Body.Close()
			m.firstHTTP = time.Since(b.started)
			break
		}
		if time.Now().After(deadline) {
			return m, fmt.Errorf("no HTTP response from %s: %v", b.name, err)
		}
		time.Sleep(time.Millisecond)
	}
	if len(apps) == 0 {
		m.allOK = m.firstHTTP
	} else {
		// 16 workers go round the apps that have not answered yet; a request
		// for an app without a ready container is held by Berth (up to its
		// try_duration), so each gets 6 s.
		queue := make(chan int, len(apps))
		for i := range apps {
			queue <- i
		}
		var (
			mu   sync.Mutex
			last time.Time
			done int
			wg   sync.WaitGroup
		)
		deadline := time.Now().Add(3 * time.Minute)
		hc := newClient(16, 6*time.Second)
		for w := 0; w < 16; w++ {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for time.Now().Before(deadline) {
					var i int
					select {
					case i = <-queue:
					default:
						return
					}
					t := target{url: base, host: apps[i].Name + "." + benchDomain, want: apps[i].Name}
					if get(hc, t) == nil {
						at := time.Now()
						mu.Lock()
						done++
						if at.After(last) {
							last = at
						}
						mu.Unlock()
						continue
					}
					queue <- i
					time.Sleep(5 * time.Millisecond)
				}
			}()
		}
		wg.Wait()
		hc.CloseIdleConnections()
		if done < len(apps) {
			return m, fmt.Errorf("only %d of %d apps answered through %s within 3 minutes", done, len(apps), b.name)
		}
		m.allOK = last.Sub(b.started)
	}
	if t, ok := b.logTime("berth started"); ok {
		m.berthStarted = t.Sub(b.started)
	}
	time.Sleep(2 * time.Second)
	if m.rssKB, err = procStatusKB(b.pid(), "VmRSS"); err != nil {
		return m, err
	}
	m.hwmKB, _ = procStatusKB(b.pid(), "VmHWM")
	dockerd := pidOf("dockerd")
	c0, _ := cpuTime(b.pid())
	d0, _ := cpuTime(dockerd)
	time.Sleep(window)
	c1, _ := cpuTime(b.pid())
	d1, _ := cpuTime(dockerd)
	m.cpuIdle, m.dockerdIdle = c1-c0, d1-d0
	return m, nil
}

// benchScale runs cfg.scaleApps apps, each with a running container made
// directly with Docker (Berth's labels, name and settings, and a matching
// app record; not pushed), and measures Caddy's memory and Berth's
// reconcile on start against an empty start.
func benchScale(ctx context.Context, e *env, cfg config, rep *report) error {
	b0, err := e.newBerth("scale-empty")
	if err != nil {
		return err
	}
	progress("scale: empty start")
	empty, err := e.measureStart(b0, nil, cfg.idleWindow)
	b0.stop()
	if err != nil {
		return err
	}

	b, err := e.newBerth("scale")
	if err != nil {
		return err
	}
	apps := make([]appSpec, cfg.scaleApps)
	for i := range apps {
		apps[i] = appSpec{Name: fmt.Sprintf("bench-app-%04d", i), Image: httpdImage, Port: 5000}
	}
	progress("scale: creating %d app containers and records", len(apps))
	t0 := time.Now()
	ids, err := e.runApps(ctx, b.stateDir, apps)
	created := time.Since(t0)
	defer func() {
		t := time.Now()
		e.removeContainers(context.WithoutCancel(ctx), ids)
		progress("scale: removed %d containers in %s", len(ids), time.Since(t).Round(time.Second))
	}()
	if err != nil {
		return err
	}
	progress("scale: created in %s; waiting until each answers directly", created.Round(time.Second))
	err = parallel(len(ids), 16, func(i int) error {
		ip, err := e.containerIP(ctx, ids[i])
		if err != nil {
			return err
		}
		t := target{name: apps[i].Name, url: fmt.Sprintf("http://%s/", netip.AddrPortFrom(ip, 5000)), want: apps[i].Name}
		return waitFor(newClient(1, 2*time.Second), t, time.Minute)
	})
	if err != nil {
		return err
	}
	progress("scale: starting Berth with %d running apps", len(apps))
	full, err := e.measureStart(b, apps, cfg.idleWindow)
	if err != nil {
		b.stop()
		return err
	}
	// Convergence with every app running: Berth's periodic reconcile of
	// all of them runs in the goroutine that handles container events.
	w := e.watchStarts(ctx)
	defer w.cancel()
	time.Sleep(200 * time.Millisecond)
	k := len(apps) / 2
	conv := e.restarts(ctx, w, b, ids[k], apps[k], false, max(10, cfg.events/2),
		fmt.Sprintf("docker start, same address, %d running apps", len(apps)))
	// When did the slow events happen, relative to Berth's periodic
	// reconcile? Its ticker starts as Start ends, just before "berth
	// started" is logged, and fires every 15 s.
	var phases []string
	if started, ok := b.logTime("berth started"); ok {
		for i, c := range conv.conv {
			if c > time.Second {
				phase := conv.evAt[i].Sub(started) % (15 * time.Second)
				phases = append(phases, fmt.Sprintf("%s (%.1f s after a tick)", ms(c), phase.Seconds()))
			}
		}
	}
	if len(phases) == 0 {
		phases = []string{"none"}
	}
	b.stop()
	if conv.failures > 0 {
		rep.warn("scale (%s): %d events failed; first: %s", conv.label, conv.failures, conv.firstErr)
	}

	n := len(apps)
	mib := func(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
	cpuPct := func(d, w time.Duration) string { return fmt.Sprintf("%.1f%% of a core", 100*d.Seconds()/w.Seconds()) }
	rep.add("scale", fmt.Sprintf("Caddy VmRSS after start: %d running apps vs no apps", n), mib(full.rssKB), mib(empty.rssKB), ratio(float64(full.rssKB), float64(empty.rssKB)))
	rep.add("scale", fmt.Sprintf("process start → all %d hosts answer 200 vs empty start → first HTTP response", n), ms(full.allOK), ms(empty.firstHTTP), ratio(float64(full.allOK), float64(empty.firstHTTP)))
	rep.add("scale", fmt.Sprintf("process start → \"berth started\" logged: %d apps vs none", n), ms(full.berthStarted), ms(empty.berthStarted), ratio(float64(full.berthStarted), float64(empty.berthStarted)))
	rep.add("scale", fmt.Sprintf("idle Caddy CPU over %s: %d apps vs none", cfg.idleWindow, n), cpuPct(full.cpuIdle, full.window), cpuPct(empty.cpuIdle, empty.window), ratio(float64(full.cpuIdle), float64(empty.cpuIdle)))
	rep.add("scale", fmt.Sprintf("dockerd CPU in that window: %d apps vs none", n), cpuPct(full.dockerdIdle, full.window), cpuPct(empty.dockerdIdle, empty.window), ratio(float64(full.dockerdIdle), float64(empty.dockerdIdle)))
	rep.add("scale", fmt.Sprintf("start event → first 200 via Berth, p99: %d running apps vs the container's own first 200", n), ms(pct(conv.conv, 99)), ms(pct(conv.direct, 99)), ratio(float64(pct(conv.conv, 99)), float64(pct(conv.direct, 99))))
	rows := [][]string{}
	for _, m := range []startMeasure{empty, full} {
		rows = append(rows, []string{fmt.Sprint(m.apps), ms(m.listening), ms(m.firstHTTP), ms(m.berthStarted), ms(m.allOK),
			mib(m.rssKB), mib(m.hwmKB), cpuPct(m.cpuIdle, m.window), cpuPct(m.dockerdIdle, m.window)})
	}
	rep.section("Scale", fmt.Sprintf(
		"%d apps, each with one running busybox httpd container. The containers were **created directly with the Docker API** "+
			"(Berth's name `APP.web.1`, labels `berth.app`, `berth.process=web`, `berth.release=1`, `berth.port=5000`, Docker's init, network `berth`, "+
			"the same restart policy), with a matching app record in the state dir, not pushed: %d pushes would take long and measure builds. "+
			"Creating them took %s. Each answered directly before Caddy started. Times run from just before the caddy process was started; "+
			"\"all answer\" is when the last of the %d hosts first answered 200 with its own app's name (16 concurrent pollers). "+
			"Memory is read from /proc/PID/status 2 s after that; CPU from /proc/PID/stat over an idle window with no requests, which "+
			"includes at least one of Berth's periodic reconciles (every 15 s).\n\n",
		n, n, created.Round(time.Second), n)+
		table([]string{"apps", "ports accept", "first HTTP response", "\"berth started\" logged", "all answer 200", "VmRSS", "VmHWM", "idle Caddy CPU", "dockerd CPU"}, rows)+
		fmt.Sprintf("\nWith the %d apps running, %d restarts (`docker stop`, `docker start`, same address) of one of them: start event → first 200 "+
			"via Berth p50 %s, p99 %s, max %s; the container itself p50 %s, p99 %s (%d failures). "+
			"%d events took over 1 s; each with the time since the last tick of Berth's 15 s reconcile ticker when its start event came "+
			"(the ticker starts when Berth's Start ends, at \"berth started\"): %s.\n",
			n, len(conv.conv), ms(pct(conv.conv, 50)), ms(pct(conv.conv, 99)), ms(slicesMax(conv.conv)), ms(pct(conv.direct, 50)), ms(pct(conv.direct, 99)), conv.failures,
			conv.over(time.Second), strings.Join(phases, ", ")))
	return nil
}
