package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
)

// started is one container a rollout started.
type started struct {
	id    string
	typ   string
	index int
}

func (s started) name(app string) string { return fmt.Sprintf("%s.%s.%d", app, s.typ, s.index) }

// rollout replaces the app's containers with containers of rel, in a new
// generation: start them beside the old ones, check them, record the
// release and generation (which moves the route), then retire the old
// containers once their in-flight requests finish. a must be locked by
// the caller; on success a is saved with rel current, and the log ends
// with the app's URLs (reportDeployed).
func (p *Platform) rollout(ctx context.Context, a *App, rel Release, log io.Writer) error {
	if err := p.rolloutUnreported(ctx, a, rel, log); err != nil {
		return err
	}
	p.reportDeployed(a, a.Formation, log)
	return nil
}

// rolloutUnreported is rollout without the closing report, for Deploy,
// which has more to do (postdeploy) before it ends the log with it.
func (p *Platform) rolloutUnreported(ctx context.Context, a *App, rel Release, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	gen := a.Generation + 1
	types := typesToRun(rel, a.Formation)
	formation := NextFormation(a.Formation, types, rel.AppJSON)
	if err := p.specs.checkTypes(a, types); err != nil {
		return err
	}
	// Every way to run a release (deploy, restart, rollback, clone) comes
	// through here, so no formation above the host's limits starts.
	if err := p.checkFormation(a.Name, formation, fmt.Sprintf("the formation of v%d", rel.Version)); err != nil {
		return err
	}

	old, err := p.containers(ctx, a.Name)
	if err != nil {
		return err
	}
	// Types whose checks are disabled are replaced with downtime, as in
	// Dokku: their old containers go before the new ones start.
	for _, c := range old {
		if typ := c.Labels[docker.LabelProcess]; a.Checks.disabled(typ) {
			fmt.Fprintf(log, "-----> Checks are disabled for %s: stopping %s first (downtime)\n", typ, c.Name)
			p.stopAndRemove(ctx, c.ID, StopTimeoutOf(a, p.ProcessGlobals()))
		}
	}

	var news []started
	fail := func(err error) error {
		for _, s := range news {
			p.removeForGood(cleanup, s.id)
		}
		return err
	}
	suffix := randomSuffix()
	setStep(ctx, "container creation")
	for _, typ := range types {
		for i := 1; i <= formation[typ]; i++ {
			s := started{typ: typ, index: i}
			fmt.Fprintf(log, "-----> Starting %s.%d of v%d (PORT=%d)\n", typ, i, rel.Version, a.ProxyPort(rel))
			spec, err := p.containerSpec(a, rel, gen, typ, i, s.name(a.Name)+"."+suffix)
			if err != nil {
				return fail(err)
			}
			// Made and started whatever happens to ctx, then given up
			// if ctx ended meanwhile: a request cut off halfway would
			// leave a container whose ID no one knows (a Created one,
			// until the next rollout).
			s.id, err = p.docker.Run(cleanup, spec)
			if err != nil {
				return fail(err)
			}
			news = append(news, s)
			if ctx.Err() != nil {
				return fail(context.Cause(ctx))
			}
		}
	}
	if err := p.checkAll(ctx, a, rel, news, log); err != nil {
		return fail(err)
	}
	setStep(ctx, "the switch to the new containers")
	if err := p.specs.postDeploy(ctx, a, news); err != nil {
		return fail(err)
	}
	// Past this point the rollout finishes whatever happens to ctx: the
	// record and the route move together.

	// Record first, then move the route: a crash in between restarts into
	// the new generation, whose containers run; the old ones are removed
	// at start.
	if !slices.ContainsFunc(a.Releases, func(r Release) bool { return r.Version == rel.Version }) {
		a.Releases = append(a.Releases, rel)
	}
	a.Current, a.Generation, a.Formation = rel.Version, gen, formation
	a.Stopped = false // a stopped app runs again from its next rollout on
	if err := saveApp(cleanup, p.store, a); err != nil {
		return fail(err)
	}
	if err := p.routes.Refresh(cleanup, a.Name); err != nil {
		p.log.Warn("route switch", "app", a.Name, "error", err)
	}
	fmt.Fprintf(log, "-----> v%d of %s is serving on %s\n", rel.Version, a.Name, strings.Join(p.hostsFor(a), ", "))

	p.retire(cleanup, a, old, log)
	for _, s := range news {
		if err := p.docker.Rename(cleanup, s.id, s.name(a.Name)); err != nil {
			p.log.Warn("rename container", "app", a.Name, "error", err)
		}
	}
	// The new release serves: what follows it runs (package disk removes
	// the releases beyond the app's retention, with their images). A
	// failure there costs disk, not the rollout.
	for _, err := range p.hooks.runRolledOut(cleanup, a, func() error { return saveApp(cleanup, p.store, a) }, log) {
		p.log.Warn("after a rollout", "app", a.Name, "error", err)
	}
	return nil
}

