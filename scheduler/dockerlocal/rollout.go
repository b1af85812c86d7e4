package dockerlocal

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
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
)

// started is one container a rollout started.
type started struct {
	id    string
	typ   string
	index int
}

func (s started) name(app string) string { return fmt.Sprintf("%s.%s.%d", app, s.typ, s.index) }

// fromGap is the container of g to start (or create: id empty).
func fromGap(g platform.Gap) started { return started{id: g.ID, typ: g.Type, index: g.Index} }

// deployed is news as the spec contributors' post-deploy step takes them.
func deployed(news []started) []platform.Deployed {
	out := make([]platform.Deployed, len(news))
	for i, s := range news {
		out[i] = platform.Deployed{ID: s.id, Type: s.typ, Index: s.index}
	}
	return out
}

// Rollout replaces the app's containers with containers of rel, in a new
// generation: start them beside the old ones, check them, record the
// release and generation (which moves the route), then retire the old
// containers once their in-flight requests finish. a must be locked by
// the caller; on success a is saved with rel current.
func (d *Scheduler) Rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	gen := a.Generation + 1
	types := platform.TypesToRun(rel, a.Formation)
	formation := platform.NextFormation(a.Formation, types, rel.AppJSON)
	if err := d.specs.CheckTypes(a, types); err != nil {
		return err
	}
	// Every way to run a release (deploy, restart, rollback, clone) comes
	// through here, so no formation above the host's limits starts.
	if err := d.checkFormation(a.Name, formation, fmt.Sprintf("the formation of v%d", rel.Version)); err != nil {
		return err
	}

	old, err := d.containers(ctx, a.Name)
	if err != nil {
		return err
	}
	// Types whose checks are disabled are replaced with downtime, as in
	// Dokku: their old containers go before the new ones start.
	for _, c := range old {
		if typ := c.Labels[docker.LabelProcess]; a.Checks.IsDisabled(typ) {
			fmt.Fprintf(log, "-----> Checks are disabled for %s: stopping %s first (downtime)\n", typ, c.Name)
			d.stopAndRemove(ctx, c.ID, platform.StopTimeoutOf(a, d.apps.ProcessGlobals()))
		}
	}

	var news []started
	fail := func(err error) error {
		for _, s := range news {
			d.removeForGood(cleanup, s.id)
		}
		return err
	}
	suffix := randomSuffix()
	platform.SetStep(ctx, "container creation")
	for _, typ := range types {
		for i := 1; i <= formation[typ]; i++ {
			s := started{typ: typ, index: i}
			fmt.Fprintf(log, "-----> Starting %s.%d of v%d (PORT=%d)\n", typ, i, rel.Version, a.ProxyPort(rel))
			spec, err := d.containerSpec(a, rel, gen, typ, i, s.name(a.Name)+"."+suffix)
			if err != nil {
				return fail(err)
			}
			// Made and started whatever happens to ctx, then given up
			// if ctx ended meanwhile: a request cut off halfway would
			// leave a container whose ID no one knows (a Created one,
			// until the next rollout).
			s.id, err = d.engine.Run(cleanup, spec)
			if err != nil {
				return fail(err)
			}
			news = append(news, s)
			if ctx.Err() != nil {
				return fail(context.Cause(ctx))
			}
		}
	}
	if err := d.checkAll(ctx, a, rel, news, log); err != nil {
		return fail(err)
	}
	platform.SetStep(ctx, "the switch to the new containers")
	if err := d.specs.PostDeploy(ctx, a, deployed(news)); err != nil {
		return fail(err)
	}
	// Past this point the rollout finishes whatever happens to ctx: the
	// record and the route move together.

	// Record first, then move the route: a crash in between restarts into
	// the new generation, whose containers run; the old ones are removed
	// at start.
	if !slices.ContainsFunc(a.Releases, func(r platform.Release) bool { return r.Version == rel.Version }) {
		a.Releases = append(a.Releases, rel)
	}
	a.Current, a.Generation, a.Formation = rel.Version, gen, formation
	a.Stopped = false // a stopped app runs again from its next rollout on
	if err := d.save(cleanup, a); err != nil {
		return fail(err)
	}
	if err := d.routes.Refresh(cleanup, a.Name); err != nil {
		d.log.Warn("route switch", "app", a.Name, "error", err)
	}
	fmt.Fprintf(log, "-----> v%d of %s is serving on %s\n", rel.Version, a.Name, strings.Join(d.hosts(a), ", "))

	d.retire(cleanup, a, old, log)
	for _, s := range news {
		if err := d.engine.Rename(cleanup, s.id, s.name(a.Name)); err != nil {
			d.log.Warn("rename container", "app", a.Name, "error", err)
		}
	}
	// The new release serves: what follows it runs (package disk removes
	// the releases beyond the app's retention, with their images). A
	// failure there costs disk, not the rollout.
	for _, err := range d.rolledOut(cleanup, a, func() error { return d.save(cleanup, a) }, log) {
		d.log.Warn("after a rollout", "app", a.Name, "error", err)
	}
	return nil
}

