// Package appmetrics counts what the `berth` handler proxies, per app, and
// keeps the last hour of it in memory: Prometheus metrics on Caddy's
// metrics endpoint (Set is a prometheus.Collector) and the dashboard's
// plots read the same counters.
//
// The hot path (Observe) is a lock-free map load and a few atomic adds;
// everything else (the Prometheus text, the samples, the container
// counts) is done at a scrape or by the sampler in the background.
//
// Labels are bounded: an app is named by the routing table (never by a
// request's Host), a status code is one of 100..999, and a destroyed or
// renamed app is forgotten (Forget).
package appmetrics

import (
	"context"
	"math"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Buckets are the request duration histogram's upper bounds in seconds.
// Finer than Prometheus's defaults below 10 ms, where a proxied request
// on one host mostly falls, so that p50 and p95 read well from them.
var Buckets = [...]float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}

const (
	minCode, maxCode = 100, 999
	// SampleInterval is how often the sampler takes a sample; History
	// samples make the last hour the dashboard plots.
	SampleInterval = 30 * time.Second
	History        = int(time.Hour / SampleInterval)
)

// App is one app's counters since Berth started (or since the app was
// first routed a request).
type App struct {
	born           time.Time // for Retain
	codes          [maxCode - minCode + 1]atomic.Uint64
	hist           [len(Buckets) + 1]atomic.Uint64 // the last one is +Inf
	sumNanos       atomic.Uint64
	upstreamErrors atomic.Uint64
	// seen says a request reached the app: Retain makes every app so
	// that the endpoint lists it, and an app it made with no request is
	// still one that "no request reached" for the dashboard.
	seen atomic.Bool
}

// Observe counts one request answered with code after d.
func (a *App) Observe(code int, d time.Duration) {
	if code < minCode || code > maxCode {
		// A handler error Caddy answers itself.
		code = 500
	}
	a.codes[code-minCode].Add(1)
	a.seen.Store(true)
	s := d.Seconds()
	i := sort.SearchFloat64s(Buckets[:], s) // the first bound >= s
	a.hist[i].Add(1)
	if d > 0 {
		a.sumNanos.Add(uint64(d))
	}
}

// UpstreamError counts a request the proxy could not complete with one of
// the app's containers (refused, dropped, timed out, or none ready).
func (a *App) UpstreamError() {
	a.upstreamErrors.Add(1)
	a.seen.Store(true)
}

// snapshot is an app's counters at one moment.
type snapshot struct {
	at       time.Time
	requests uint64
	errors   uint64 // 5xx
	hist     [len(Buckets) + 1]uint64
}

func (a *App) snapshot(at time.Time) snapshot {
	s := snapshot{at: at}
	for i := range a.hist {
		s.hist[i] = a.hist[i].Load()
		s.requests += s.hist[i]
	}
	for c := 500; c < 600; c++ {
		s.errors += a.codes[c-minCode].Load()
	}
	return s
}

// ContainerCount is how many of an app's containers of one process type
// are in one state (as ps:report names states).
type ContainerCount struct {
	App, Process, State string
	N                   int
}

// Set is the counters of every app, and their recent samples.
type Set struct {
	apps sync.Map // app name -> *App

	mu         sync.Mutex
	rings      map[string]*ring
	containers []ContainerCount
	usage      map[string][]Usage // the last hour's, oldest first
	// perContainer is each app's last sample by container: the reports
	// show it, the plots need only the sums, so the history holds none.
	perContainer map[string][]ContainerUsage
	now          func() time.Time

	requests, duration, upstream, containersDesc *prometheus.Desc
	cpu, memory                                  *prometheus.Desc
	// deploys are rare: a plain histogram vector, locks and all.
	deploys *prometheus.HistogramVec
}

