package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/moby/moby/client"
)

// startWatcher receives the `start` events of the benchmark's containers
// from the Docker engine, with the engine's own timestamps.
type startWatcher struct {
	ch     chan startEvent
	cancel context.CancelFunc
}

type startEvent struct {
	id string
	at time.Time
}

func (e *env) watchStarts(ctx context.Context) *startWatcher {
	ctx, cancel := context.WithCancel(ctx)
	res := e.dc.Events(ctx, client.EventsListOptions{Filters: make(client.Filters).
		Add("type", "container").Add("event", "start").Add("label", labelBench)})
	w := &startWatcher{ch: make(chan startEvent, 1024), cancel: cancel}
	go func() {
		for {
			select {
			case m := <-res.Messages:
				select {
				case w.ch <- startEvent{id: m.Actor.ID, at: time.Unix(0, m.TimeNano)}:
				default:
				}
			case <-res.Err:
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return w
}

func (w *startWatcher) drain() {
	for {
		select {
		case <-w.ch:
		default:
			return
		}
	}
}

func (w *startWatcher) wait(id string, limit time.Duration) (time.Time, error) {
	timeout := time.After(limit)
	for {
		select {
		case ev := <-w.ch:
			if ev.id == id {
				return ev.at, nil
			}
		case <-timeout:
			return time.Time{}, fmt.Errorf("no start event for %.12s within %s", id, limit)
		}
	}
}

// pollLimit is how long a convergence poller waits for the app.
const pollLimit = 15 * time.Second

// convResult is what a series of restarts of one app container measured.
type convResult struct {
	label  string
	conv   []time.Duration // start event → first 200 through Berth
	evAt   []time.Time     // when each start event happened
	direct []time.Duration // start event → first 200 from the container itself
	apiRet []time.Duration // start event → docker's start call returned
	newIP  int
	// timeouts are events Berth did not route within pollLimit (counted
	// as pollLimit); early are events whose first 200 came before the
	// start event (the route had not changed; counted as 0).
	timeouts, early int
	// wrong counts 200 answers for the app's host from another container,
	// in wrongEvents events; wrongSample is one of their bodies.
	wrong, wrongEvents int
	wrongSample        string
	failures           int
	firstErr           string
	took               time.Duration
	// overflowEvents are the events in which the app's kernel dropped
	// connections from a full accept queue (overflows of them in all).
	overflowEvents, overflows int64
}

// berthPollInFlight bounds the requests a convergence event's poll has
// in flight through Berth. Each is a new connection from Berth to the
// app (busybox httpd closes every connection after its answer), and one
// given up at 50 ms leaves its connection in the app's accept queue until
// busybox accepts it. With 64 in flight, a request every millisecond, the
// 9-deep queue of busybox (its httpd listens with a backlog of 9) filled
// whenever it accepted slower than that, and new connections then waited
// for Linux's SYN retry: the 300-700 ms "slow events" of the runs before
// 2026-12-02 18:00, traced to it (BENCHMARKS.md). 4 keeps the flood below
// the backlog; the price is a coarser poll while Berth holds requests
// for a route not yet written (a fresh request every ~12 ms then, not
// every 1 ms).
const berthPollInFlight = 4

// restarts restarts app's container n times and times each start event
// to the first request Berth proxies to it. With newIP, a filler
// container takes the stopped container's address first (the e2e suite's
// restart-new-ip), so Berth must learn a new target.
func (e *env) restarts(ctx context.Context, w *startWatcher, b *caddyProc, id string, app appSpec, newIP bool, n int, label string) convResult {
	res := convResult{label: label}
	berth := target{url: fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort), host: app.Name + "." + benchDomain, want: app.Name}
	probe := newClient(4, time.Second)
	pollC := newClient(64, 5*time.Second)
	defer pollC.CloseIdleConnections()
	fail := func(err error) {
		res.failures++
		if res.firstErr == "" {
			res.firstErr = err.Error()
		}
		progress("  %s: %v", label, err)
	}
	// Fillers stay until the series ends: removing them would leave holes
	// below the app's address, which the next fillers would have to fill.
	var fillers []string
	defer func() { e.removeContainers(context.WithoutCancel(ctx), fillers) }()
	began := time.Now()
	for i := 0; i <= n; i++ { // event 0 is a warm-up, not counted
		before, err := e.containerIP(ctx, id)
		if err != nil {
			fail(err)
			continue
		}
		stop := 1
		if _, err := e.dc.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &stop}); err != nil {
			fail(err)
			continue
		}
		// Wait until Berth has dropped the stopped target (requests are held
		// or fail) so that every start is a real change of route.
		for j := 0; j < 200 && answers(probe, berth, 30*time.Millisecond); j++ {
			time.Sleep(10 * time.Millisecond)
		}
		if newIP {
			more, err := e.occupy(ctx, before, strconv.Itoa(i))
			fillers = append(fillers, more...)
			if err != nil {
				fail(err)
				continue
			}
		}
		w.drain()
		pollCtx, cancel := context.WithCancel(ctx)
		poll := func(t target, inFlight int32, ch chan<- polled) {
			ch <- pollFirstOK(pollCtx, pollC, t, time.Millisecond, 50*time.Millisecond, inFlight, time.Now().Add(pollLimit))
		}
		berthCh, directCh := make(chan polled, 1), make(chan polled, 1)
		// Through Berth, at most berthPollInFlight at a time: each one
		// is a new connection to the app (see berthPollInFlight).
		go poll(berth, berthPollInFlight, berthCh)
		_, err = e.dc.ContainerStart(ctx, id, client.ContainerStartOptions{})
		returned := time.Now()
		if err == nil {
			// The container itself is polled at its address once the start
			// has returned and the address is known (a poller that sends to
			// a stopped container's address fills the host's neighbour table
			// with failed entries, which then slows every dial to it).
			ip, ierr := e.containerIP(ctx, id)
			if ierr != nil {
				err = ierr
			} else {
				if ip != before {
					res.newIP++
				}
				go poll(target{url: fmt.Sprintf("http://%s/", netip.AddrPortFrom(ip, uint16(app.Port))), want: app.Name}, 64, directCh)
			}
		}
		var evAt time.Time
		if err == nil {
			evAt, err = w.wait(id, 10*time.Second)
		}
		var viaBerth, direct polled
		if err == nil {
			viaBerth, direct = <-berthCh, <-directCh
			err = direct.err
		}
		cancel()
		if err != nil {
			fail(err)
			// Make sure the app runs again before the next event.
			e.dc.ContainerStart(ctx, id, client.ContainerStartOptions{})
			waitFor(probe, berth, time.Minute)
			continue
		}
		if i == 0 {
			if newIP {
				res.newIP = 0
			}
			if viaBerth.err != nil {
				waitFor(probe, berth, time.Minute)
			}
			continue
		}
		res.wrong += viaBerth.wrong
		if viaBerth.wrong > 0 {
			res.wrongEvents++
			res.wrongSample = viaBerth.sample
			progress("  %s: event %d: %d answers for %s came from another container: %q", label, i, viaBerth.wrong, berth.host, viaBerth.sample)
		}
		conv := viaBerth.at.Sub(evAt)
		if viaBerth.err != nil {
			// Not routed within the poll limit: counted as the limit, so the
			// percentiles are lower bounds.
			res.timeouts++
			conv = pollLimit
			progress("  %s: event %d: %v", label, i, viaBerth.err)
			if err := waitFor(probe, berth, time.Minute); err != nil {
				fail(err)
			}
		} else if conv < 0 {
			// Berth's route never changed (it had not processed the stop), so
			// the app answered as soon as it listened again.
			res.early++
			conv = 0
		}
		// The app's accept queue overflowed: the pollers' connections
		// came faster than it accepted them, and the dropped ones wait
		// for their SYN to be sent again.
		overflows, oerr := e.listenOverflows(ctx, id)
		if oerr == nil && overflows > 0 {
			res.overflowEvents++
			res.overflows += overflows
		}
		if b.traceSlow > 0 && conv >= b.traceSlow {
			b.printTrace(fmt.Sprintf("%s: event %d took %s (the container itself %s; the app's listen overflows %d %v)", label, i, ms(conv), ms(direct.at.Sub(evAt)), overflows, oerr), evAt, evAt.Add(conv))
			printTries("Berth poller", viaBerth.tries, evAt)
			printTries("direct poller", direct.tries, evAt)
		}
		res.conv = append(res.conv, conv)
		res.evAt = append(res.evAt, evAt)
		res.direct = append(res.direct, direct.at.Sub(evAt))
		res.apiRet = append(res.apiRet, returned.Sub(evAt))
	}
	res.took = time.Since(began)
	progress("  %s: %d events in %s: Berth p50 %s p99 %s; container itself p50 %s p99 %s; not routed in %s: %d; answered by another container: %d; failures %d; events with listen overflows %d (%d in all)",
		label, len(res.conv), res.took.Round(time.Second), ms(pct(res.conv, 50)), ms(pct(res.conv, 99)),
		ms(pct(res.direct, 50)), ms(pct(res.direct, 99)), pollLimit, res.timeouts, res.wrong, res.failures, res.overflowEvents, res.overflows)
	return res
}

