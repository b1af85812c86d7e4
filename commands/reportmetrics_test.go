package commands

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/platform"
)

type fakeMetrics struct {
	glance map[string]appmetrics.Point
	usage  map[string]appmetrics.Usage
}

func (m fakeMetrics) Glance(app string) (appmetrics.Point, bool) {
	p, ok := m.glance[app]
	return p, ok
}

func (m fakeMetrics) Latest(app string) (appmetrics.Usage, bool) {
	u, ok := m.usage[app]
	return u, ok
}

var reportProcs = []platform.ProcessStatus{
	{Name: "blog.web.1", Type: "web", Index: 1, State: "running"},
	{Name: "blog.web.2", Type: "web", Index: 2, State: "running"},
	{Name: "blog.worker.1", Type: "worker", Index: 1, State: "exited"},
}

// reportLines is what ps:report prints of f, read back as report keys.
func reportLines(f appFigures, prefix string, procs []platform.ProcessStatus) map[string]string {
	var buf bytes.Buffer
	tw := tabwriter.NewWriter(&buf, 0, 4, 2, ' ', 0)
	f.trafficLines(tw, prefix)
	f.containerLines(tw, procs)
	tw.Flush()
	_, values := reportValues(buf.String())
	return values
}

func TestReportFiguresWithSamples(t *testing.T) {
	at := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	m := fakeMetrics{
		glance: map[string]appmetrics.Point{"blog": {Rate: 1.5, ErrorRate: .025, P50: .0012, P95: .0345, Requests: 450, Errors: 11}},
		usage: map[string]appmetrics.Usage{"blog": {At: at, CPU: .75, Memory: 48 << 20, Containers: []appmetrics.ContainerUsage{
			{Name: "blog.web.1", CPU: .5, Memory: 32 << 20}, {Name: "blog.web.2", CPU: .25, Memory: 16 << 20}}}},
	}
	got := reportLines(figuresOf(m, "blog", reportProcs), "Ps", reportProcs)
	for key, want := range map[string]string{
		"--ps-traffic-window":       "last 5 minutes",
		"--ps-requests-per-second":  "1.50",
		"--ps-5xx-percent":          "2.5",
		"--ps-latency-p50-ms":       "1.20",
		"--ps-latency-p95-ms":       "34.50",
		"--ps-cpu-percent":          "75.0",
		"--ps-memory-mib":           "48.0",
		"--ps-cpu-percent-web-1":    "50.0",
		"--ps-memory-mib-web-1":     "32.0",
		"--ps-cpu-percent-web-2":    "25.0",
		"--ps-memory-mib-web-2":     "16.0",
		"--ps-cpu-percent-worker-1": "not running",
		"--ps-memory-mib-worker-1":  "not running",
	} {
		if got[key] != want {
			t.Errorf("%s = %q, want %q", key, got[key], want)
		}
	}
}

// With no sample the reports say so in words: never a 0 that reads as
// an idle app.
func TestReportFiguresWithoutSamples(t *testing.T) {
	for name, m := range map[string]Metrics{"no metrics": nil, "none yet": fakeMetrics{}} {
		f := figuresOf(m, "blog", reportProcs)
		got := reportLines(f, "Ps", reportProcs)
		for _, key := range []string{"--ps-requests-per-second", "--ps-5xx-percent", "--ps-latency-p50-ms", "--ps-latency-p95-ms"} {
			if got[key] != "no requests yet" {
				t.Errorf("%s: %s = %q, want no requests yet", name, key, got[key])
			}
		}
		for _, key := range []string{"--ps-cpu-percent", "--ps-memory-mib", "--ps-cpu-percent-web-1", "--ps-memory-mib-web-2"} {
			if got[key] != "no samples yet" {
				t.Errorf("%s: %s = %q, want no samples yet", name, key, got[key])
			}
		}
		b, err := json.Marshal(f)
		if err != nil {
			t.Fatal(err)
		}
		for _, field := range []string{`"requests_per_second":null`, `"error_5xx_percent":null`, `"cpu_percent":null`, `"memory_bytes":null`} {
			if !strings.Contains(string(b), field) {
				t.Errorf("%s: JSON %s has no %s", name, b, field)
			}
		}
	}
}

// Requests before the window but none in it: the rate is a real 0, the
// share of 5xx and the latencies are of no request.
func TestReportFiguresNoRecentRequests(t *testing.T) {
	m := fakeMetrics{glance: map[string]appmetrics.Point{"blog": {}}}
	got := reportLines(figuresOf(m, "blog", nil), "App", nil)
	if got["--app-requests-per-second"] != "0.00" {
		t.Errorf("rate = %q, want 0.00", got["--app-requests-per-second"])
	}
	for _, key := range []string{"--app-5xx-percent", "--app-latency-p50-ms", "--app-latency-p95-ms"} {
		if got[key] != "no requests in the last 5 minutes" {
			t.Errorf("%s = %q", key, got[key])
		}
	}
	if _, ok := got["--ps-cpu-percent-web-1"]; ok {
		t.Error("apps:report has container lines")
	}
}

// A container ps:report lists that the last sample has not seen yet (a
// new one) has no figure, the others theirs.
func TestReportFiguresNewContainer(t *testing.T) {
	m := fakeMetrics{usage: map[string]appmetrics.Usage{"blog": {At: time.Now(), CPU: .1, Memory: 1 << 20,
		Containers: []appmetrics.ContainerUsage{{Name: "blog.web.1", CPU: .1, Memory: 1 << 20}}}}}
	got := reportLines(figuresOf(m, "blog", reportProcs), "Ps", reportProcs)
	if got["--ps-cpu-percent-web-1"] != "10.0" || got["--ps-cpu-percent-web-2"] != "no samples yet" {
		t.Errorf("web.1 %q, web.2 %q", got["--ps-cpu-percent-web-1"], got["--ps-cpu-percent-web-2"])
	}
}