// New returns an empty set.
func New() *Set {
	return &Set{
		rings:        map[string]*ring{},
		usage:        map[string][]Usage{},
		perContainer: map[string][]ContainerUsage{},
		now:          time.Now,
		cpu: prometheus.NewDesc("berth_app_cpu_cores",
			"CPU the app's running containers used over the last sample (30s), in cores (1 is one core busy), from Docker's stats.", []string{"app"}, nil),
		memory: prometheus.NewDesc("berth_app_memory_bytes",
			"Memory the app's running containers use, without the page cache, as docker stats shows it.", []string{"app"}, nil),
		requests: prometheus.NewDesc("berth_app_requests_total",
			"Requests the berth handler answered for the app, by status code.", []string{"app", "code"}, nil),
		duration: prometheus.NewDesc("berth_app_request_duration_seconds",
			"How long the berth handler took to answer the app's requests.", []string{"app"}, nil),
		upstream: prometheus.NewDesc("berth_app_upstream_errors_total",
			"Requests the proxy could not complete with one of the app's containers (refused, dropped, timed out, none ready).", []string{"app"}, nil),
		containersDesc: prometheus.NewDesc("berth_app_containers",
			"The app's containers of its current release, by process type and state (as ps:report shows them).", []string{"app", "process", "state"}, nil),
		deploys: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "berth_app_deploy_duration_seconds",
			Help:    "How long the app's deploys took (push or command to serving, or to failing), by result: succeeded or failed.",
			Buckets: []float64{1, 5, 10, 30, 60, 120, 300, 600, 1800},
		}, []string{"app", "result"}),
	}
}

// Deployed counts a deploy of app that ended with result (succeeded,
// failed) after d.
func (s *Set) Deployed(app, result string, d time.Duration) {
	s.deploys.WithLabelValues(app, result).Observe(d.Seconds())
}

// App returns app's counters, made on first use. name must come from the
// routing table.
func (s *Set) App(name string) *App {
	if v, ok := s.apps.Load(name); ok {
		return v.(*App)
	}
	v, loaded := s.apps.LoadOrStore(name, &App{born: s.now()})
	if !loaded {
		// A zero sample first, so that the plots count the requests
		// before the sampler's next tick too.
		s.mu.Lock()
		if s.rings[name] == nil {
			r := new(ring)
			r.add(snapshot{at: s.now()})
			s.rings[name] = r
		}
		s.mu.Unlock()
	}
	return v.(*App)
}

// Forget drops an app's counters and samples (it was destroyed or
// renamed), so that the metrics endpoint does not list it forever.
func (s *Set) Forget(name string) {
	s.apps.Delete(name)
	s.deploys.DeletePartialMatch(prometheus.Labels{"app": name})
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.rings, name)
	delete(s.usage, name)
	delete(s.perContainer, name)
	kept := s.containers[:0:0]
	for _, c := range s.containers {
		if c.App != name {
			kept = append(kept, c)
		}
	}
	s.containers = kept
}

// Usage is an app's resource use at one sample, summed over its running
// containers.
type Usage struct {
	At time.Time
	// CPU is in cores (0.5: half of one core busy) over the interval
	// since the last sample (since the container started, for a new one).
	CPU    float64
	Memory uint64
	// Containers is the figures of each running container, summed in
	// CPU and Memory; only the latest sample (Latest) keeps them.
	Containers []ContainerUsage
}

// ContainerUsage is one running container's resource use at a sample.
type ContainerUsage struct {
	Name   string // APP.TYPE.N, as ps:report names it
	CPU    float64
	Memory uint64
}

// stale is how old the last sample may be and still be shown as the
// app's use now: older is of containers that are gone (scaled to zero,
// stopped), and shows as no figure rather than an old one.
const stale = 2*SampleInterval + SampleInterval/2

// AddUsage records an app's resource use (the sampler reads it from
// Docker).
func (s *Set) AddUsage(app string, u Usage) {
	s.mu.Lock()
	defer s.mu.Unlock()
	// A copy: Latest hands these out under the lock, and a caller that
	// reused its slice would otherwise change them under a reader.
	s.perContainer[app] = slices.Clone(u.Containers)
	u.Containers = nil
	us := append(s.usage[app], u)
	if len(us) > History {
		us = append(us[:0:0], us[len(us)-History:]...)
	}
	s.usage[app] = us
}

// Usage returns the app's resource use over the last hour, oldest first.
func (s *Set) Usage(app string) []Usage {
	s.mu.Lock()
	defer s.mu.Unlock()
	from := s.now().Add(-time.Hour)
	var out []Usage
	for _, u := range s.usage[app] {
		if u.At.After(from) {
			out = append(out, u)
		}
	}
	return out
}

// Latest is the app's last resource sample with its containers' figures,
// if it is recent (taken within the last two and a half intervals): ok
// is false before the first sample and once the app's containers are
// gone, so that no one reads an old or made-up figure as today's.
func (s *Set) Latest(app string) (u Usage, ok bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	us := s.usage[app]
	if len(us) == 0 {
		return Usage{}, false
	}
	u = us[len(us)-1]
	if s.now().Sub(u.At) > stale {
		return Usage{}, false
	}
	u.Containers = append([]ContainerUsage(nil), s.perContainer[app]...)
	return u, true
}

