package applogs

import (
	"bytes"
	"context"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

// start runs a container of an app on e with the given labels; e's
// BehaviorOf writes its output.
func start(t *testing.T, e *fakeengine.Engine, name string, labels map[string]string) {
	t.Helper()
	if _, err := e.Run(context.Background(), docker.RunSpec{Name: name, Image: "img", Labels: labels}); err != nil {
		t.Fatal(err)
	}
}

func dyno(app string, generation int, process, index string) map[string]string {
	return map[string]string{
		docker.LabelApp:        app,
		docker.LabelGeneration: strconv.Itoa(generation),
		docker.LabelProcess:    process,
		docker.LabelIndex:      index,
	}
}

// newLogs is an app "web" at generation 2 with a web and a worker
// container, an old container of generation 1 still there, and a one-off
// of the same generation: logs shows the first two only.
func newLogs(t *testing.T) (*Logs, *fakeengine.Engine) {
	e := fakeengine.New()
	t.Cleanup(e.Close)
	e.AddImage("img", fakeengine.Image{})
	apps := newFakeApps()
	apps.apps["web"] = platform.App{Name: "web", Generation: 2}
	// The fake's tail counts a last line only when no newline ends it.
	outputs := map[string]string{
		"web.web.1":     "2026-01-01T00:00:01Z web one\n2026-01-01T00:00:03Z web two",
		"web.worker.1":  "2026-01-01T00:00:02Z worker one\n2026-01-01T00:00:04Z worker two",
		"web.web.1.old": "2026-01-01T00:00:00Z old release",
		"web.run.1":     "2026-01-01T00:00:05Z a one-off",
	}
	e.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: true, Output: outputs[c.Name]}
	}
	start(t, e, "web.web.1", dyno("web", 2, "web", "1"))
	start(t, e, "web.worker.1", dyno("web", 2, "worker", "1"))
	start(t, e, "web.web.1.old", dyno("web", 1, "web", "1"))
	oneOff := dyno("web", 2, "run", "1")
	oneOff[docker.LabelOneOff] = "web"
	start(t, e, "web.run.1", oneOff)
	return New(Config{Engine: e, Apps: apps, Builds: apps}), e
}

func TestShowMergesTheRunningReleasesContainersInTimeOrder(t *testing.T) {
	l, _ := newLogs(t)
	var out, notes bytes.Buffer
	if err := l.Show(context.Background(), "web", Options{Lines: 100}, &out, &notes); err != nil {
		t.Fatal(err)
	}
	want := "2026-01-01T00:00:01Z web[web.1]: web one\n" +
		"2026-01-01T00:00:02Z web[worker.1]: worker one\n" +
		"2026-01-01T00:00:03Z web[web.1]: web two\n" +
		"2026-01-01T00:00:04Z web[worker.1]: worker two\n"
	if out.String() != want {
		t.Fatalf("logs:\n%s\nwant:\n%s", out.String(), want)
	}
	if notes.Len() != 0 {
		t.Fatalf("notes: %s", notes.String())
	}
}

func TestShowOneProcessOrContainer(t *testing.T) {
	l, _ := newLogs(t)
	ctx := context.Background()
	for _, p := range []string{"worker", "worker.1"} {
		var out bytes.Buffer
		if err := l.Show(ctx, "web", Options{Lines: 100, Process: p}, &out, &out); err != nil {
			t.Fatal(err)
		}
		if strings.Contains(out.String(), "web[web.1]") || !strings.Contains(out.String(), "web[worker.1]: worker two") {
			t.Fatalf("logs -p %s:\n%s", p, out.String())
		}
	}
	if err := l.Show(ctx, "web", Options{Process: "clock"}, &bytes.Buffer{}, &bytes.Buffer{}); err == nil || err.Error() != "web runs no clock container" {
		t.Fatalf("logs -p clock: %v", err)
	}
}

func TestShowCapsTheLinesAtTheMaximumWithANote(t *testing.T) {
	l, _ := newLogs(t)
	l.SetMaxLines(1)
	var out, notes bytes.Buffer
	if err := l.Show(context.Background(), "web", Options{Lines: -1}, &out, &notes); err != nil {
		t.Fatal(err)
	}
	if got := out.String(); got != "2026-01-01T00:00:03Z web[web.1]: web two\n2026-01-01T00:00:04Z web[worker.1]: worker two\n" {
		t.Fatalf("logs -n -1 with at most 1 line:\n%s", got)
	}
	if !strings.Contains(notes.String(), "showing the last 1 lines per container") || !strings.Contains(notes.String(), "max_log_lines") {
		t.Fatalf("note: %q", notes.String())
	}
	l.SetMaxLines(0)
	if got := l.linesCap(); got != DefaultMaxLines {
		t.Fatalf("SetMaxLines(0) caps at %d, want the default %d", got, DefaultMaxLines)
	}
}

func TestShowAnAppThatRunsNothing(t *testing.T) {
	e := fakeengine.New()
	t.Cleanup(e.Close)
	idle := newFakeApps("idle")
	l := New(Config{Engine: e, Apps: idle, Builds: idle})
	err := l.Show(context.Background(), "idle", Options{}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "idle runs no container: push to it") {
		t.Fatalf("logs of an app with no containers: %v", err)
	}
	if err := l.Show(context.Background(), "nope", Options{}, &bytes.Buffer{}, &bytes.Buffer{}); !errors.Is(err, platform.ErrAppNotFound) {
		t.Fatalf("logs of a missing app: %v", err)
	}
}

func TestFailedDeployWritesTheNewestFailedBuildsLog(t *testing.T) {
	apps := newFakeApps("web", "fine")
	apps.builds["web"] = []platform.Build{{ID: 3, Status: "succeeded"}, {ID: 2, Status: "failed"}, {ID: 1, Status: "failed"}}
	apps.logs["web/2"] = "build 2 failed here\n"
	apps.logs["web/1"] = "build 1 failed too\n"
	apps.builds["fine"] = []platform.Build{{ID: 1, Status: "succeeded"}}
	l := New(Config{Apps: apps, Builds: apps})
	ctx := context.Background()
	var out bytes.Buffer
	if found, err := l.FailedDeploy(ctx, "web", &out); err != nil || !found || out.String() != "build 2 failed here\n" {
		t.Fatalf("FailedDeploy(web) = %v, %v, %q", found, err, out.String())
	}
	out.Reset()
	if found, err := l.FailedDeploy(ctx, "fine", &out); err != nil || found || out.Len() != 0 {
		t.Fatalf("FailedDeploy(fine) = %v, %v, %q", found, err, out.String())
	}
	if _, err := l.FailedDeploy(ctx, "nope", &out); !errors.Is(err, platform.ErrAppNotFound) {
		t.Fatalf("FailedDeploy(nope) = %v", err)
	}
}

func TestMaxSizes(t *testing.T) {
	if set, computed := MaxSizes(&platform.App{}); set != "" || computed != DefaultMaxSize {
		t.Errorf("unset: %q, %q", set, computed)
	}
	if set, computed := MaxSizes(&platform.App{LogMaxSize: "unlimited"}); set != "unlimited" || computed != "unlimited" {
		t.Errorf("unlimited: %q, %q", set, computed)
	}
}
