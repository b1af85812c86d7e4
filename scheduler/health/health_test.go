package health

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
)

func noPortCheck(t *testing.T) func(context.Context, string, time.Duration) string {
	return func(context.Context, string, time.Duration) string {
		t.Fatal("the port check ran for a check with a path or an uptime")
		return ""
	}
}

func TestProbeHTTP(t *testing.T) {
	var gotHost string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		gotHost = r.Host
		switch r.URL.Path {
		case "/ok":
			w.Write([]byte("all is well"))
		case "/moved":
			http.Redirect(w, r, "http://elsewhere.invalid/", http.StatusFound)
		default:
			http.Error(w, "no", http.StatusInternalServerError)
		}
	}))
	defer srv.Close()
	addr := srv.Listener.Addr().String()
	ctx := context.Background()

	if got := Probe(ctx, platform.Healthcheck{Path: "ok", Content: "well"}, addr, "app.example", time.Time{}, noPortCheck(t)); got != "" {
		t.Errorf("passing check: %q", got)
	}
	if gotHost != "app.example" {
		t.Errorf("Host sent = %q, want app.example", gotHost)
	}
	if got := Probe(ctx, platform.Healthcheck{Path: "/ok", Content: "missing"}, addr, "", time.Time{}, noPortCheck(t)); got != `GET /ok answered without "missing"` {
		t.Errorf("content check: %q", got)
	}
	if got := Probe(ctx, platform.Healthcheck{Path: "/bad"}, addr, "", time.Time{}, noPortCheck(t)); got != "GET /bad answered 500" {
		t.Errorf("failing status: %q", got)
	}
	// A redirect is the instance's answer, not something to follow.
	if got := Probe(ctx, platform.Healthcheck{Path: "/moved"}, addr, "", time.Time{}, noPortCheck(t)); got != "" {
		t.Errorf("redirect: %q", got)
	}
}

func TestProbeUptime(t *testing.T) {
	ctx := context.Background()
	if got := Probe(ctx, platform.Healthcheck{Uptime: 60}, "x:1", "", time.Now(), noPortCheck(t)); got != "up for 0s of 60s" {
		t.Errorf("young instance: %q", got)
	}
	if got := Probe(ctx, platform.Healthcheck{Uptime: 60}, "x:1", "", time.Now().Add(-time.Hour), noPortCheck(t)); got != "" {
		t.Errorf("old instance: %q", got)
	}
}

func TestProbePortCheckIsTheCallers(t *testing.T) {
	var gotAddr string
	var gotTimeout time.Duration
	got := Probe(context.Background(), platform.Healthcheck{Timeout: 7}, "10.0.0.2:5000", "", time.Time{},
		func(_ context.Context, addr string, timeout time.Duration) string {
			gotAddr, gotTimeout = addr, timeout
			return "nope"
		})
	if got != "nope" || gotAddr != "10.0.0.2:5000" || gotTimeout != 7*time.Second {
		t.Errorf("Probe = %q, port check got (%q, %s)", got, gotAddr, gotTimeout)
	}
}

func TestAcceptsAndAnswers(t *testing.T) {
	ctx := context.Background()
	// A listener that accepts and closes without a word: what the swarm
	// engine's port proxy does when the task does not listen.
	mute, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer mute.Close()
	go func() {
		for {
			c, err := mute.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	if !Accepts(ctx, mute.Addr().String(), time.Second) {
		t.Error("Accepts: a listening port does not count")
	}
	if Answers(ctx, mute.Addr().String(), time.Second) {
		t.Error("Answers: a connection closed without a reply counts as an answer")
	}
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	if !Answers(ctx, srv.Listener.Addr().String(), time.Second) {
		t.Error("Answers: an HTTP server's reply does not count")
	}
	closed, _ := net.Listen("tcp", "127.0.0.1:0")
	addr := closed.Addr().String()
	closed.Close()
	if Accepts(ctx, addr, time.Second) || Answers(ctx, addr, time.Second) {
		t.Error("a closed port counts")
	}
}

func TestAttempts(t *testing.T) {
	ctx := context.Background()
	hc := platform.Healthcheck{Path: "/up", Attempts: 3, Wait: 1}
	var log bytes.Buffer
	n := 0
	passed, reason, err := Attempts(ctx, hc, "web.1", &log, func() (string, error) {
		n++
		if n < 2 {
			return "not yet", nil
		}
		return "", nil
	})
	if !passed || reason != "" || err != nil || n != 2 {
		t.Fatalf("Attempts = %v, %q, %v after %d tries", passed, reason, err, n)
	}
	want := "       web.1: check \"" + hc.Describe() + "\" attempt 1/3 failed: not yet\n" +
		"       web.1: check \"" + hc.Describe() + "\" passed\n"
	if log.String() != want {
		t.Errorf("log:\n%s\nwant:\n%s", log.String(), want)
	}

	// All attempts fail: the last reason comes back for the caller to word.
	log.Reset()
	one := platform.Healthcheck{Path: "/up", Attempts: 1}
	passed, reason, err = Attempts(ctx, one, "worker.2", &log, func() (string, error) { return "still down", nil })
	if passed || reason != "still down" || err != nil {
		t.Errorf("failing: %v, %q, %v", passed, reason, err)
	}

	// An error (the instance stopped) ends the attempts at once.
	gone := errors.New("the container exited")
	n = 0
	passed, _, err = Attempts(ctx, hc, "web.1", &log, func() (string, error) { n++; return "", gone })
	if passed || !errors.Is(err, gone) || n != 1 {
		t.Errorf("error: %v, %v after %d tries", passed, err, n)
	}
}

func TestDrain(t *testing.T) {
	ctx := context.Background()
	var f routing.InFlight
	var log bytes.Buffer
	if !Drain(ctx, &f, []string{"a:1", "b:2"}, time.Minute, &log) {
		t.Error("idle targets did not drain")
	}
	if log.Len() != 0 {
		t.Errorf("idle drain logged %q", log.String())
	}

	// A request that outlives the limit: Drain gives up and says so once.
	done := f.Begin("b:2")
	if Drain(ctx, &f, []string{"a:1", "b:2"}, 0, &log) {
		t.Error("a busy target drained")
	}
	if got := log.String(); got != "       waiting for 1 in-flight request(s) to finish\n" {
		t.Errorf("log = %q", got)
	}

	// A request that finishes within the limit.
	log.Reset()
	go func() { time.Sleep(platform.DrainDelay + 100*time.Millisecond); done() }()
	if !Drain(ctx, &f, []string{"b:2"}, time.Minute, &log) {
		t.Error("a target whose request finished did not drain")
	}
	if !strings.Contains(log.String(), "waiting for 1 in-flight") {
		t.Errorf("log = %q", log.String())
	}

	// A canceled deploy does not wait.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if Drain(cctx, &f, nil, time.Minute, &log) {
		t.Error("a canceled drain reports drained")
	}
}
