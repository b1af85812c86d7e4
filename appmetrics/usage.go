// Apps' resource use (CPU, memory per container) as the sampler records it, and
// the latest figures the dashboard and reports read.

package appmetrics

import (
	"slices"
	"time"
)

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
