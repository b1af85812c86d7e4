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
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// probe runs an app.json check once against task t and returns why it
// failed, or "".
func probe(ctx context.Context, t task, hc platform.Healthcheck, host string) string {
	if t.addr == "" {
		return "the task has no published port yet"
	}
	switch {
	case hc.Path != "":
		ctx, cancel := context.WithTimeout(ctx, hc.TimeoutDuration())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+t.addr+"/"+strings.TrimPrefix(hc.Path, "/"), nil)
		if err != nil {
			return err.Error()
		}
		if host != "" {
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
		if up := time.Since(t.since); up < time.Duration(hc.Uptime)*time.Second {
			return fmt.Sprintf("up for %s of %ds", up.Round(time.Second), hc.Uptime)
		}
		return ""
	default:
		if !answers(ctx, t.addr, hc.TimeoutDuration()) {
			return fmt.Sprintf("%s does not answer", t.addr)
		}
		return ""
	}
}

var checkClient = &http.Client{
	// A check asks the task itself; a redirect elsewhere is an answer.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// answers reports whether the process behind a published port answers an
// HTTP request with anything at all. A bare connection says nothing: the
// engine's port proxy accepts it whether or not the task listens (and
// then closes it), so the default check of a web task asks for a reply.
func answers(ctx context.Context, addr string, timeout time.Duration) bool {
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(timeout))
	if _, err := io.WriteString(conn, "HEAD / HTTP/1.0\r\n\r\n"); err != nil {
		return false
	}
	var b [1]byte
	n, _ := conn.Read(b[:])
	return n > 0
}

func sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
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
	var reason string
	for attempt := 1; attempt <= hc.AttemptCount(); attempt++ {
		cur, err := s.current(ctx, sv, t)
		if err != nil {
			return err
		}
		reason = probe(ctx, cur, hc, s.checkHost(a))
		if reason == "" {
			fmt.Fprintf(log, "       %s.%d: check %q passed\n", sv.typ, t.slot, hc.Describe())
			return nil
		}
		fmt.Fprintf(log, "       %s.%d: check %q attempt %d/%d failed: %s\n", sv.typ, t.slot, hc.Describe(), attempt, hc.AttemptCount(), reason)
		if attempt < hc.AttemptCount() {
			if err := sleep(ctx, hc.WaitDuration()); err != nil {
				return err
			}
		}
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
