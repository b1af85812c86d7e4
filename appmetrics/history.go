// The last hour in memory: the sampler's ring of points per app and the series,
// glances and quantiles the dashboard plots from them.

package appmetrics

import (
	"context"
	"math"
	"time"
)

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
