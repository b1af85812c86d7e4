package dockerlocal

// The checks a new container passes before it takes traffic: app.json's
// startup and readiness checks (HTTP, uptime, port), or without any the
// default (web: the port accepts connections; other types: up for
// platform.ReadyUptime), and what a failure says (exit code, last logs).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/health"
)

// checkAll runs every new container's checks at once and returns the first
// failure.
func (d *Scheduler) checkAll(ctx context.Context, a *platform.App, rel platform.Release, news []started, log io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var mu sync.Mutex
	var wg sync.WaitGroup
	var first error
	lockedLog := &syncWriter{W: log}
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
	passed, reason, err := health.Attempts(ctx, hc, fmt.Sprintf("%s.%d", s.typ, s.index), log, func() (string, error) {
		c, err := d.engine.Inspect(ctx, s.id)
		if err != nil {
			return "", err
		}
		if !c.Running || c.Restarting || c.RestartCount > 0 {
			return "", d.exitError(s.id, c)
		}
		return d.probe(ctx, a, c, port, hc), nil
	})
	if err != nil || passed {
		return err
	}
	return fmt.Errorf("check %q failed after %d attempts: %s%s", hc.Describe(), hc.AttemptCount(), reason, d.lastLogs(s.id))
}

// probe runs a check once and returns why it failed, or "".
func (d *Scheduler) probe(ctx context.Context, a *platform.App, c docker.Container, port int, hc platform.Healthcheck) string {
	if !c.IP.IsValid() {
		return "the container has no address yet"
	}
	var host string
	if hc.Path != "" { // only an HTTP check sends a Host
		host = d.checkHost(a)
	}
	addr := net.JoinHostPort(c.IP.String(), strconv.Itoa(port))
	return health.Probe(ctx, hc, addr, host, c.StartedAt, func(ctx context.Context, addr string, timeout time.Duration) string {
		if !health.Accepts(ctx, addr, timeout) {
			return fmt.Sprintf("port %d does not accept connections", port)
		}
		return ""
	})
}

func dialOK(ctx context.Context, ip string, port int, timeout time.Duration) bool {
	return health.Accepts(ctx, net.JoinHostPort(ip, strconv.Itoa(port)), timeout)
}

func sleep(ctx context.Context, d time.Duration) error { return health.Sleep(ctx, d) }

// seconds says d in whole seconds, as progress lines do ("12 s").
func seconds(d time.Duration) string {
	return fmt.Sprintf("%d s", int(d.Round(time.Second)/time.Second))
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

// awaitExit watches a restarted container for up to 10 s and returns its
// state once it exits again (restarting, in Docker's back-off, or
// stopped), or the last state seen.
func (d *Scheduler) awaitExit(id string, c docker.Container) docker.Container {
	// 10 s, not less: on a loaded machine a crashing process took over 3 s
	// to start and crash again, and the deploy's error then said only
	// that it was running again, without the exit code (push.txtar).
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
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

type syncWriter = health.SyncWriter
