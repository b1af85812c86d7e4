// Package health owns what both schedulers (docker-local and swarm) do the
// same way to decide that a new instance may take traffic and that an old
// one may go: the one-shot probe of an address against an app.json check
// (HTTP path, uptime, port), the attempts loop around it with its log
// lines, and the drain wait on the routing table's in-flight count
// bounded by wait-to-retire.
//
// What differs between the schedulers stays with them and comes in as a
// parameter: how an instance is re-read between attempts (container
// inspect or task list), what a port check means (docker-local: a TCP
// connection is accepted; swarm: the engine's ingress port accepts every
// connection, so an HTTP reply is asked for), and the error suffixes
// (last logs or "docker service logs").
package health

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
)

// Probe runs app.json check hc once against addr ("host:port") and
// returns why it failed, or "". host, if set, is the Host header of an
// HTTP check; since is when the instance started (an uptime check).
// A check with neither a path nor an uptime is a port check: portCheck
// runs it with the check's timeout and returns why it failed, or "".
func Probe(ctx context.Context, hc platform.Healthcheck, addr, host string, since time.Time, portCheck func(ctx context.Context, addr string, timeout time.Duration) string) string {
	switch {
	case hc.Path != "":
		ctx, cancel := context.WithTimeout(ctx, hc.TimeoutDuration())
		defer cancel()
		req, err := http.NewRequestWithContext(ctx, "GET", "http://"+addr+"/"+strings.TrimPrefix(hc.Path, "/"), nil)
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
		if up := time.Since(since); up < time.Duration(hc.Uptime)*time.Second {
			return fmt.Sprintf("up for %s of %ds", up.Round(time.Second), hc.Uptime)
		}
		return ""
	default:
		return portCheck(ctx, addr, hc.TimeoutDuration())
	}
}

var checkClient = &http.Client{
	// A check asks the instance itself; a redirect elsewhere is an
	// answer, not something to follow.
	CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
}

// Accepts reports whether addr accepts a TCP connection within timeout:
// docker-local's port check (a container's own address has nothing in
// front of it, so an accepted connection means the app listens).
func Accepts(ctx context.Context, addr string, timeout time.Duration) bool {
	conn, err := (&net.Dialer{Timeout: timeout}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return false
	}
	conn.Close()
	return true
}

// Answers reports whether the process behind addr answers an HTTP
// request with anything at all: swarm's port check. A bare connection
// says nothing there: the engine's port proxy accepts it whether or not
// the task listens (and then closes it), so the check asks for a reply.
func Answers(ctx context.Context, addr string, timeout time.Duration) bool {
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

// Attempts runs once, the probe of one attempt, up to hc.AttemptCount()
// times, hc.WaitDuration() apart, until it returns "" (passed) or an
// error (the instance is gone or stopped: no use trying again). It logs
// each outcome under name ("web.1"). It reports whether a probe passed
// and the last reason one gave; the caller words the final failure.
func Attempts(ctx context.Context, hc platform.Healthcheck, name string, log io.Writer, once func() (string, error)) (bool, string, error) {
	var reason string
	for attempt := 1; attempt <= hc.AttemptCount(); attempt++ {
		var err error
		reason, err = once()
		if err != nil {
			return false, reason, err
		}
		if reason == "" {
			fmt.Fprintf(log, "       %s: check %q passed\n", name, hc.Describe())
			return true, "", nil
		}
		fmt.Fprintf(log, "       %s: check %q attempt %d/%d failed: %s\n", name, hc.Describe(), attempt, hc.AttemptCount(), reason)
		if attempt < hc.AttemptCount() {
			if err := Sleep(ctx, hc.WaitDuration()); err != nil {
				return false, reason, err
			}
		}
	}
	return false, reason, nil
}

// Drain waits until no request is in flight to any of targets, for at
// least platform.DrainDelay and at most limit; it reports whether they
// drained.
func Drain(ctx context.Context, inFlight *routing.InFlight, targets []string, limit time.Duration, log io.Writer) bool {
	start := time.Now()
	if err := Sleep(ctx, platform.DrainDelay); err != nil {
		return false
	}
	told := false
	for {
		var busy int64
		for _, t := range targets {
			busy += inFlight.Count(t)
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
		if err := Sleep(ctx, 50*time.Millisecond); err != nil {
			return false
		}
	}
}

// Sleep waits d, or less if ctx ends first (then it returns ctx's error).
func Sleep(ctx context.Context, d time.Duration) error {
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-time.After(d):
		return nil
	}
}

// SyncWriter serializes writes to W: the checks of several instances run
// at once and log to one deploy output.
type SyncWriter struct {
	mu sync.Mutex
	W  io.Writer
}

func (s *SyncWriter) Write(b []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.W.Write(b)
}