// Retain makes sure every app of names is listed (an app that was never
// routed a request shows zeros, so the endpoint shows every app), and
// forgets the apps not among them that were made before listed: the
// time names were read, so that an app made since keeps its counts.
// Forget does this at once for a destroyed or renamed app; Retain
// catches one that a request made again just after.
func (s *Set) Retain(names []string, listed time.Time) {
	keep := make(map[string]bool, len(names))
	for _, n := range names {
		keep[n] = true
		s.App(n)
	}
	var gone []string
	s.apps.Range(func(k, v any) bool {
		if !keep[k.(string)] && v.(*App).born.Before(listed) {
			gone = append(gone, k.(string))
		}
		return true
	})
	for _, n := range gone {
		s.Forget(n)
	}
	// A sample that was under way when its app was forgotten adds its
	// usage back after Forget; nothing else would ever remove it.
	s.mu.Lock()
	defer s.mu.Unlock()
	for n := range s.usage {
		if _, ok := s.apps.Load(n); !ok {
			delete(s.usage, n)
			delete(s.perContainer, n) // added and forgotten with usage
		}
	}
}

// SetContainers replaces the container counts (the sampler reads them
// from the platform).
func (s *Set) SetContainers(cs []ContainerCount) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.containers = cs
}

// Describe is prometheus.Collector's.
func (s *Set) Describe(ch chan<- *prometheus.Desc) {
	ch <- s.requests
	ch <- s.duration
	ch <- s.upstream
	ch <- s.containersDesc
	ch <- s.cpu
	ch <- s.memory
	s.deploys.Describe(ch)
}

// Collect is prometheus.Collector's.
func (s *Set) Collect(ch chan<- prometheus.Metric) {
	s.apps.Range(func(k, v any) bool {
		name, a := k.(string), v.(*App)
		for i := range a.codes {
			if n := a.codes[i].Load(); n > 0 {
				ch <- prometheus.MustNewConstMetric(s.requests, prometheus.CounterValue, float64(n), name, itoa(i+minCode))
			}
		}
		var count uint64
		buckets := make(map[float64]uint64, len(Buckets))
		for i, b := range Buckets {
			count += a.hist[i].Load()
			buckets[b] = count
		}
		count += a.hist[len(Buckets)].Load()
		ch <- prometheus.MustNewConstHistogram(s.duration, count, float64(a.sumNanos.Load())/1e9, buckets, name)
		ch <- prometheus.MustNewConstMetric(s.upstream, prometheus.CounterValue, float64(a.upstreamErrors.Load()), name)
		return true
	})
	s.deploys.Collect(ch)
	s.mu.Lock()
	cs := s.containers
	var latest []Usage
	var names []string
	for app, us := range s.usage {
		// A stale sample is of containers that are gone: no figure
		// rather than an old one.
		if u := us[len(us)-1]; s.now().Sub(u.At) <= stale {
			latest, names = append(latest, u), append(names, app)
		}
	}
	s.mu.Unlock()
	for i, u := range latest {
		ch <- prometheus.MustNewConstMetric(s.cpu, prometheus.GaugeValue, u.CPU, names[i])
		ch <- prometheus.MustNewConstMetric(s.memory, prometheus.GaugeValue, float64(u.Memory), names[i])
	}
	for _, c := range cs {
		ch <- prometheus.MustNewConstMetric(s.containersDesc, prometheus.GaugeValue, float64(c.N), c.App, c.Process, c.State)
	}
}

func itoa(n int) string {
	// Codes are three digits.
	return string([]byte{byte('0' + n/100), byte('0' + n/10%10), byte('0' + n%10)})
}

// ring is an app's last hour of snapshots, oldest first.
type ring struct {
	snaps [History + 1]snapshot
	next  int
	n     int
}

func (r *ring) add(s snapshot) {
	r.snaps[r.next] = s
	r.next = (r.next + 1) % len(r.snaps)
	if r.n < len(r.snaps) {
		r.n++
	}
}

func (r *ring) each(f func(snapshot)) {
	start := (r.next - r.n + len(r.snaps)) % len(r.snaps)
	for i := 0; i < r.n; i++ {
		f(r.snaps[(start+i)%len(r.snaps)])
	}
}

// Sample takes a snapshot of every app's counters.
func (s *Set) Sample() {
	now := s.now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.apps.Range(func(k, v any) bool {
		r := s.rings[k.(string)]
		if r == nil {
			r = new(ring)
			s.rings[k.(string)] = r
		}
		r.add(v.(*App).snapshot(now))
		return true
	})
}

