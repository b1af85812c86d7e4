package dashboard

import (
	"bytes"
	"context"
	"net/http"
	"strings"
	"testing"

	"github.com/berth-paas/berth/commands"
)

func TestEventWriterSendsALinePerEvent(t *testing.T) {
	var out bytes.Buffer
	flushes := 0
	e := &eventWriter{w: &out, flush: func() error { flushes++; return nil }}
	e.Write([]byte("web.1: one\r\nweb.1: tw"))
	e.Write([]byte("o\n"))
	e.Write([]byte("web.1: no newline"))
	e.end()
	e.event("failed", "a\nb")
	want := "data: web.1: one\n\ndata: web.1: two\n\ndata: web.1: no newline\n\nevent: failed\ndata: a\ndata: b\n\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
	if flushes != 4 {
		t.Errorf("%d flushes, want one per write that completed a line, and per event", flushes)
	}
}

// A bare \r in an app's output is a line break in the event format: it
// must not reach the stream inside a data line, where the app could write
// an `event: done` of its own and end the viewer's stream.
func TestEventWriterBreaksLinesAtCarriageReturns(t *testing.T) {
	var out bytes.Buffer
	e := &eventWriter{w: &out, flush: func() error { return nil }}
	e.Write([]byte("web.1: foo\revent: done\r\n"))
	e.Write([]byte("web.1: 10%\r20%\n"))
	e.comment("a\rb")
	want := "data: web.1: foo\ndata: event: done\n\ndata: web.1: 10%\ndata: 20%\n\n: a b\n\n"
	if out.String() != want {
		t.Errorf("got %q\nwant %q", out.String(), want)
	}
}

// A deploy key's session cannot read another app's logs or build logs, live or as a
// file: refused by the command table's scope before anything runs (this
// dashboard has no backend at all).
func TestAnotherAppsLogsAreRefused(t *testing.T) {
	d := New(Config{StillGranted: func(context.Context, commands.LoginGrant) error { return nil }})
	d.SetHost("dash.example.test", 0, nil)
	c := signInAs(t, d, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	for _, path := range []string{"/apps/shop/logs/stream", "/apps/shop/logs.txt", "/apps/shop/builds/current/stream", "/apps/shop/builds/1.txt"} {
		w := do(d, "GET", path, nil, http.Header{"Cookie": {c.String()}})
		if w.Code != http.StatusForbidden || strings.Contains(w.Header().Get("Content-Type"), "event-stream") {
			t.Errorf("%s: %d %s", path, w.Code, w.Header().Get("Content-Type"))
		}
		if !strings.Contains(w.Body.String(), "may only manage app blog") {
			t.Errorf("%s: %s", path, w.Body)
		}
	}
}