// benchConverge measures how fast a Berth route follows a container that
// starts, with 0 and with cfg.regApps other apps registered, and compares
// it with what a full Caddy config reload costs for the same change (how
// caddy-docker-proxy follows containers). It also checks whether
// long-lived streams survive each kind of change.
func benchConverge(ctx context.Context, e *env, cfg config, rep *report) error {
	var global []string
	if cfg.traceSlow > 0 {
		global = []string{"debug"} // the log lines printTrace shows
	}
	b, err := e.newBerthWithGlobal("converge", global, noDriftCheck)
	if err != nil {
		return err
	}
	b.traceSlow = cfg.traceSlow
	conv := appSpec{Name: "bench-conv", Image: httpdImage, Port: 5000}
	stream := appSpec{Name: "bench-stream", Image: streamImage, Port: 5000}
	ids, err := e.runApps(ctx, b.stateDir, []appSpec{conv, stream})
	defer e.removeContainers(context.WithoutCancel(ctx), ids)
	if err != nil {
		return err
	}
	convID, streamID := ids[0], ids[1]
	w := e.watchStarts(ctx)
	defer w.cancel()
	time.Sleep(200 * time.Millisecond) // let the event stream open

	startBerth := func() (time.Duration, error) {
		if _, err := e.start(b); err != nil {
			return 0, err
		}
		c := newClient(1, 10*time.Second)
		for _, a := range []appSpec{conv, stream} {
			t := target{url: fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort), host: a.Name + "." + benchDomain, want: want(a)}
			if err := waitFor(c, t, 60*time.Second); err != nil {
				return 0, err
			}
		}
		return time.Since(b.Started()), nil
	}
	up0, err := startBerth()
	if err != nil {
		return err
	}
	rss0, _ := procStatusKB(b.Pid(), "VmRSS")
	progress("converge: Berth answered for both apps %s after process start (VmRSS %s)", ms(up0), mib(rss0))
	var results []convResult
	progress("converge: %d restarts of each kind, no other apps", cfg.events)
	results = append(results,
		e.restarts(ctx, w, b, convID, conv, false, cfg.events, "docker start, same address, 0 other apps"),
		e.restarts(ctx, w, b, convID, conv, true, cfg.events, "docker start onto a new address, 0 other apps"))

	// Do long streams through Berth survive a route change of another app,
	// and a reload of Berth's own Caddy config?
	progress("converge: long streams through Berth during a route change and a caddy reload")
	berthAddr := fmt.Sprintf("127.0.0.1:%d", b.httpPort)
	streamHost := stream.Name + "." + benchDomain
	probe := newClient(1, 10*time.Second)
	convTarget := target{url: fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort), host: conv.Name + "." + benchDomain, want: conv.Name}
	var survRows [][]string
	h, ws, err := survive(ctx, berthAddr, streamHost, func() error {
		if err := e.restartNewIP(ctx, convID, "survive"); err != nil {
			return err
		}
		return waitFor(probe, convTarget, 20*time.Second)
	})
	if err != nil {
		return err
	}
	survRows = append(survRows,
		[]string{"Berth: another app's container restarts onto a new address (no reload)", h.String(), ws.String()})
	var reloadTook time.Duration
	h, ws, err = survive(ctx, berthAddr, streamHost, func() error {
		t0 := time.Now()
		err := b.reload()
		reloadTook = time.Since(t0)
		return err
	})
	if err != nil {
		return err
	}
	survRows = append(survRows,
		[]string{fmt.Sprintf("Berth: `caddy reload --force` of Berth's own Caddyfile (took %s)", ms(reloadTook)), h.String(), ws.String()})
	berthSurvivedWS := ws.survived()

	// The same with cfg.regApps other apps registered (records only,
	// written before Caddy starts).
	b.stop()
	for i := 0; i < cfg.regApps; i++ {
		if err := writeRecord(ctx, b.stateDir, appSpec{Name: fmt.Sprintf("bench-reg-%04d", i)}); err != nil {
			return err
		}
	}
	upN, err := startBerth()
	if err != nil {
		return err
	}
	rssN, _ := procStatusKB(b.Pid(), "VmRSS")
	progress("converge: with %d registered apps, Berth answered for both apps %s after process start (VmRSS %s)", cfg.regApps, ms(upN), mib(rssN))
	progress("converge: %d restarts of each kind, %d other apps registered", cfg.events, cfg.regApps)
	results = append(results,
		e.restarts(ctx, w, b, convID, conv, false, cfg.events, fmt.Sprintf("docker start, same address, %d other apps", cfg.regApps)),
		e.restarts(ctx, w, b, convID, conv, true, cfg.events, fmt.Sprintf("docker start onto a new address, %d other apps", cfg.regApps)))
	b.stop()

	// The baseline: a plain Caddy that routes by static config, reloaded
	// through its admin API (POST /load) for every change.
	convIP, err := e.containerIP(ctx, convID)
	if err != nil {
		return err
	}
	streamIP, err := e.containerIP(ctx, streamID)
	if err != nil {
		return err
	}
	convDial := netip.AddrPortFrom(convIP, 5000).String()
	streamDial := netip.AddrPortFrom(streamIP, 5000).String()
	sc, err := e.newStaticCaddy("static")
	if err != nil {
		return err
	}
	if err := os.WriteFile(sc.Config, staticConfig(sc, convDial, streamDial, 0), 0o600); err != nil {
		return err
	}
	if _, err := e.start(sc); err != nil {
		return err
	}
	defer sc.stop()
	var reloads []reloadResult
	for _, others := range []int{0, cfg.regApps} {
		r, err := timeReloads(sc, convDial, streamDial, others, cfg.reloads)
		if err != nil {
			return err
		}
		reloads = append(reloads, r)
	}
	progress("converge: long streams through static Caddy during a config reload")
	h, ws, err = survive(ctx, fmt.Sprintf("127.0.0.1:%d", sc.httpPort), "stream.static.test", func() error {
		_, err := postLoad(sc, staticConfig(sc, streamDial, streamDial, 0))
		return err
	})
	if err != nil {
		return err
	}
	survRows = append(survRows,
		[]string{"static Caddy: POST /load of a config that moves another site's upstream (the caddy-docker-proxy way)", h.String(), ws.String()})
	staticSurvivedWS := ws.survived()

	// Report.
	var rows [][]string
	for _, r := range results {
		rows = append(rows, convRow(r))
		r.warn(rep)
	}
	var rrows [][]string
	for _, r := range reloads {
		rrows = append(rrows, []string{fmt.Sprint(r.others), fmt.Sprint(len(r.load)), ms(pct(r.load, 50)), ms(pct(r.load, 99)), ms(pct(r.firstOK, 50)), ms(pct(r.firstOK, 99))})
	}
	newIP0, newIPN := results[1], results[3]
	rep.add("route convergence", "start event → first 200 via Berth, p50: new address, 0 other apps vs container's own first 200",
		ms(pct(newIP0.conv, 50)), ms(pct(newIP0.direct, 50)), ratio(float64(pct(newIP0.conv, 50)), float64(pct(newIP0.direct, 50))))
	rep.add("route convergence", "start event → first 200 via Berth, p99: new address, 0 other apps vs container's own first 200",
		ms(pct(newIP0.conv, 99)), ms(pct(newIP0.direct, 99)), ratio(float64(pct(newIP0.conv, 99)), float64(pct(newIP0.direct, 99))))
	rep.add("route convergence", fmt.Sprintf("p50, new address: %d other apps registered vs 0", cfg.regApps),
		ms(pct(newIPN.conv, 50)), ms(pct(newIP0.conv, 50)), ratio(float64(pct(newIPN.conv, 50)), float64(pct(newIP0.conv, 50))))
	rep.add("route convergence", fmt.Sprintf("p99, new address: %d other apps registered vs 0", cfg.regApps),
		ms(pct(newIPN.conv, 99)), ms(pct(newIP0.conv, 99)), ratio(float64(pct(newIPN.conv, 99)), float64(pct(newIP0.conv, 99))))
	rep.add("route convergence", "Berth start event → 200 (p50, new address, 0 apps) vs static Caddy POST /load → 200 (p50, 0 other sites)",
		ms(pct(newIP0.conv, 50)), ms(pct(reloads[0].firstOK, 50)), ratio(float64(pct(newIP0.conv, 50)), float64(pct(reloads[0].firstOK, 50))))
	rep.add("route convergence", fmt.Sprintf("Berth (p50, new address, %d apps registered) vs static Caddy POST /load → 200 (p50, %d other sites)", cfg.regApps, cfg.regApps),
		ms(pct(newIPN.conv, 50)), ms(pct(reloads[1].firstOK, 50)), ratio(float64(pct(newIPN.conv, 50)), float64(pct(reloads[1].firstOK, 50))))
	rep.add("route convergence", "WebSocket survives: Berth route change vs static Caddy reload", yesNo(berthSurvivedWS), yesNo(staticSurvivedWS), "")
	rep.section("Route convergence", fmt.Sprintf(
		"One app container (busybox httpd) is stopped and started again with `docker start`, %d times per row (after one warm-up), on a Berth whose "+
			"state dir holds the app and the stream app, and then also %d registered apps (records only, written before Caddy started). "+
			"\"new address\": a filler container takes the stopped container's address first, so the container comes back elsewhere. "+
			"Times run from the engine's `start` event (its own timestamp) to the first 200 with the app's body through Berth's HTTP site; "+
			"a new GET is sent every 1 ms (each cancelled after 50 ms), and a second poller does the same against the container's address "+
			"directly; it can only begin once `docker start` has returned and the address is known, so that column is an upper bound "+
			"(by a few ms) of when the app itself first answered. p99 is by nearest rank: of 100 events the second-highest, of 50 or fewer the highest. "+
			"Berth took %s to answer for both apps from process start with 0 other apps, %s with %d; Caddy's VmRSS just after: %s and %s.\n\n",
		cfg.events, cfg.regApps, ms(up0), ms(upN), cfg.regApps, mib(rss0), mib(rssN))+
		table(convHeader, rows)+
		fmt.Sprintf("\nThe baseline: a plain Caddy (same binary, no berth app) whose JSON config has a static `reverse_proxy` site for the app, the stream app, "+
			"and N other sites; each change is a POST /load of the whole config that moves the app's upstream to another container, %d times per row. "+
			"\"POST /load\" is how long the admin API took to answer; \"→ 200\" runs from sending the POST to the first 200 from the new upstream. "+
			"caddy-docker-proxy also has to notice the event and generate the config first; that is not counted here.\n\n", cfg.reloads)+
		table([]string{"other sites", "reloads", "POST /load p50", "p99", "POST /load → 200 p50", "p99"}, rrows)+
		"\nLong-lived requests (3 s, a tick every 100 ms) to the stream app, with a change a second into them:\n\n"+
		table([]string{"change", "chunked HTTP response survived", "WebSocket survived"}, survRows))
	return nil
}