// Run samples every SampleInterval until ctx ends; refresh, when not
// nil, is called beside each sample (the container counts).
func (s *Set) Run(ctx context.Context, refresh func(context.Context)) {
	t := time.NewTicker(SampleInterval)
	defer t.Stop()
	s.Sample()
	if refresh != nil {
		refresh(ctx)
	}
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			s.Sample()
			if refresh != nil {
				refresh(ctx)
			}
		}
	}
}

// Point is one interval of an app's traffic.
type Point struct {
	End time.Time
	// Rate is requests per second, ErrorRate the share of them answered
	// 5xx (0..1); P50 and P95 are latencies in seconds (estimated from
	// the histogram's buckets; 0 with no request).
	Rate, ErrorRate, P50, P95 float64
	Requests, Errors          uint64
}

// Series returns the app's points over the last hour, oldest first; the
// last one runs from the last sample to now, so a request shows at once.
// It is empty for an app that was never routed a request.
func (s *Set) Series(app string) []Point {
	v, ok := s.apps.Load(app)
	if !ok || !v.(*App).seen.Load() {
		return nil
	}
	now := v.(*App).snapshot(s.now())
	s.mu.Lock()
	var snaps []snapshot
	if r := s.rings[app]; r != nil {
		r.each(func(x snapshot) { snaps = append(snaps, x) })
	}
	s.mu.Unlock()
	snaps = append(snaps, now)
	var out []Point
	for i := 1; i < len(snaps); i++ {
		if p, ok := between(snaps[i-1], snaps[i]); ok {
			out = append(out, p)
		}
	}
	return out
}

// Glance is the app's traffic over the last five minutes, for the apps
// page: requests per second and the share answered 5xx. ok is false for
// an app that was never routed a request.
func (s *Set) Glance(app string) (p Point, ok bool) {
	v, found := s.apps.Load(app)
	if !found || !v.(*App).seen.Load() {
		return Point{}, false
	}
	now := v.(*App).snapshot(s.now())
	from := snapshot{at: now.at} // no sample yet: everything so far
	s.mu.Lock()
	if r := s.rings[app]; r != nil {
		r.each(func(x snapshot) {
			if now.at.Sub(x.at) <= 5*time.Minute && from.at.Equal(now.at) {
				from = x
			}
		})
	}
	s.mu.Unlock()
	if from.requests == 0 && now.at.Sub(from.at) < SampleInterval {
		// Counters since the app's first request (its zero sample, or
		// none yet), over at least one interval: a fresh Berth's first
		// requests still show, and 13 requests a moment after the zero
		// sample read as 13 over the last 30 s (there was none before
		// it), not as hundreds a second.
		from.at = now.at.Add(-SampleInterval)
	}
	p, _ = between(from, now)
	return p, true
}

// between is the traffic from snapshot a to b.
func between(a, b snapshot) (Point, bool) {
	secs := b.at.Sub(a.at).Seconds()
	if secs <= 0 || b.requests < a.requests {
		return Point{}, false
	}
	p := Point{End: b.at, Requests: b.requests - a.requests, Errors: b.errors - a.errors}
	p.Rate = float64(p.Requests) / secs
	if p.Requests > 0 {
		p.ErrorRate = float64(p.Errors) / float64(p.Requests)
		var d [len(Buckets) + 1]uint64
		for i := range d {
			d[i] = b.hist[i] - a.hist[i]
		}
		p.P50, p.P95 = quantile(d, p.Requests, .5), quantile(d, p.Requests, .95)
	}
	return p, true
}

// quantile estimates the q-quantile from bucket counts the way
// Prometheus's histogram_quantile does: linearly within the bucket it
// falls in; in the +Inf bucket, the highest finite bound.
func quantile(counts [len(Buckets) + 1]uint64, total uint64, q float64) float64 {
	rank := q * float64(total)
	var seen float64
	for i, c := range counts {
		if c == 0 {
			continue
		}
		if seen+float64(c) >= rank {
			if i == len(Buckets) {
				return Buckets[len(Buckets)-1]
			}
			lo := 0.0
			if i > 0 {
				lo = Buckets[i-1]
			}
			return lo + (Buckets[i]-lo)*math.Max(0, rank-seen)/float64(c)
		}
		seen += float64(c)
	}
	return Buckets[len(Buckets)-1]
}
