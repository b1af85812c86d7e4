package platform_test

// Unit tests of a rollout's checks (scheduler/dockerlocal/rollout.go: check, runCheck, probe)
// and of the drain's limit, against the fake engine, with app.json
// checks from a source deploy.

import (
	"io"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
)

// newCheckBed is a bed whose sources (any with app.toml) build app:v1,
// and whose v2 containers answer with handler.
func newCheckBed(t *testing.T, handler http.HandlerFunc) *bed {
	ran := 0
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{tagBuilder{name: "toml", file: "app.toml", image: "app:v1", engine: e, ran: &ran}}
	})
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		if c.Labels[docker.LabelRelease] == "2" {
			return fakeengine.Behavior{Handler: handler}
		}
		return fakeengine.Behavior{}
	}
	return b
}

// deployTwice deploys a source with appJSON twice (v1 answers every
// request with 200; v2 with the bed's handler) and returns v2's error
// and log.
func (b *bed) deployTwice(appJSON string) (error, string) {
	b.t.Helper()
	src := builder.Files{"app.toml": "", "app.json": appJSON}
	if _, log, err := b.deploySource("blog", src); err != nil {
		b.t.Fatalf("deploy v1: %v\n%s", err, log)
	}
	_, log, err := b.deploySource("blog", src)
	return err, log
}

// A check that fails, then passes, within its attempts lets the release
// through; the log says each attempt.
func TestCheckPassesWithinItsAttempts(t *testing.T) {
	var n atomic.Int32
	b := newCheckBed(t, func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			http.Error(w, "warming up", http.StatusServiceUnavailable)
			return
		}
		io.WriteString(w, "ok")
	})
	err, log := b.deployTwice(`{"healthchecks": {"web": [{"name": "up", "path": "/up", "attempts": 2, "wait": 1}]}}`)
	if err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, log)
	}
	for _, line := range []string{`check "up" attempt 1/2 failed: GET /up answered 503`, `check "up" passed`} {
		if !strings.Contains(log, line) {
			t.Errorf("the log lacks %q:\n%s", line, log)
		}
	}
}

// A check's content must be in the answer (v1's containers answer with
// their names).
func TestCheckContentMustBeInTheAnswer(t *testing.T) {
	b := newCheckBed(t, func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "database: down") })
	err, log := b.deployTwice(`{"healthchecks": {"web": [{"name": "db", "path": "/", "content": "blog.web", "attempts": 1}]}}`)
	if err == nil || !strings.Contains(err.Error(), `answered without "blog.web"`) {
		t.Fatalf("deploy v2 error %v, want the missing content named\n%s", err, log)
	}
}

// The check asks as the app's first host, as the proxy would.
func TestCheckAsksWithTheAppsHost(t *testing.T) {
	var host atomic.Value
	b := newCheckBed(t, func(w http.ResponseWriter, r *http.Request) { host.Store(r.Host) })
	if err, log := b.deployTwice(`{"healthchecks": {"web": [{"path": "/", "attempts": 1}]}}`); err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, log)
	}
	if got, _ := host.Load().(string); got != "blog.example.test" {
		t.Fatalf("the check asked for host %q, want blog.example.test", got)
	}
}

// A redirect is an answer (a login page, HTTPS): the check passes without
// following it elsewhere.
func TestCheckTakesARedirectAsAnAnswer(t *testing.T) {
	b := newCheckBed(t, func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "http://192.0.2.1/login", http.StatusFound)
	})
	if err, log := b.deployTwice(`{"healthchecks": {"web": [{"path": "/", "attempts": 1}]}}`); err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, log)
	}
}

// Liveness checks are not deploy checks: a failing one does not stop the
// rollout.
func TestLivenessCheckDoesNotGateTheRollout(t *testing.T) {
	b := newCheckBed(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/live" {
			http.Error(w, "no", http.StatusInternalServerError)
		}
	})
	if err, log := b.deployTwice(`{"healthchecks": {"web": [{"type": "liveness", "path": "/live", "attempts": 1}]}}`); err != nil {
		t.Fatalf("deploy v2: %v\n%s", err, log)
	}
}

// Old containers drain at most wait-to-retire: a request that never ends
// does not hold the rollout forever.
func TestDrainStopsTheOldContainerAfterWaitToRetire(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	if err := b.ps.SetWaitToRetire(b.ctx, "blog", 1); err != nil {
		t.Fatal(err)
	}
	b.table.InFlight.Begin(addr(old)) // never done
	var log strings.Builder
	if err := b.d.Restart(b.ctx, "blog", &log); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("the old container is still there after wait-to-retire")
	}
	if !strings.Contains(log.String(), "requests still in flight after wait-to-retire (1s); stopping anyway") {
		t.Fatalf("the log does not say the drain gave up:\n%s", log.String())
	}
	if web := b.running("blog", "web"); len(web) != 1 || !slices.Equal(b.targets("blog"), []string{addr(web[0])}) {
		t.Fatalf("running %v, targets %v; want the new container routed", web, b.targets("blog"))
	}
}