var convHeader = []string{"restart", "events", "via Berth p50", "p99", "max", "over 1 s", "not routed within 15 s (counted as 15 s)",
	"200 before the start event (route unchanged; counted as 0)", "answered by another app's container (events)",
	"container itself p50", "p99", "`docker start` returned (p50, after the event)", "came back on a new address", "failures", "took"}

func convRow(r convResult) []string {
	wrong := "0"
	if r.wrong > 0 {
		wrong = fmt.Sprintf("**%d answers in %d events** (e.g. %q)", r.wrong, r.wrongEvents, r.wrongSample)
	}
	return []string{r.label, fmt.Sprint(len(r.conv)), ms(pct(r.conv, 50)), ms(pct(r.conv, 99)), ms(slicesMax(r.conv)), fmt.Sprint(r.over(time.Second)),
		fmt.Sprint(r.timeouts), fmt.Sprint(r.early), wrong,
		ms(pct(r.direct, 50)), ms(pct(r.direct, 99)), ms(pct(r.apiRet, 50)), newIPText(r), fmt.Sprint(r.failures), r.took.Round(time.Second).String()}
}

func (r convResult) warn(rep *report) {
	if r.failures > 0 {
		rep.warn("%s: %d events failed; first: %s", r.label, r.failures, r.firstErr)
	}
	if r.timeouts > 0 {
		rep.warn("%s: Berth did not route %d of %d restarted containers within %s", r.label, r.timeouts, len(r.conv), pollLimit)
	}
	if r.wrong > 0 {
		rep.warn("%s: %d requests for the app's host were answered by another app's container (in %d events), e.g. %q", r.label, r.wrong, r.wrongEvents, r.wrongSample)
	}
}

