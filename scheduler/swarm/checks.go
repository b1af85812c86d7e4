package swarm

// The checks a new task passes before it takes traffic, against its
// published port: app.json's (HTTP, uptime, port), else the default (web:
// an HTTP reply; other types: up for platform.ReadyUptime).

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/health"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// probe runs an app.json check once against task t and returns why it
// failed, or "".
func probe(ctx context.Context, t task, hc platform.Healthcheck, host string) string {
	if t.addr == "" {
		return "the task has no published port yet"
	}
	return health.Probe(ctx, hc, t.addr, host, t.since, func(ctx context.Context, addr string, timeout time.Duration) string {
		if !answers(ctx, addr, timeout) {
			return fmt.Sprintf("%s does not answer", addr)
		}
		return ""
	})
}

// answers is swarm's port check: an HTTP reply, not a bare connection
// (see health.Answers).
func answers(ctx context.Context, addr string, timeout time.Duration) bool {
	return health.Answers(ctx, addr, timeout)
}

func sleep(ctx context.Context, d time.Duration) error { return health.Sleep(ctx, d) }

type syncWriter = health.SyncWriter

// checkTask waits until task t of service sv is ready to take traffic:
// its app.json checks pass, or, without any, its port accepts
// connections (web) and it stays up for platform.ReadyUptime.
func (s *Scheduler) checkTask(ctx context.Context, a *platform.App, rel platform.Release, sv service, t task, log io.Writer) error {
	if a.Checks.IsSkipped(sv.typ) || a.Checks.IsDisabled(sv.typ) {
		fmt.Fprintf(log, "       %s.%d: checks skipped\n", sv.typ, t.slot)
		return nil
	}
	port := a.ProxyPort(rel)
	checks := rel.AppJSON.DeployChecks(sv.typ)
	if len(checks) == 0 {
		return s.defaultCheck(ctx, sv, t, port, log)
	}
	for _, hc := range checks {
		if hc.Port != 0 && hc.Port != port {
			return fmt.Errorf("check %q: a swarm task publishes only the app's port %d, not %d", hc.Describe(), port, hc.Port)
		}
		if err := s.runCheck(ctx, a, sv, t, hc, log); err != nil {
			return err
		}
	}
	return nil
}

// current re-reads task t of sv: its state and address now.
func (s *Scheduler) current(ctx context.Context, sv service, t task) (task, error) {
	f := client.Filters{}
	f.Add("service", sv.id)
	res, err := s.api.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return t, err
	}
	s.mu.Lock()
	addr := t.addr
	s.mu.Unlock()
	for _, x := range res.Items {
		if x.ID != t.id {
			continue
		}
		n := taskOf(x, hostOf(addr))
		if n.addr == "" {
			n.addr = addr
		}
		if x.DesiredState != swarm.TaskStateRunning || n.state != swarm.TaskStateRunning {
			why := n.message
			if why == "" {
				why = string(n.state)
			}
			return n, fmt.Errorf("the task stopped (%s); see docker service logs %s", why, sv.name)
		}
		return n, nil
	}
	return t, fmt.Errorf("the task is gone; see docker service ps %s", sv.name)
}

func (s *Scheduler) defaultCheck(ctx context.Context, sv service, t task, port int, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, platform.ReadyTimeout)
	defer cancel()
	var upSince time.Time
	if sv.typ != "web" {
		upSince = time.Now()
	}
	for {
		cur, err := s.current(ctx, sv, t)
		if err != nil {
			return err
		}
		if upSince.IsZero() && cur.addr != "" && answers(ctx, cur.addr, time.Second) {
			upSince = time.Now()
			fmt.Fprintf(log, "       %s.%d accepts connections on port %d (%s)\n", sv.typ, t.slot, port, cur.addr)
		}
		if !upSince.IsZero() && time.Since(upSince) >= platform.ReadyUptime {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the task did not answer on port %d within %s: make the app serve HTTP on $PORT (docker service logs %s)", port, platform.ReadyTimeout, sv.name)
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runCheck runs one app.json check against task t.
func (s *Scheduler) runCheck(ctx context.Context, a *platform.App, sv service, t task, hc platform.Healthcheck, log io.Writer) error {
	if hc.InitialDelay > 0 {
		if err := sleep(ctx, time.Duration(hc.InitialDelay)*time.Second); err != nil {
			return err
		}
	}
	passed, reason, err := health.Attempts(ctx, hc, fmt.Sprintf("%s.%d", sv.typ, t.slot), log, func() (string, error) {
		cur, err := s.current(ctx, sv, t)
		if err != nil {
			return "", err
		}
		return probe(ctx, cur, hc, s.checkHost(a)), nil
	})
	if err != nil || passed {
		return err
	}
	return fmt.Errorf("check %q failed after %d attempts: %s (docker service logs %s)", hc.Describe(), hc.AttemptCount(), reason, sv.name)
}

// hostOf is the node address of a task's "host:port" ("" for ""): an
// IPv6 node's is bracketed ("[fd00::1]:30001"), which a cut at the first
// colon would break.
func hostOf(addr string) string {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return ""
	}
	return host
}
