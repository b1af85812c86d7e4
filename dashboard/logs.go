package dashboard

import (
	"bytes"
	"context"
	_ "embed"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/commands"
)

// The live logs are the command table's `logs APP -t`, run with the
// session's scope like every page (a deploy key's session reads its own
// app's only), streamed to the page as server-sent events. The browser's
// EventSource reconnects by itself when the stream ends (a `caddy reload`
// that outlives stream_close_delay, a restart), and each connection
// starts with the last lines again.

// logsJS is the app page's only script: it fills the log view from the
// event stream and filters it by the search box. Served from the
// dashboard itself (the CSP allows scripts from 'self' only).
//
//go:embed static/logs.js
var logsJS []byte

// liveLogLines is how many lines per container a new stream starts
// with, and the download's (at most max_log_lines).
const (
	liveLogLines     = 200
	downloadLogLines = "-1" // logs' "all", capped at max_log_lines
)

func (d *Dashboard) script(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "text/javascript; charset=utf-8")
	w.Header().Set("Cache-Control", "max-age=300")
	w.Write(logsJS)
}

// logsStream is GET /apps/{app}/logs/stream: the app's output as
// server-sent events, one event per line, until the browser leaves.
func (d *Dashboard) logsStream(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	args := []string{"logs", app, "-t", "-n", fmt.Sprint(liveLogLines)}
	// Scope first, so that a refused stream is a plain 403 page, not an
	// event stream.
	if s.app != "" {
		if err := commands.Authorize(s.app, args); err != nil {
			d.log.Warn("dashboard: logs refused", "remote", r.RemoteAddr, "scope", scopeName(s), "app", app)
			d.commandFailed(w, &cmdError{err, "Permission denied: " + err.Error()})
			return
		}
	}
	release, err := d.slots.acquire(s)
	if err != nil {
		d.log.Warn("dashboard: live logs refused: too many streams", "remote", r.RemoteAddr, "scope", scopeName(s), "app", app)
		d.fail(w, http.StatusTooManyRequests, err.Error())
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	h := w.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ev := &eventWriter{w: w, flush: rc.Flush}
	ev.comment("logs of " + app)
	// The stream ends with the session (sign-out, logout-all, its app
	// destroyed): it derives from the session's context. A comment now
	// and then keeps proxies and the browser from taking a quiet app's
	// stream for a dead one, and is when the stream checks that the
	// session's key and app still hold, as every request does.
	ctx, cancel := streamContext(r, s)
	// The heartbeat writes to w: it must be over before the handler
	// returns, after which w is not ours.
	var heartbeat sync.WaitGroup
	defer func() {
		cancel()
		heartbeat.Wait()
	}()
	heartbeat.Add(1)
	go func() {
		defer heartbeat.Done()
		t := time.NewTicker(d.heartbeat)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				if d.sessions.stillValid(ctx, s) != nil {
					cancel()
					return
				}
				if ctx.Err() != nil {
					return
				}
				ev.comment("")
			}
		}
	}()
	var notes bytes.Buffer
	err = d.cmds.stream(ctx, s, strings.NewReader(""), ev, &notes, args...)
	ev.end()
	if ctx.Err() != nil {
		sessionEnded(r, ev) // when the browser is still there
		return
	}
	if err != nil && !errors.Is(err, context.Canceled) && r.Context().Err() == nil {
		msg := strings.TrimSpace(bangPrefix.ReplaceAllString(notes.String(), ""))
		if msg == "" {
			msg = err.Error()
		}
		ev.event("failed", msg)
	}
}

// logsDownload is GET /apps/{app}/logs.txt: the app's last lines as a
// file, streamed as logs writes them (up to max_log_lines of every
// container: not held in memory first).
func (d *Dashboard) logsDownload(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	var notes bytes.Buffer
	file := &downloadWriter{w: w, start: func() {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-%s.log"`, app, time.Now().UTC().Format("20060102-150405")))
	}}
	err := d.cmds.stream(r.Context(), s, strings.NewReader(""), file, &notes, "logs", app, "-n", downloadLogLines)
	if err == nil {
		file.Write(nil) // an empty log is an empty file
		return
	}
	var ce *cmdError
	if !errors.As(err, &ce) {
		msg := strings.TrimSpace(bangPrefix.ReplaceAllString(notes.String(), ""))
		if msg == "" {
			msg = err.Error()
		}
		err = &cmdError{err, msg}
	}
	file.mu.Lock()
	started := file.started
	file.mu.Unlock()
	if started {
		// The file is half sent: its status is gone, the log says why
		// it ends there.
		d.log.Warn("dashboard: log download cut short", "remote", r.RemoteAddr, "app", app, "error", err.Error())
		return
	}
	d.commandFailed(w, err)
}

// downloadWriter sends a file's headers with its first bytes, so that a
// command that fails before writing anything still gets an error page.
type downloadWriter struct {
	mu      sync.Mutex // logs may write from a goroutine per container
	w       http.ResponseWriter
	start   func()
	started bool
}

func (f *downloadWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if !f.started {
		f.started = true
		f.start()
		f.w.WriteHeader(http.StatusOK)
	}
	return f.w.Write(p)
}

// eventWriter turns lines written to it into server-sent events.
type eventWriter struct {
	mu      sync.Mutex
	w       io.Writer
	flush   func() error
	partial []byte
}

func (e *eventWriter) Write(p []byte) (int, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.partial = append(e.partial, p...)
	var out bytes.Buffer
	for {
		i := bytes.IndexByte(e.partial, '\n')
		if i < 0 {
			break
		}
		writeEvent(&out, "", string(bytes.TrimSuffix(e.partial[:i], []byte("\r"))))
		e.partial = e.partial[i+1:]
	}
	if out.Len() > 0 {
		if _, err := e.w.Write(out.Bytes()); err != nil {
			return 0, err
		}
		e.flush()
	}
	return len(p), nil
}

// end sends what is left of a last line without its newline.
func (e *eventWriter) end() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if len(e.partial) > 0 {
		var out bytes.Buffer
		writeEvent(&out, "", string(e.partial))
		e.partial = nil
		e.w.Write(out.Bytes())
		e.flush()
	}
}

func (e *eventWriter) event(name, data string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out bytes.Buffer
	writeEvent(&out, name, data)
	e.w.Write(out.Bytes())
	e.flush()
}

func (e *eventWriter) comment(c string) {
	e.mu.Lock()
	defer e.mu.Unlock()
	fmt.Fprintf(e.w, ": %s\n\n", strings.NewReplacer("\n", " ", "\r", " ").Replace(c))
	e.flush()
}

// writeEvent writes one event; a line break inside data (an error can
// have them) makes more data lines, as the format wants. The format ends
// a line at \r, \n or \r\n, so a bare \r in an app's output (a progress
// bar, or `foo\revent: done` on purpose) is a line break too: left in a
// data line, it would let the app's output write fields of its own and
// end the viewer's stream.
func writeEvent(w *bytes.Buffer, name, data string) {
	if name != "" {
		fmt.Fprintf(w, "event: %s\n", name)
	}
	data = strings.ReplaceAll(strings.ReplaceAll(data, "\r\n", "\n"), "\r", "\n")
	for _, l := range strings.Split(data, "\n") {
		fmt.Fprintf(w, "data: %s\n", l)
	}
	w.WriteString("\n")
}
