package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"sync"
)

// streamSlots counts the live streams open per key that made their
// session (each follows a Docker log or polls a build): a key gets as
// many as it may open SSH sessions, since either way it is a command left
// running.
type streamSlots struct {
	mu       sync.Mutex
	open     map[string]int // by grant key
	perKey   int            // per deploy key
	perAdmin int            // per admin key
}

func newStreamSlots() *streamSlots {
	return &streamSlots{open: map[string]int{}, perKey: DefaultMaxStreamsPerKey, perAdmin: DefaultMaxStreamsPerAdminKey}
}

// setLimits is Dashboard.SetStreamLimits.
func (l *streamSlots) setLimits(perKey, perAdminKey int) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.perKey, l.perAdmin = perKey, perAdminKey
}

// errTooManyStreams is answered 429.
type errTooManyStreams struct {
	open    int
	setting string
}

func (e *errTooManyStreams) Error() string {
	return fmt.Sprintf("Too many live views for this key (%d open): close some dashboard tabs showing live logs or build logs, and sign out of sessions you no longer use (`dashboard:logout-all` ends them all), then reload. The server's limit is the Caddyfile's %s (the setting of SSH sessions; dashboard views are counted apart).", e.open, e.setting)
}

// acquire takes one of the session key's stream slots, or says why not.
func (l *streamSlots) acquire(s *session) (release func(), err error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	max, setting := l.perKey, "ssh_max_sessions_per_key"
	if s.app == "" {
		max, setting = l.perAdmin, "ssh_max_sessions_per_admin_key"
	}
	k := s.grant.Key
	if max > 0 && l.open[k] >= max {
		return nil, &errTooManyStreams{l.open[k], setting}
	}
	l.open[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			l.mu.Lock()
			defer l.mu.Unlock()
			if l.open[k]--; l.open[k] <= 0 {
				delete(l.open, k)
			}
		})
	}, nil
}

// streamContext is the context of a live stream: done when the browser
// leaves or the session ends.
func streamContext(r *http.Request, s *session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}