// containerSpec says how to run container index of process typ.
func (d *Scheduler) containerSpec(a *platform.App, rel platform.Release, gen int, typ string, index int, name string) (docker.RunSpec, error) {
	host, err := d.specs.Host(a, platform.Slot{Phase: platform.PhaseDeploy, Type: typ, Index: index})
	if err != nil {
		return docker.RunSpec{}, err
	}
	policy, retries, err := docker.ParseRestartPolicy(platform.RestartPolicyOf(a, d.apps.ProcessGlobals()))
	if err != nil { // the record was checked when it was set
		policy, retries, _ = docker.ParseRestartPolicy(platform.DefaultRestartPolicy)
	}
	spec := docker.RunSpec{
		Name:  name,
		Image: rel.Image,
		Env:   d.env(a, rel, fmt.Sprintf("%s.%d", typ, index)),
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
		StopTimeout:   platform.StopTimeoutOf(a, d.apps.ProcessGlobals()),
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
func (d *Scheduler) checkAll(ctx context.Context, a *platform.App, rel platform.Release, news []started, log io.Writer) error {
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
			err := d.check(ctx, a, rel, s, lockedLog)
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
// it stays up for platform.ReadyUptime.
func (d *Scheduler) check(ctx context.Context, a *platform.App, rel platform.Release, s started, log io.Writer) error {
	if a.Checks.IsSkipped(s.typ) || a.Checks.IsDisabled(s.typ) {
		fmt.Fprintf(log, "       %s.%d: checks skipped\n", s.typ, s.index)
		return nil
	}
	checks := rel.AppJSON.DeployChecks(s.typ)
	if len(checks) == 0 {
		return d.defaultCheck(ctx, s, a.ProxyPort(rel), log)
	}
	for _, hc := range checks {
		if err := d.runCheck(ctx, a, s, a.ProxyPort(rel), hc, log); err != nil {
			return err
		}
	}
	return nil
}

func (d *Scheduler) defaultCheck(ctx context.Context, s started, port int, log io.Writer) error {
	if s.typ == "web" {
		platform.SetStep(ctx, "the port wait")
	} else {
		platform.SetStep(ctx, "the uptime check")
	}
	ctx, cancel := context.WithTimeout(ctx, platform.ReadyTimeout)
	defer cancel()
	var upSince time.Time
	if s.typ != "web" {
		upSince = time.Now()
	}
	start := time.Now()
	note := start.Add(platform.ProgressInterval)
	for {
		c, err := d.engine.Inspect(ctx, s.id)
		if err != nil {
			return err
		}
		if !c.Running || c.Restarting || c.RestartCount > 0 {
			return d.exitError(s.id, c)
		}
		if upSince.IsZero() && c.IP.IsValid() && dialOK(ctx, c.IP.String(), port, 500*time.Millisecond) {
			upSince = time.Now()
			fmt.Fprintf(log, "       %s.%d accepts connections on port %d\n", s.typ, s.index, port)
		}
		// Every few seconds, what the deploy waits for: a push that
		// says nothing for a minute looks hung.
		if upSince.IsZero() && time.Now().After(note) {
			fmt.Fprintf(log, "       %s.%d: waiting for port %d (%s of %s)\n", s.typ, s.index, port, seconds(time.Since(start)), seconds(platform.ReadyTimeout))
			note = note.Add(platform.ProgressInterval)
		}
		if !upSince.IsZero() && time.Since(upSince) >= platform.ReadyUptime {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the container did not accept connections on port %d within %s: make the app listen on $PORT (or EXPOSE the port it uses)%s",
					port, platform.ReadyTimeout, d.lastLogs(s.id))
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runCheck runs one app.json check against container s, with the check's
// attempts, timeout, wait and initialDelay.
func (d *Scheduler) runCheck(ctx context.Context, a *platform.App, s started, port int, hc platform.Healthcheck, log io.Writer) error {
	if hc.Port > 0 {
		port = hc.Port
	}
	platform.SetStep(ctx, "checks")
	if hc.InitialDelay > 0 {
		delay := time.Duration(hc.InitialDelay) * time.Second
		fmt.Fprintf(log, "       %s.%d: waiting %s (initialDelay) before the check %q\n", s.typ, s.index, seconds(delay), hc.Describe())
		for waited := time.Duration(0); waited < delay; {
			step := min(platform.ProgressInterval, delay-waited)
			if err := sleep(ctx, step); err != nil {
				return err
			}
			waited += step
			if waited < delay {
				fmt.Fprintf(log, "       %s.%d: waiting for the initialDelay of %q (%s of %s)\n", s.typ, s.index, hc.Describe(), seconds(waited), seconds(delay))
			}
		}
	}
	var reason string
	for attempt := 1; attempt <= hc.AttemptCount(); attempt++ {
		c, err := d.engine.Inspect(ctx, s.id)
		if err != nil {
			return err
		}
		if !c.Running || c.Restarting || c.RestartCount > 0 {
			return d.exitError(s.id, c)
		}
		reason = d.probe(ctx, a, c, port, hc)
		if reason == "" {
			fmt.Fprintf(log, "       %s.%d: check %q passed\n", s.typ, s.index, hc.Describe())
			return nil
		}
		fmt.Fprintf(log, "       %s.%d: check %q attempt %d/%d failed: %s\n", s.typ, s.index, hc.Describe(), attempt, hc.AttemptCount(), reason)
		if attempt < hc.AttemptCount() {
			if err := sleep(ctx, hc.WaitDuration()); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("check %q failed after %d attempts: %s%s", hc.Describe(), hc.AttemptCount(), reason, d.lastLogs(s.id))
}

// probe runs a check once and returns why it failed, or "".
func (d *Scheduler) probe(ctx context.Context, a *platform.App, c docker.Container, port int, hc platform.Healthcheck) string {
	if !c.IP.IsValid() {
		return "the container has no address yet"
	}
	switch {
	case hc.Path != "":
		ctx, cancel := context.WithTimeout(ctx, hc.TimeoutDuration())
		defer cancel()
		url := "http://" + net.JoinHostPort(c.IP.String(), strconv.Itoa(port)) + "/" + strings.TrimPrefix(hc.Path, "/")
		req, err := http.NewRequestWithContext(ctx, "GET", url, nil)
		if err != nil {
			return err.Error()
		}
		if hosts := d.hosts(a); len(hosts) > 0 {
			req.Host = hosts[0]
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
		if !dialOK(ctx, c.IP.String(), port, hc.TimeoutDuration()) {
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
// platform.DrainDelay, at most the app's wait-to-retire), then gets SIGTERM and,
// after the stop timeout, SIGKILL.
func (d *Scheduler) retire(ctx context.Context, a *platform.App, old []docker.Container, log io.Writer) {
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
	drained := d.drain(ctx, targets, platform.WaitToRetireOf(a, d.apps.ProcessGlobals()), log)
	if !drained {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", platform.WaitToRetireOf(a, d.apps.ProcessGlobals()))
	}
	var wg sync.WaitGroup
	for _, c := range old {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.stopAndRemove(ctx, c.ID, platform.StopTimeoutOf(a, d.apps.ProcessGlobals()))
		}()
	}
	wg.Wait()
}

// drain waits until no request is in flight to any of targets, for at
// least platform.DrainDelay and at most limit; it reports whether they drained.
func (d *Scheduler) drain(ctx context.Context, targets []string, limit time.Duration, log io.Writer) bool {
	start := time.Now()
	if err := sleep(ctx, platform.DrainDelay); err != nil {
		return false
	}
	told := false
	for {
		var busy int64
		for _, t := range targets {
			busy += d.table.InFlight.Count(t)
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
func (d *Scheduler) removeForGood(ctx context.Context, id string) {
	d.engine.UpdateRestartPolicy(ctx, id, "no", 0)
	var err error
	for i := 0; i < 10; i++ {
		if err = d.engine.Remove(ctx, id); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.log.Warn("remove container", "container", id, "error", err)
}

func (d *Scheduler) stopAndRemove(ctx context.Context, id string, timeout time.Duration) {
	if err := d.engine.Stop(ctx, id, timeout); err != nil {
		d.log.Warn("stop container", "container", id, "error", err)
	}
	if err := d.engine.Remove(ctx, id); err != nil {
		d.log.Warn("remove container", "container", id, "error", err)
	}
}

// containers returns the app's containers: those this Berth made for it
// (the Docker client lists only this instance's), never a one-off.
func (d *Scheduler) containers(ctx context.Context, app string, labels ...string) ([]docker.Container, error) {
	return routes.AppContainers(ctx, d.engine, app, labels...)
}

func (d *Scheduler) exitError(id string, c docker.Container) error {
	if c.Running && !c.Restarting && c.RestartCount > 0 {
		// Docker restarted it before we looked, and a running container's
		// exit code reads 0. A process that crashes at start exits again
		// within moments; its code is the one to report.
		c = d.awaitExit(id, c)
	}
	state := fmt.Sprintf("exited with code %d", c.ExitCode)
	switch {
	case c.Restarting: // Docker counts a restarting container as running too
		state = fmt.Sprintf("exited with code %d and is being restarted", c.ExitCode)
	case c.Running:
		state = fmt.Sprintf("exited and was restarted %d time(s); it runs again, too late for this deploy", c.RestartCount)
	}
	return fmt.Errorf("the container %s%s", state, d.lastLogs(id))
}

// awaitExit watches a restarted container for up to 3 s and returns its
// state once it exits again (restarting, in Docker's back-off, or
// stopped), or the last state seen.
func (d *Scheduler) awaitExit(id string, c docker.Container) docker.Container {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for c.Running && !c.Restarting {
		select {
		case <-ctx.Done():
			return c
		case <-time.After(100 * time.Millisecond):
		}
		next, err := d.engine.Inspect(ctx, id)
		if err != nil {
			return c
		}
		c = next
	}
	return c
}

// lastLogs returns the container's last output lines for an error message.
func (d *Scheduler) lastLogs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := d.engine.Logs(ctx, id, 20)
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
