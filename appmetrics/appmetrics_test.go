package appmetrics

import (
	"math"
	"slices"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

func TestCollect(t *testing.T) {
	s := New()
	a := s.App("blog")
	a.Observe(200, 3*time.Millisecond)
	a.Observe(200, 30*time.Millisecond)
	a.Observe(502, time.Second)
	a.Observe(42, time.Millisecond) // not a status code: Caddy's 500
	a.UpstreamError()
	s.SetContainers([]ContainerCount{{App: "blog", Process: "web", State: "running", N: 2}})
	s.Deployed("blog", "succeeded", 12*time.Second)
	s.Deployed("blog", "succeeded", 8*time.Second)
	s.Deployed("blog", "failed", time.Second)
	s.AddUsage("blog", Usage{At: time.Now(), CPU: .25, Memory: 3 << 20})
	s.AddUsage("old", Usage{At: time.Now().Add(-5 * time.Minute), CPU: 1, Memory: 1})

	// Caddy's registry is a pedantic one: it checks Describe against Collect.
	reg := prometheus.NewPedanticRegistry()
	reg.MustRegister(s)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			key := mf.GetName()
			for _, l := range m.Label {
				key += "," + l.GetName() + "=" + l.GetValue()
			}
			switch {
			case m.Counter != nil:
				got[key] = m.Counter.GetValue()
			case m.Gauge != nil:
				got[key] = m.Gauge.GetValue()
			case m.Histogram != nil:
				got[key+",count"] = float64(m.Histogram.GetSampleCount())
				got[key+",sum"] = m.Histogram.GetSampleSum()
			}
		}
	}
	want := map[string]float64{
		"berth_app_requests_total,app=blog,code=200":                        2,
		"berth_app_requests_total,app=blog,code=502":                        1,
		"berth_app_requests_total,app=blog,code=500":                        1,
		"berth_app_upstream_errors_total,app=blog":                          1,
		"berth_app_request_duration_seconds,app=blog,count":                 4,
		"berth_app_containers,app=blog,process=web,state=running":           2,
		"berth_app_request_duration_seconds,app=blog,sum":                   1.034,
		"berth_app_deploy_duration_seconds,app=blog,result=succeeded,count": 2,
		"berth_app_deploy_duration_seconds,app=blog,result=succeeded,sum":   20,
		"berth_app_deploy_duration_seconds,app=blog,result=failed,count":    1,
		"berth_app_cpu_cores,app=blog":                                      .25,
		"berth_app_memory_bytes,app=blog":                                   3 << 20,
		"berth_app_deploy_duration_seconds,app=blog,result=failed,sum":      1,
	}
	for k, v := range want {
		if math.Abs(got[k]-v) > 1e-9 {
			t.Errorf("%s = %v, want %v", k, got[k], v)
		}
	}
	if len(got) != len(want) {
		t.Errorf("got %d series, want %d: %v", len(got), len(want), got)
	}

	s.Forget("blog")
	if mfs, _ := reg.Gather(); len(mfs) != 0 {
		t.Errorf("a forgotten app is still listed: %v", mfs)
	}
}

func TestSeries(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := New()
	s.now = func() time.Time { return now }
	if s.Series("blog") != nil {
		t.Fatal("an app never routed a request has a series")
	}
	a := s.App("blog") // its zero sample at 12:00:00
	for i := 0; i < 90; i++ {
		a.Observe(200, 2*time.Millisecond)
	}
	for i := 0; i < 10; i++ {
		a.Observe(503, 200*time.Millisecond)
	}
	now = now.Add(SampleInterval)
	s.Sample()
	for i := 0; i < 30; i++ {
		a.Observe(200, 7*time.Millisecond)
	}
	now = now.Add(10 * time.Second)
	ps := s.Series("blog")
	if len(ps) != 2 {
		t.Fatalf("%d points, want 2: %+v", len(ps), ps)
	}
	p := ps[0]
	if p.Requests != 100 || p.Errors != 10 || math.Abs(p.Rate-100/30.0) > 1e-9 || math.Abs(p.ErrorRate-.1) > 1e-9 {
		t.Errorf("first point %+v", p)
	}
	// 90 of 100 in (1ms, 2.5ms]: the median is in there; the 95th
	// percentile in (.1s, .25s].
	if p.P50 <= .001 || p.P50 > .0025 || p.P95 <= .1 || p.P95 > .25 {
		t.Errorf("p50 %v p95 %v", p.P50, p.P95)
	}
	if q := ps[1]; q.Requests != 30 || q.Errors != 0 || math.Abs(q.Rate-3) > 1e-9 || q.P50 <= .005 || q.P50 > .01 {
		t.Errorf("the running interval %+v", q)
	}
	g, ok := s.Glance("blog")
	if !ok || g.Requests != 130 || g.Errors != 10 {
		t.Errorf("glance %+v %v", g, ok)
	}

	// The ring keeps an hour.
	for i := 0; i < 2*History; i++ {
		now = now.Add(SampleInterval)
		s.Sample()
	}
	if n := len(s.Series("blog")); n != History {
		t.Errorf("%d points after two hours, want %d", n, History)
	}
}