// over counts the events that took longer than d to converge.
func (r convResult) over(d time.Duration) int {
	n := 0
	for _, c := range r.conv {
		if c > d {
			n++
		}
	}
	return n
}

func newIPText(r convResult) string {
	if !strings.Contains(r.label, "new address") {
		return "-"
	}
	return fmt.Sprintf("%d of %d", r.newIP, len(r.conv))
}

func yesNo(b bool) string {
	if b {
		return "yes"
	}
	return "no"
}

func slicesMax(ds []time.Duration) time.Duration {
	var m time.Duration
	for _, d := range ds {
		m = max(m, d)
	}
	return m
}

// occupy starts filler containers on Berth's network until one holds
// addr (a stopped container's address), at most 8. Docker's IPAM hands out
// the lowest free address, so lower free addresses are filled first. It
// returns the fillers, to be removed by the caller.
func (e *env) occupy(ctx context.Context, addr netip.Addr, tag string) ([]string, error) {
	return e.occupyServing(ctx, addr, tag, "")
}

// occupyServing is occupy with fillers that serve body on port 5000.
func (e *env) occupyServing(ctx context.Context, addr netip.Addr, tag, body string) ([]string, error) {
	var fillers []string
	for k := 0; k < 8; k++ {
		id, err := e.runFiller(ctx, fmt.Sprintf("berth-bench-filler-%s-%s-%d", e.runID, tag, k), body)
		if id != "" {
			fillers = append(fillers, id)
		}
		if err != nil {
			return fillers, err
		}
		ip, err := e.containerIP(ctx, id)
		if err != nil {
			return fillers, err
		}
		if ip == addr {
			return fillers, nil
		}
	}
	return fillers, nil
}

