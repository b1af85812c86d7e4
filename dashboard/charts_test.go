package dashboard

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/commands"
)

// fakeMetrics notes which apps' traffic was read.
type fakeMetrics struct{ asked []string }

func (f *fakeMetrics) Series(app string) []appmetrics.Point {
	f.asked = append(f.asked, app)
	return []appmetrics.Point{{End: time.Now(), Rate: 2, Requests: 60}}
}

func (f *fakeMetrics) Usage(app string) []appmetrics.Usage {
	f.asked = append(f.asked, app)
	return []appmetrics.Usage{{At: time.Now(), CPU: .031, Memory: 5 << 20}}
}

func (f *fakeMetrics) Glance(app string) (appmetrics.Point, bool) {
	f.asked = append(f.asked, app)
	return appmetrics.Point{Rate: 2, Requests: 60, Errors: 6, ErrorRate: .1}, true
}

// A deploy key's session cannot read another app's traffic: the page is
// refused by the command table's scope before any metric is read.
func TestAnotherAppsMetricsAreNotRead(t *testing.T) {
	m := &fakeMetrics{}
	d := New(Config{Metrics: m, StillGranted: func(context.Context, commands.LoginGrant) error { return nil }})
	d.SetHost("dash.example.test", 0, nil)
	c := signInAs(t, d, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	w := do(d, "GET", "/apps/shop", nil, http.Header{"Cookie": {c.String()}})
	if w.Code != http.StatusForbidden {
		t.Errorf("another app's page: %d, want 403", w.Code)
	}
	if strings.Contains(w.Body.String(), "chart-") || len(m.asked) > 0 {
		t.Errorf("another app's metrics were read (%v) or shown", m.asked)
	}
}

func TestTrafficFiguresAndCharts(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	tr := appTraffic(&fakeMetrics{}, "blog", now)
	if !tr.Has || tr.Rate != "2.0/s" || tr.ErrorRate != "10%" || tr.CPU != "3.1%" || tr.Memory != "5.0 MiB" {
		t.Errorf("figures %+v", tr)
	}
	_, broken := glance(&fakeMetrics{}, "blog")
	if !strings.Contains(broken, "10% of requests answered 5xx") {
		t.Errorf("an app answering 10%% 5xx is not broken: %q", broken)
	}
	for _, c := range []string{string(tr.RateChart), string(tr.ErrChart), string(tr.LatencyChart), string(tr.CPUChart), string(tr.MemChart)} {
		if !strings.Contains(c, "<svg") || strings.Contains(c, "NaN") || strings.Contains(c, "Inf") {
			t.Errorf("chart %s", c)
		}
	}
	if !strings.Contains(string(tr.RateChart), "<polyline") {
		t.Errorf("no line in %s", tr.RateChart)
	}
	if got := niceCeil(3.2); got != 5 {
		t.Errorf("niceCeil(3.2) = %v", got)
	}
	if got := niceCeil(0.013); got != 0.02 {
		t.Errorf("niceCeil(0.013) = %v", got)
	}
}

// The config and domain forms pass names to the command table, never
// flags: a forged --global is refused before any command runs (this
// dashboard has no backend at all).
func TestFormsPassNoFlags(t *testing.T) {
	d, _ := newTest(t)
	c, s := signIn(t, d)
	for _, tc := range []struct{ action, field, value string }{
		{"config-set", "key", "--global"},
		{"config-unset", "key", "-x"},
		{"config-set", "key", "1ABC"},
		{"domain-add", "domain", "--global"},
		{"domain-remove", "domain", "-example.com"},
		{"domain-add", "domain", "a b"},
	} {
		w := do(d, "POST", "/apps/blog/"+tc.action, url.Values{"csrf": {s.csrf}, tc.field: {tc.value}, "value": {"v"}},
			http.Header{"Cookie": {c.String()}, "Origin": {"http://dash.example.test"}})
		if w.Code != http.StatusBadRequest {
			t.Errorf("%s %s=%q: %d, want 400", tc.action, tc.field, tc.value, w.Code)
		}
	}
}
