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