// containerSpec says how to run container index of process typ.
func (p *Platform) containerSpec(a *App, rel Release, gen int, typ string, index int, name string) (docker.RunSpec, error) {
	host, err := p.specs.host(a, Slot{Phase: PhaseDeploy, Type: typ, Index: index})
	if err != nil {
		return docker.RunSpec{}, err
	}
	policy, retries, err := docker.ParseRestartPolicy(RestartPolicyOf(a, p.ProcessGlobals()))
	if err != nil { // the record was checked when it was set
		policy, retries, _ = docker.ParseRestartPolicy(DefaultRestartPolicy)
	}
	spec := docker.RunSpec{
		Name:  name,
		Image: rel.Image,
		Env:   p.releaseEnv(a, rel, fmt.Sprintf("%s.%d", typ, index)),
		Labels: map[string]string{
			docker.LabelApp:        a.Name,
			docker.LabelProcess:    typ,
			docker.LabelRelease:    strconv.Itoa(rel.Version),
			docker.LabelGeneration: strconv.Itoa(gen),
			docker.LabelIndex:      strconv.Itoa(index),
			docker.LabelPort:       strconv.Itoa(a.ProxyPort(rel)),
		},
		RestartPolicy: policy,
		MaxRetries:    retries,
		StopTimeout:   StopTimeoutOf(a, p.ProcessGlobals()),
		Host:          host,
	}
	if argv, ok := rel.Launch[typ]; ok && len(argv) > 0 {
		spec.Entrypoint, spec.Cmd = argv[:1], argv[1:]
	} else if cmd, ok := rel.Processes[typ]; ok {
		spec.Cmd = []string{"/bin/sh", "-c", cmd}
	}
	return spec, nil
}