// restartNewIP stops the container, lets fillers take its address, and
// starts it again (the fillers are removed afterwards).
func (e *env) restartNewIP(ctx context.Context, id, tag string) error {
	before, err := e.containerIP(ctx, id)
	if err != nil {
		return err
	}
	stop := 1
	if _, err := e.dc.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &stop}); err != nil {
		return err
	}
	fillers, err := e.occupy(ctx, before, tag)
	defer e.removeContainers(context.WithoutCancel(ctx), fillers)
	if err != nil {
		return err
	}
	if _, err = e.dc.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return err
	}
	after, err := e.containerIP(ctx, id)
	if err == nil && after == before {
		return fmt.Errorf("container came back on its old address %s", before)
	}
	return err
}

// staticConfig is a plain Caddy JSON config: one server on p.httpPort
// with a static reverse_proxy route per host: conv.static.test,
// stream.static.test, and `others` more sites.
func staticConfig(p *caddyProc, convDial, streamDial string, others int) []byte {
	route := func(host, dial string) map[string]any {
		return map[string]any{
			"match":    []any{map[string]any{"host": []string{host}}},
			"handle":   []any{map[string]any{"handler": "reverse_proxy", "upstreams": []any{map[string]any{"dial": dial}}}},
			"terminal": true,
		}
	}
	routes := []any{route("conv.static.test", convDial), route("stream.static.test", streamDial)}
	for i := 0; i < others; i++ {
		routes = append(routes, route(fmt.Sprintf("other-%04d.static.test", i), "127.0.0.1:9"))
	}
	cfg := map[string]any{
		"admin": map[string]any{"listen": "127.0.0.1:" + strconv.Itoa(p.adminPort), "config": map[string]any{"persist": false}},
		"apps": map[string]any{"http": map[string]any{"servers": map[string]any{"static": map[string]any{
			"listen":          []string{"127.0.0.1:" + strconv.Itoa(p.httpPort)},
			"routes":          routes,
			"automatic_https": map[string]any{"disable": true},
		}}}},
	}
	out, _ := json.Marshal(cfg)
	return out
}

