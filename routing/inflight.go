package routing

import (
	"sync"
	"sync/atomic"
)

// InFlight counts the requests each upstream address is serving, from the
// moment the proxy sends one until its response body is closed, so that
// long-lived responses (streams, websockets) count for as long as they
// last. A deploy drains an old container by waiting for its count to
// reach zero before stopping it.
type InFlight struct {
	counts sync.Map // address → *atomic.Int64
}

// Begin counts one request to addr; call the returned function (once)
// when it is done.
func (f *InFlight) Begin(addr string) (done func()) {
	v, ok := f.counts.Load(addr)
	if !ok {
		v, _ = f.counts.LoadOrStore(addr, new(atomic.Int64))
	}
	n := v.(*atomic.Int64)
	n.Add(1)
	var once sync.Once
	return func() { once.Do(func() { n.Add(-1) }) }
}

// Count is the number of requests addr is serving now.
func (f *InFlight) Count(addr string) int64 {
	if v, ok := f.counts.Load(addr); ok {
		return v.(*atomic.Int64).Load()
	}
	return 0
}