// checkAll runs every new container's checks at once and returns the first
// failure.
func (p *Platform) checkAll(ctx context.Context, a *App, rel Release, news []started, log io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var first error
	lockedLog := &syncWriter{w: log}
	for _, s := range news {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.check(ctx, a, rel, s, lockedLog)
			if err != nil {
				mu.Lock()
				if first == nil {
					first = fmt.Errorf("%s.%d: %w", s.typ, s.index, err)
					cancel()
				}
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	return first
}

// check waits until container s is ready to take traffic: its app.json
// checks pass, or, without checks, its port accepts connections (web) and
// it stays up for ReadyUptime.
func (p *Platform) check(ctx context.Context, a *App, rel Release, s started, log io.Writer) error {
	if a.Checks.skipped(s.typ) || a.Checks.disabled(s.typ) {
		fmt.Fprintf(log, "       %s.%d: checks skipped\n", s.typ, s.index)
		return nil
	}
	checks := rel.AppJSON.deployChecks(s.typ)
	if len(checks) == 0 {
		return p.defaultCheck(ctx, s, a.ProxyPort(rel), log)
	}
	for _, hc := range checks {
		if err := p.runCheck(ctx, a, s, a.ProxyPort(rel), hc, log); err != nil {
			return err
		}
	}
	return nil
}

func (p *Platform) defaultCheck(ctx context.Context, s started, port int, log io.Writer) error {
	if s.typ == "web" {
		setStep(ctx, "the port wait")
	} else {
		setStep(ctx, "the uptime check")
	}
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	var upSince time.Time
	if s.typ != "web" {
		upSince = time.Now()
	}
	start := time.Now()
	note := start.Add(ProgressInterval)
	for {
		c, err := p.docker.Inspect(ctx, s.id)
		if err != nil {
			return err
		}
		if !c.Running || c.Restarting || c.RestartCount > 0 {
			return p.exitError(s.id, c)
		}
		if upSince.IsZero() && c.IP.IsValid() && dialOK(ctx, c.IP.String(), port, 500*time.Millisecond) {
			upSince = time.Now()
			fmt.Fprintf(log, "       %s.%d accepts connections on port %d\n", s.typ, s.index, port)
		}
		// Every few seconds, what the deploy waits for: a push that
		// says nothing for a minute looks hung.
		if upSince.IsZero() && time.Now().After(note) {
			fmt.Fprintf(log, "       %s.%d: waiting for port %d (%s of %s)\n", s.typ, s.index, port, seconds(time.Since(start)), seconds(ReadyTimeout))
			note = note.Add(ProgressInterval)
		}
		if !upSince.IsZero() && time.Since(upSince) >= ReadyUptime {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the container did not accept connections on port %d within %s: make the app listen on $PORT (or EXPOSE the port it uses)%s",
					port, ReadyTimeout, p.lastLogs(s.id))
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runCheck runs one app.json check against container s, with the check's
// attempts, timeout, wait and initialDelay.
func (p *Platform) runCheck(ctx context.Context, a *App, s started, port int, hc Healthcheck, log io.Writer) error {
	if hc.Port > 0 {
		port = hc.Port
	}
	setStep(ctx, "checks")
	if hc.InitialDelay > 0 {
		delay := time.Duration(hc.InitialDelay) * time.Second
		fmt.Fprintf(log, "       %s.%d: waiting %s (initialDelay) before the check %q\n", s.typ, s.index, seconds(delay), hc.describe())
		for waited := time.Duration(0); waited < delay; {
			step := min(ProgressInterval, delay-waited)
			if err := sleep(ctx, step); err != nil {
				return err
			}
			waited += step
			if waited < delay {
				fmt.Fprintf(log, "       %s.%d: waiting for the initialDelay of %q (%s of %s)\n", s.typ, s.index, hc.describe(), seconds(waited), seconds(delay))
			}
		}
	}
	var reason string
	for attempt := 1; attempt <= hc.attempts(); attempt++ {
		c, err := p.docker.Inspect(ctx, s.id)
		if err != nil {
			return err
		}
		if !c.Running || c.Restarting || c.RestartCount > 0 {
			return p.exitError(s.id, c)
		}
		reason = p.probe(ctx, a, c, port, hc)
		if reason == "" {
			fmt.Fprintf(log, "       %s.%d: check %q passed\n", s.typ, s.index, hc.describe())
			return nil
		}
		fmt.Fprintf(log, "       %s.%d: check %q attempt %d/%d failed: %s\n", s.typ, s.index, hc.describe(), attempt, hc.attempts(), reason)
		if attempt < hc.attempts() {
			if err := sleep(ctx, hc.wait()); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("check %q failed after %d attempts: %s%s", hc.describe(), hc.attempts(), reason, p.lastLogs(s.id))
}

// probe runs a check once and returns why it failed, or "".
func (p *Platform) probe(ctx context.Context, a *App, c docker.Container, port int, hc Healthcheck) string {
	if !c.IP.IsValid() {
		return "the container has no address yet"
	}
	switch {
	case hc.Path != "":
		ctx, cancel := context.WithTimeout(ctx, hc.timeout())
		defer cancel()
		url := "http://" + net.JoinHostPort(c.IP.String(), strconv.Itoa(port)) + "/" + strings.TrimPrefix(hc.Path, "/")
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err.Error()
		}
		if host := firstExactHost(p.hostsFor(a)); host != "" {
			req.Host = host
		}
		resp, err := checkClient.Do(req)
		if err != nil {
			return err.Error()
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
		if resp.StatusCode < 200 || resp.StatusCode >= 400 {
			return fmt.Sprintf("GET %s answered %d", hc.Path, resp.StatusCode)
		}
		if hc.Content != "" && !strings.Contains(string(body), hc.Content) {
			return fmt.Sprintf("GET %s answered without %q", hc.Path, hc.Content)
		}
		return ""
	case hc.Uptime > 0:
		if up := time.Since(c.StartedAt); up < time.Duration(hc.Uptime)*time.Second {
			return fmt.Sprintf("up for %s of %ds", up.Round(time.Second), hc.Uptime)
		}
		return ""
	default:
		if !dialOK(ctx, c.IP.String(), port, hc.timeout()) {
			return fmt.Sprintf("port %d does not accept connections", port)
		}
		return ""
	}
}

var checkClient = &http.Client{
	// A check asks the container itself; a redirect elsewhere is an
	// answer, not something to follow.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

func dialOK(ctx context.Context, ip string, port int, timeout time.Duration) bool {
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", net.JoinHostPort(ip, strconv.Itoa(port)))
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// retire drains and removes old containers: the route has already left
// them, so each waits until the requests it is serving finish (at least
// DrainDelay, at most the app's wait-to-retire), then gets SIGTERM and,
// after the stop timeout, SIGKILL.
func (p *Platform) retire(ctx context.Context, a *App, old []docker.Container, log io.Writer) {
	if len(old) == 0 {
		return
	}
	var targets []string
	for _, c := range old {
		if c.Running && c.IP.IsValid() && c.Labels[docker.LabelPort] != "" {
			targets = append(targets, net.JoinHostPort(c.IP.String(), c.Labels[docker.LabelPort]))
		}
	}
	fmt.Fprintf(log, "-----> Retiring %d old container(s)\n", len(old))
	drained := p.drain(ctx, targets, WaitToRetireOf(a, p.ProcessGlobals()), log)
	if !drained {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", WaitToRetireOf(a, p.ProcessGlobals()))
	}
	var wg sync.WaitGroup
	for _, c := range old {
		wg.Add(1)
		go func() {
			defer wg.Done()
			p.stopAndRemove(ctx, c.ID, StopTimeoutOf(a, p.ProcessGlobals()))
		}()
	}
	wg.Wait()
}

// drain waits until no request is in flight to any of targets, for at
// least DrainDelay and at most limit; it reports whether they drained.
func (p *Platform) drain(ctx context.Context, targets []string, limit time.Duration, log io.Writer) bool {
	start := time.Now()
	if err := sleep(ctx, DrainDelay); err != nil {
		return false
	}
	told := false
	for {
		var busy int64
		for _, t := range targets {
			busy += p.table.InFlight.Count(t)
		}
		if busy == 0 {
			return true
		}
		if !told {
			fmt.Fprintf(log, "       waiting for %d in-flight request(s) to finish\n", busy)
			told = true
		}
		if time.Since(start) >= limit {
			return false
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return false
		}
	}
}

// seconds says d in whole seconds, as progress lines do ("12 s").
func seconds(d time.Duration) string {
	return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
}

// removeForGood removes a container that may be crash-looping: Docker
// refuses to remove a container while its restart policy is restarting it,
// so the policy goes first, and the removal is retried a few times.
func (p *Platform) removeForGood(ctx context.Context, id string) {
	p.docker.UpdateRestartPolicy(ctx, id, "no", 0)
	var err error
	for i := 0; i < 10; i++ {
		if err = p.docker.Remove(ctx, id); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	p.log.Warn("remove container", "container", id, "error", err)
}

func (p *Platform) stopAndRemove(ctx context.Context, id string, timeout time.Duration) {
	if err := p.docker.Stop(ctx, id, timeout); err != nil {
		p.log.Warn("stop container", "container", id, "error", err)
	}
	if err := p.docker.Remove(ctx, id); err != nil {
		p.log.Warn("remove container", "container", id, "error", err)
	}
}

// containers returns the app's containers: those this Berth made for it
// (the Docker client lists only this instance's), never a one-off.
func (p *Platform) containers(ctx context.Context, app string, labels ...string) ([]docker.Container, error) {
	return routes.AppContainers(ctx, p.docker, app, labels...)
}

func (p *Platform) exitError(id string, c docker.Container) error {
	if c.Running && !c.Restarting && c.RestartCount > 0 {
		// Docker restarted it before we looked, and a running container's
		// exit code reads 0. A process that crashes at start exits again
		// within moments; its code is the one to report.
		c = p.awaitExit(id, c)
	}
	state := fmt.Sprintf("exited with code %d", c.ExitCode)
	switch {
	case c.Restarting: // Docker counts a restarting container as running too
		state = fmt.Sprintf("exited with code %d and is being restarted", c.ExitCode)
	case c.Running:
		state = fmt.Sprintf("exited and was restarted %d time(s); it runs again, too late for this deploy", c.RestartCount)
	}
	return fmt.Errorf("the container %s%s", state, p.lastLogs(id))
}

// awaitExit watches a restarted container for up to 3 s and returns its
// state once it exits again (restarting, in Docker's back-off, or
// stopped), or the last state seen.
func (p *Platform) awaitExit(id string, c docker.Container) docker.Container {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for c.Running && !c.Restarting {
		select {
		case <-ctx.Done():
			return c
		case <-time.After(100 * time.Millisecond):
		}
		next, err := p.docker.Inspect(ctx, id)
		if err != nil {
			return c
		}
		c = next
	}
	return c
}

// lastLogs returns the container's last output lines for an error message.
func (p *Platform) lastLogs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := p.docker.Logs(ctx, id, 20)
	out = strings.TrimRight(out, "\n")
	if err != nil || out == "" {
		return "; it wrote no output"
	}
	return "; its last output:\n" + out
}

func randomSuffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}

type syncWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (s *syncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.w.Write(b)
}
