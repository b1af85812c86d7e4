package swarm

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
