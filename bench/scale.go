package main

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"time"

	"github.com/moby/moby/client"
)

// reconcileEvery is platform.ReconcileInterval.
const reconcileEvery = 15 * time.Second

// staleResult is what staleRoutes saw.
type staleResult struct {
	app      string
	phase    time.Duration
	trials   int
	requests int
	intruder int
	trial    []int
	sameAddr int // trials in which an intruder got exactly the app's address
}

func (r staleResult) perTrial() string {
	var parts []string
	for _, n := range r.trial {
		parts = append(parts, fmt.Sprint(n))
	}
	return strings.Join(parts, ", ")
}

// scaleExtraContainers is how many containers scale puts on Berth's
// network beside the apps' at most: one trial's intruders (occupyServing
// makes up to 8 until one takes the address).
const scaleExtraContainers = 8

// staleRoutes stops app's container `phase` after a tick of Berth's
// reconcile ticker (which began at started), lets an intruder take its
// address, and counts the requests for the app's host that the intruder
// answers through Berth. It restores the app after each trial.
func (e *env) staleRoutes(ctx context.Context, b *caddyProc, started time.Time, id string, app appSpec, phase time.Duration, trials int) (staleResult, error) {
	res := staleResult{app: app.Name, phase: phase, trials: trials}
	// Short: a request for an app without a target is held by Berth.
	c := newClient(4, 200*time.Millisecond)
	defer c.CloseIdleConnections()
	berth := target{url: fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort), host: app.Name + "." + benchDomain, want: app.Name}
	slow := newClient(1, 10*time.Second)
	for t := 0; t < trials; t++ {
		if err := waitFor(slow, berth, time.Minute); err != nil {
			return res, err
		}
		wait := phase - time.Since(started)%reconcileEvery
		if wait < 0 {
			wait += reconcileEvery
		}
		time.Sleep(wait)
		before, err := e.containerIP(ctx, id)
		if err != nil {
			return res, err
		}
		stop := 1
		if _, err := e.dc.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &stop}); err != nil {
			return res, err
		}
		intruders, err := e.occupyServing(ctx, before, fmt.Sprintf("intruder-%d-%d", phase.Milliseconds(), t), "intruder")
		if err != nil {
			e.removeContainers(ctx, intruders)
			return res, err
		}
		if len(intruders) > 0 {
			if ip, err := e.containerIP(ctx, intruders[len(intruders)-1]); err == nil && ip == before {
				res.sameAddr++
			}
		}
		n := 0
		for end := time.Now().Add(3 * time.Second); time.Now().Before(end); time.Sleep(10 * time.Millisecond) {
			res.requests++
			if err := get(c, target{url: berth.url, host: berth.host, want: "intruder"}); err == nil {
				n++
			}
		}
		res.trial = append(res.trial, n)
		res.intruder += n
		e.removeContainers(ctx, intruders)
		if _, err := e.dc.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
			return res, err
		}
	}
	if err := waitFor(slow, berth, time.Minute); err != nil {
		return res, err
	}
	progress("  stale routes, stopped %s after a tick: %d of %d requests answered by the intruder", ms(phase), res.intruder, res.requests)
	return res, nil
}