// The cost the berth handler pays per request (bench/ prices it end to
// end against the same handler with `metrics off`).
func BenchmarkObserve(b *testing.B) {
	s := New()
	for _, n := range []string{"a", "b", "blog", "shop", "api"} {
		s.App(n)
	}
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			start := time.Now()
			s.App("blog").Observe(200, time.Since(start))
		}
	})
}

func TestRetain(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := New()
	s.now = func() time.Time { return now }
	s.App("gone").Observe(200, time.Millisecond)
	now = now.Add(time.Second)
	listed := now
	now = now.Add(time.Second)
	s.App("fresh").Observe(200, time.Millisecond) // made after the list was read
	s.Retain([]string{"idle", "fresh"}, listed)
	var names []string
	s.apps.Range(func(k, _ any) bool { names = append(names, k.(string)); return true })
	slices.Sort(names)
	if !slices.Equal(names, []string{"fresh", "idle"}) {
		t.Errorf("apps %v, want fresh (made since) and idle (listed, no request yet)", names)
	}
}

// Retain (the sampler, each tick) makes every app so the endpoint lists
// it, but an app it made is still one no request reached: the dashboard
// says so rather than plotting zeros.
func TestRetainedAppHasNoTrafficUntilARequest(t *testing.T) {
	s := New()
	s.Retain([]string{"blog"}, time.Now())
	s.Sample()
	if p := s.Series("blog"); p != nil {
		t.Errorf("series of an app no request reached: %+v", p)
	}
	if _, ok := s.Glance("blog"); ok {
		t.Error("glance of an app no request reached: ok")
	}
	s.App("blog").Observe(200, time.Millisecond)
	if p, ok := s.Glance("blog"); !ok || p.Requests != 1 {
		t.Errorf("after a request: %+v %v", p, ok)
	}
	if len(s.Series("blog")) == 0 {
		t.Error("after a request: no series")
	}
	s.Retain([]string{"shop"}, time.Now())
	s.App("shop").UpstreamError()
	if _, ok := s.Glance("shop"); !ok {
		t.Error("a request that failed upstream reached the app too")
	}
}

// Latest is the last sample with its containers, and nothing before the
// first sample or once it is stale: never an old figure shown as now's.
func TestLatest(t *testing.T) {
	s := New()
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s.now = func() time.Time { return now }
	if _, ok := s.Latest("a"); ok {
		t.Fatal("a figure before the first sample")
	}
	s.AddUsage("a", Usage{At: now, CPU: .5, Memory: 3 << 20, Containers: []ContainerUsage{
		{Name: "a.web.1", CPU: .2, Memory: 1 << 20}, {Name: "a.web.2", CPU: .3, Memory: 2 << 20}}})
	u, ok := s.Latest("a")
	if !ok || u.CPU != .5 || len(u.Containers) != 2 || u.Containers[1].Name != "a.web.2" {
		t.Fatalf("Latest = %+v, %v", u, ok)
	}
	// The history keeps the sums alone.
	if h := s.Usage("a"); len(h) != 1 || h[0].Containers != nil {
		t.Errorf("the history holds containers: %+v", h)
	}
	now = now.Add(3 * SampleInterval)
	if u, ok := s.Latest("a"); ok {
		t.Errorf("a stale sample is shown as now's: %+v", u)
	}
	s.Forget("a")
	now = now.Add(-3 * SampleInterval)
	if _, ok := s.Latest("a"); ok {
		t.Error("a forgotten app has figures")
	}
}

// Requests a moment after an app's zero sample read as a rate over one
// interval, not over the moment since it.
func TestGlanceOfAFreshAppIsOverOneInterval(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	s := New()
	s.now = func() time.Time { return now }
	a := s.App("blog") // its zero sample now
	now = now.Add(200 * time.Millisecond)
	for i := 0; i < 15; i++ {
		a.Observe(200, time.Millisecond)
	}
	p, ok := s.Glance("blog")
	if !ok || p.Requests != 15 || math.Abs(p.Rate-15/SampleInterval.Seconds()) > 1e-9 {
		t.Errorf("glance %+v %v, want 15 requests at %v/s", p, ok, 15/SampleInterval.Seconds())
	}
}

// A sample under way when its app was destroyed adds the app's usage back
// after Forget; the next Retain drops it, so a gone app's figures do not
// stay in memory for ever.
func TestRetainDropsUsageAddedAfterForget(t *testing.T) {
	s := New()
	s.App("gone").Observe(200, time.Millisecond)
	s.Forget("gone")
	s.AddUsage("gone", Usage{At: time.Now(), Containers: []ContainerUsage{{}}})
	s.Retain(nil, time.Now())
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.usage["gone"]; ok {
		t.Error("usage of a forgotten app kept")
	}
	if _, ok := s.perContainer["gone"]; ok {
		t.Error("container usage of a forgotten app kept")
	}
}
