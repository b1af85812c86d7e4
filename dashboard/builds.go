package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
)

// A deploy's log, live: the command table has no follow for a build's
// output, so the stream asks builds:list and builds:output (with the
// session's scope, like every page) once a second, reads the log from the
// byte it sent last (--from), sends what it gained, and ends with the
// build.

// buildPoll is how often a running build's log is read again.
const buildPoll = time.Second

var buildID = regexp.MustCompile(`^(current|[1-9][0-9]{0,8})$`)

// buildStream is GET /apps/{app}/builds/{id}/stream (id: a build's or
// "current", the latest): the build's log as server-sent events, a line
// per event, then a "done" event with its result.
func (d *Dashboard) buildStream(w http.ResponseWriter, r *http.Request, s *session) {
	app, id := r.PathValue("app"), r.PathValue("id")
	if !buildID.MatchString(id) {
		d.fail(w, http.StatusNotFound, "No such build.")
		return
	}
	if s.app != "" {
		if err := commands.Authorize(s.app, []string{"builds:list", app}); err != nil {
			d.log.Warn("dashboard: build log refused", "remote", r.RemoteAddr, "scope", scopeName(s), "app", app)
			d.commandFailed(w, &cmdError{err, "Permission denied: " + err.Error()})
			return
		}
	}
	release, err := d.slots.acquire(s)
	if err != nil {
		d.log.Warn("dashboard: build log refused: too many streams", "remote", r.RemoteAddr, "scope", scopeName(s), "app", app)
		d.fail(w, http.StatusTooManyRequests, err.Error())
		return
	}
	defer release()
	rc := http.NewResponseController(w)
	w.Header().Set("Content-Type", "text/event-stream")
	w.Header().Set("X-Accel-Buffering", "no")
	w.WriteHeader(http.StatusOK)
	ev := &eventWriter{w: w, flush: rc.Flush}
	// The stream ends with the session, and each poll checks that the
	// session's key and app still hold, as every request does.
	ctx, cancel := streamContext(r, s)
	defer cancel()
	sent := 0
	for {
		var builds []platform.Build
		if err := d.cmds.runJSON(ctx, s, &builds, "builds:list", app, "--format", "json"); err != nil {
			streamFailed(ctx, ev, err)
			return
		}
		var b *platform.Build
		for i := range builds {
			if id == "current" || strconv.Itoa(builds[i].ID) == id {
				b = &builds[i]
				break
			}
		}
		if b == nil {
			ev.event("failed", "no such build: builds:list "+app+" shows them")
			return
		}
		// The latest when the view opened: a push that starts meanwhile
		// does not switch the view to its build halfway.
		id = strconv.Itoa(b.ID)
		// The status before the log: a build that ended before the
		// read has its whole log in it.
		running := b.Status == "running"
		// Only what was not sent yet: a build log of some MB is not
		// read again each second.
		out, err := d.cmds.run(ctx, s, "builds:output", app, id, "--from", strconv.Itoa(sent))
		if err != nil {
			streamFailed(ctx, ev, err)
			return
		}
		if len(out) > 0 {
			ev.Write([]byte(out))
			sent += len(out)
		}
		if !running {
			ev.end()
			ev.event("done", fmt.Sprintf("build %d %s", b.ID, b.Status))
			return
		}
		select {
		case <-ctx.Done():
			sessionEnded(r, ev)
			return
		case <-time.After(buildPoll):
		}
		if d.sessions.stillValid(ctx, s) != nil {
			sessionEnded(r, ev)
			return
		}
	}
}

// sessionEnded tells a browser that is still there that its stream ended
// with its session.
func sessionEnded(r *http.Request, ev *eventWriter) {
	if r.Context().Err() == nil {
		ev.event("failed", sessionEndedMsg)
	}
}

const sessionEndedMsg = "The session has ended: run `ssh berth@SERVER dashboard:login APP` (or --admin) and open the URL it prints."

func streamFailed(ctx context.Context, ev *eventWriter, err error) {
	if ctx.Err() != nil || errors.Is(err, context.Canceled) {
		return // the browser left
	}
	ev.event("failed", err.Error())
}

// buildLog is GET /apps/{app}/builds/{id}.txt: a build's log as a file.
func (d *Dashboard) buildLog(w http.ResponseWriter, r *http.Request, s *session) {
	app, file := r.PathValue("app"), r.PathValue("file")
	id, ok := strings.CutSuffix(file, ".txt")
	if !ok || !buildID.MatchString(id) {
		d.fail(w, http.StatusNotFound, "No such build.")
		return
	}
	out, err := d.cmds.run(r.Context(), s, "builds:output", app, id)
	if err != nil {
		d.commandFailed(w, err)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Content-Disposition", fmt.Sprintf(`attachment; filename="%s-build-%s.log"`, app, id))
	w.Write([]byte(out))
}