// startMeasure is what one start of a Berth caddy measured.
type startMeasure struct {
	apps         int
	listening    time.Duration // process start → HTTP and SSH ports accept
	firstHTTP    time.Duration // process start → first HTTP response (any status)
	berthStarted time.Duration // process start → the "berth started" log entry
	allOK        time.Duration // process start → every app host answered 200 with its body
	// failedTries counts the requests of that poll that did not get the
	// app's 200 (each tried again); slowest is its longest request that
	// did. None failed and a short slowest: every host was routed at its
	// first request, and allOK is how fast 16 pollers go round them.
	failedTries int
	slowest     time.Duration
	rssKB       int64
	hwmKB       int64
	cpuIdle     time.Duration // Caddy's CPU time over the idle window
	dockerdIdle time.Duration // dockerd's CPU time over the same window
	window      time.Duration
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
			m.firstHTTP = time.Since(b.Started())
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
					sent := time.Now()
					if get(hc, t) == nil {
						at := time.Now()
						mu.Lock()
						done++
						if at.After(last) {
							last = at
						}
						m.slowest = max(m.slowest, at.Sub(sent))
						mu.Unlock()
						continue
					}
					mu.Lock()
					m.failedTries++
					mu.Unlock()
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
		m.allOK = last.Sub(b.Started())
	}
	if t, ok := b.logTime("berth started"); ok {
		m.berthStarted = t.Sub(b.Started())
	}
	time.Sleep(2 * time.Second)
	if m.rssKB, err = procStatusKB(b.Pid(), "VmRSS"); err != nil {
		return m, err
	}
	m.hwmKB, _ = procStatusKB(b.Pid(), "VmHWM")
	dockerd := pidOf("dockerd")
	c0, _ := cpuTime(b.Pid())
	d0, _ := cpuTime(dockerd)
	time.Sleep(window)
	c1, _ := cpuTime(b.Pid())
	d1, _ := cpuTime(dockerd)
	m.cpuIdle, m.dockerdIdle = c1-c0, d1-d0
	return m, nil
}