func postLoad(p *caddyProc, cfg []byte) (time.Duration, error) {
	req, err := http.NewRequest("POST", fmt.Sprintf("http://127.0.0.1:%d/load", p.adminPort), bytes.NewReader(cfg))
	if err != nil {
		return 0, err
	}
	req.Header.Set("Content-Type", "application/json")
	// A new connection each time: a reload may close the admin server's
	// idle connections, and a POST on a closed one is not retried.
	req.Close = true
	t0 := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, err
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	took := time.Since(t0)
	if resp.StatusCode != http.StatusOK {
		return took, fmt.Errorf("POST /load: %d %s", resp.StatusCode, body)
	}
	return took, nil
}

type reloadResult struct {
	others  int
	load    []time.Duration
	firstOK []time.Duration
}

// timeReloads moves conv.static.test between the app container and the
// stream app n times, each by a POST /load of the whole config, and times
// the load and the first 200 from the new upstream.
func timeReloads(p *caddyProc, convDial, streamDial string, others, n int) (reloadResult, error) {
	res := reloadResult{others: others}
	c := newClient(64, 5*time.Second)
	defer c.CloseIdleConnections()
	// The first load brings the others in; it is not counted.
	if _, err := postLoad(p, staticConfig(p, convDial, streamDial, others)); err != nil {
		return res, err
	}
	for i := 0; i < n; i++ {
		dial, body := streamDial, "streamapp"
		if i%2 == 1 {
			dial, body = convDial, "bench-conv"
		}
		cfg := staticConfig(p, dial, streamDial, others)
		t0 := time.Now()
		took, err := postLoad(p, cfg)
		if err != nil {
			return res, err
		}
		t := target{url: fmt.Sprintf("http://127.0.0.1:%d/", p.httpPort), host: "conv.static.test", want: body}
		r := pollFirstOK(context.Background(), c, t, time.Millisecond, 2*time.Second, 64, time.Now().Add(15*time.Second))
		if r.err != nil {
			return res, r.err
		}
		at := r.at
		res.load = append(res.load, took)
		res.firstOK = append(res.firstOK, at.Sub(t0))
	}
	progress("  static Caddy, %d other sites: %d reloads, POST /load p50 %s p99 %s", others, n, ms(pct(res.load, 50)), ms(pct(res.load, 99)))
	return res, nil
}
