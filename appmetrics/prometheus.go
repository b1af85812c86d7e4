// The Set as a prometheus.Collector: the metrics Caddy's endpoint shows.

package appmetrics

import (
	"github.com/prometheus/client_golang/prometheus"
)

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