// benchScale runs cfg.scaleApps apps, each with a running container made
// directly with Docker (Berth's labels, name and settings, and a matching
// app record; not pushed), and measures Caddy's memory and Berth's
// reconcile on start against an empty start.
func benchScale(ctx context.Context, e *env, cfg config, rep *report) error {
	b0, err := e.newBerth("scale-empty", noDriftCheck)
	if err != nil {
		return err
	}
	progress("scale: empty start")
	empty, err := e.measureStart(b0, nil, cfg.idleWindow)
	b0.stop()
	if err != nil {
		return err
	}

	b, err := e.newBerth("scale", noDriftCheck)
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
	conv := e.restarts(ctx, w, b, ids[k], apps[k], false, cfg.scaleEvents,
		fmt.Sprintf("docker start, same address, %d running apps", len(apps)))
	conv.warn(rep)
	// When did the slow events happen, relative to Berth's periodic
	// reconcile? Its ticker starts as Start ends, just before "berth
	// started" is logged, and fires every 15 s.
	var phases []string
	started, ok := b.logTime("berth started")
	if ok {
		for i, c := range conv.conv {
			if c > time.Second {
				phase := conv.evAt[i].Sub(started) % reconcileEvery
				phases = append(phases, fmt.Sprintf("%s (%.1f s after a tick)", ms(c), phase.Seconds()))
			}
		}
	}
	if len(phases) == 0 {
		phases = []string{"none"}
	}
	// Stale routes: the last app (the one a reconcile reaches last) is
	// stopped, and a container that is not one of this Berth's apps takes
	// its address at once; is it then sent that app's requests?
	var stale []staleResult
	if ok {
		last := len(apps) - 1
		for _, phase := range []time.Duration{300 * time.Millisecond, 8 * time.Second} {
			r, err := e.staleRoutes(ctx, b, started, ids[last], apps[last], phase, cfg.staleTrials)
			if err != nil {
				b.stop()
				return err
			}
			stale = append(stale, r)
		}
	}
	b.stop()

	n := len(apps)
	cpuPct := func(d, w time.Duration) string { return fmt.Sprintf("%.1f%% of a core", 100*d.Seconds()/w.Seconds()) }
	rep.add("scale", fmt.Sprintf("Caddy VmRSS after start: %d running apps vs no apps", n), mib(full.rssKB), mib(empty.rssKB), ratio(float64(full.rssKB), float64(empty.rssKB)))
	rep.add("scale", fmt.Sprintf("process start → all %d hosts answer 200 vs empty start → first HTTP response", n), ms(full.allOK), ms(empty.firstHTTP), ratio(float64(full.allOK), float64(empty.firstHTTP)))
	rep.add("scale", fmt.Sprintf("process start → \"berth started\" logged: %d apps vs none", n), ms(full.berthStarted), ms(empty.berthStarted), ratio(float64(full.berthStarted), float64(empty.berthStarted)))
	rep.add("scale", fmt.Sprintf("idle Caddy CPU over %s: %d apps vs none", cfg.idleWindow, n), cpuPct(full.cpuIdle, full.window), cpuPct(empty.cpuIdle, empty.window), ratio(float64(full.cpuIdle), float64(empty.cpuIdle)))
	rep.add("scale", fmt.Sprintf("dockerd CPU in that window: %d apps vs none", n), cpuPct(full.dockerdIdle, full.window), cpuPct(empty.dockerdIdle, empty.window), ratio(float64(full.dockerdIdle), float64(empty.dockerdIdle)))
	rep.add("scale", fmt.Sprintf("start event → first 200 via Berth, p99: %d running apps vs the container's own first 200", n), ms(pct(conv.conv, 99)), ms(pct(conv.direct, 99)), ratio(float64(pct(conv.conv, 99)), float64(pct(conv.direct, 99))))
	var staleRows [][]string
	for _, r := range stale {
		rep.add("scale", fmt.Sprintf("requests for a stopped app answered by the container that took its address, %s after a reconcile tick", ms(r.phase)),
			fmt.Sprintf("%d of %d", r.intruder, r.requests), "0 expected", "")
		if r.intruder > 0 {
			rep.warn("scale: %d of %d requests for %s were answered by another container that took its address (stopped %s after a reconcile tick)", r.intruder, r.requests, r.app, ms(r.phase))
		}
		staleRows = append(staleRows, []string{ms(r.phase), fmt.Sprint(r.trials), fmt.Sprint(r.requests), fmt.Sprint(r.intruder), r.perTrial(), fmt.Sprint(r.sameAddr)})
	}
	rows := [][]string{}
	for _, m := range []startMeasure{empty, full} {
		rows = append(rows, []string{fmt.Sprint(m.apps), ms(m.listening), ms(m.firstHTTP), ms(m.berthStarted), ms(m.allOK), fmt.Sprint(m.failedTries), ms(m.slowest),
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
		table([]string{"apps", "ports accept", "first HTTP response", "\"berth started\" logged", "all answer 200", "requests that failed (tried again)", "slowest request", "VmRSS", "VmHWM", "idle Caddy CPU", "dockerd CPU"}, rows)+
		fmt.Sprintf("\nWith the %d apps running, restarts (`docker stop`, `docker start`) of one of them, timed as in the convergence benchmark:\n\n", n)+
		table(convHeader, [][]string{convRow(conv)})+
		fmt.Sprintf("\nThe events that took over 1 s, each with the time since the last tick of Berth's 15 s reconcile ticker when its start event came "+
			"(the ticker starts when Berth's Start ends, at \"berth started\"): %s.\n", strings.Join(phases, ", "))+
		fmt.Sprintf("\nStale routes: the last of the %d apps is stopped (`docker stop -t 1`) at a given time after a reconcile tick, and at once a busybox httpd "+
			"that is not an app of this Berth (body \"intruder\", port 5000) takes its address (Docker hands out the lowest free address, so this is "+
			"what the next container started on the network gets). Then the app's host is requested through Berth for 3 s, one request at a time, "+
			"10 ms apart, each given 200 ms (Berth holds a request for an app with no ready container). "+
			"Any \"intruder\" answer is a request for one app delivered to another container.\n\n", n)+
		table([]string{"stopped after a tick", "trials", "requests", "answered by the intruder", "per trial", "intruder got the app's address"}, staleRows))
	return nil
}

// mib formats a size in KiB (as /proc reports it) as MiB.
func mib(kb int64) string { return fmt.Sprintf("%.1f MiB", float64(kb)/1024) }
