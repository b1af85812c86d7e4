package applogs

import (
	"bytes"
	"context"
	"slices"
	"testing"

	"github.com/berth-paas/berth/internal/fakeprocs"
	"github.com/berth-paas/berth/platform"
)

// remoteLogs is newLogs whose app "web" another scheduler runs (swarm):
// its processes' output comes from that scheduler, not from the engine's
// containers (which newLogs made, and which must not show).
func remoteLogs(t *testing.T) (*Logs, *fakeprocs.Processes) {
	l, _ := newLogs(t)
	procs := &fakeprocs.Processes{Output: map[string]string{
		"web.2":    "2026-01-01T00:00:01Z task two a\n2026-01-01T00:00:04Z task two b\n",
		"worker.1": "2026-01-01T00:00:02Z worker task\n",
	}}
	l.sched = &fakeprocs.Scheduler{Remote: map[string]bool{"web": true}, Processes: procs}
	return l, procs
}

func TestShowReadsTheOutputOfAnotherSchedulersProcessesInTheSameFormat(t *testing.T) {
	l, procs := remoteLogs(t)
	var out, notes bytes.Buffer
	if err := l.Show(context.Background(), "web", Options{Lines: 100}, &out, &notes); err != nil {
		t.Fatal(err)
	}
	want := "2026-01-01T00:00:01Z web[web.2]: task two a\n" +
		"2026-01-01T00:00:02Z web[worker.1]: worker task\n" +
		"2026-01-01T00:00:04Z web[web.2]: task two b\n"
	if out.String() != want {
		t.Fatalf("logs:\n%s\nwant:\n%s", out.String(), want)
	}
	if got := procs.Calls(); !slices.Contains(got, "logs web.2 tail=100 follow=false") {
		t.Fatalf("asked %v", got)
	}
}

func TestShowPassesTailProcessAndCapToAnotherScheduler(t *testing.T) {
	l, procs := remoteLogs(t)
	l.SetMaxLines(1)
	var out, notes bytes.Buffer
	if err := l.Show(context.Background(), "web", Options{Lines: -1, Process: "web.2", Follow: true}, &out, &notes); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2026-01-01T00:00:04Z web[web.2]: task two b\n" {
		t.Fatalf("logs -t -n -1 -p web.2 with at most 1 line:\n%s", out.String())
	}
	if got := procs.Calls(); !slices.Equal(got, []string{"logs web.2 tail=1 follow=true"}) {
		t.Fatalf("asked %v", got)
	}
	if err := l.Show(context.Background(), "web", Options{Process: "clock"}, &out, &notes); err == nil || err.Error() != "web runs no clock container" {
		t.Fatalf("logs -p clock: %v", err)
	}
}

// An app the other scheduler does not run keeps reading its containers.
func TestShowOfADockerLocalAppBesideAnotherScheduler(t *testing.T) {
	l, procs := remoteLogs(t)
	l.sched = &fakeprocs.Scheduler{Remote: map[string]bool{"other": true}, Processes: procs}
	var out bytes.Buffer
	if err := l.Show(context.Background(), "web", Options{Lines: 100, Process: "worker"}, &out, &out); err != nil {
		t.Fatal(err)
	}
	if out.String() != "2026-01-01T00:00:02Z web[worker.1]: worker one\n2026-01-01T00:00:04Z web[worker.1]: worker two\n" || len(procs.Calls()) != 0 {
		t.Fatalf("logs:\n%s asked %v", out.String(), procs.Calls())
	}
}

var _ platform.Scheduler = (*fakeprocs.Scheduler)(nil)
