package appproxy

import (
	"sync"
	"sync/atomic"
	"time"
)

// DefaultFailDuration is how long a target whose dial failed stays out
// of choice (nginx's fail_timeout default; Caddy's fail_duration has
// none): long enough that a dead node's tasks are skipped until Swarm
// reports the node down (10 to 15 s measured, docs/SCALING.md), short
// enough that a target that failed once for a passing reason is back
// soon. When it ends, one request tries the target again (a probe)
// while the others keep skipping it.
const DefaultFailDuration = 10 * time.Second

// health is the proxy's passive health check, shared by all requests:
// the targets whose dial failed recently. The success path costs one
// atomic load while no target is marked (until is 0), and a map lookup
// per target while one is.
type health struct {
	fail time.Duration
	// until is the latest deadline of any mark (nanoseconds since
	// epoch), 0 when none is pending.
	until atomic.Int64
	// marks maps a target to its *atomic.Int64 deadline.
	marks sync.Map
}

// epoch makes the deadlines monotonic (time.Since of it).
var epoch = time.Now()

func now() int64 { return int64(time.Since(epoch)) }

// none says whether no target is marked down: the common case.
func (h *health) none() bool {
	if h == nil {
		return true
	}
	u := h.until.Load()
	if u == 0 {
		return true
	}
	if now() < u+int64(h.fail) {
		return false
	}
	// Every mark has run out, and a fail duration more has passed in
	// which a probe could claim it: forget them (once; a mark set
	// meanwhile raised until and keeps it).
	if h.until.CompareAndSwap(u, 0) {
		h.marks.Range(func(k, v any) bool {
			if d := v.(*atomic.Int64).Load(); d <= u {
				h.marks.CompareAndDelete(k, v)
			}
			return true
		})
	}
	return true
}

// markDown takes t out of choice for the fail duration.
func (h *health) markDown(t string) {
	d := now() + int64(h.fail)
	v, _ := h.marks.LoadOrStore(t, new(atomic.Int64))
	v.(*atomic.Int64).Store(d)
	for {
		u := h.until.Load()
		if u >= d || h.until.CompareAndSwap(u, d) {
			return
		}
	}
}

// markUp ends t's mark: a probe of it reached it.
func (h *health) markUp(t string) {
	if v, ok := h.marks.Load(t); ok {
		v.(*atomic.Int64).Store(0)
	}
}

// state is t's: up (no mark, or ended by markUp), down (marked), or
// probe (its mark ran out: the caller may probe it once it claims it).
// A mark not claimed for a fail duration after it ran out is forgotten
// (none).
type targetState int

const (
	up targetState = iota
	down
	probe
)

func (h *health) state(t string, at int64) (targetState, *atomic.Int64, int64) {
	v, ok := h.marks.Load(t)
	if !ok {
		return up, nil, 0
	}
	m := v.(*atomic.Int64)
	d := m.Load()
	switch {
	case d == 0:
		return up, nil, 0
	case at < d:
		return down, nil, 0
	}
	return probe, m, d
}

// claim makes the caller t's only prober: the others skip it for
// another fail duration, or until the probe's dial fails (markDown) or
// works (markUp).
func (h *health) claim(m *atomic.Int64, d, at int64) bool {
	nd := at + int64(h.fail)
	if !m.CompareAndSwap(d, nd) {
		return false
	}
	for {
		u := h.until.Load()
		if u >= nd || h.until.CompareAndSwap(u, nd) {
			return true
		}
	}
}
