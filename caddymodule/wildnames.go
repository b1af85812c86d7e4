package caddymodule

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	"github.com/berth-paas/berth/routing"
)

// The default budget of on-demand certificates under one wildcard domain
// (Caddyfile: wildcard_certs_per_hour, wildcard_certs_max). Every name
// under *.example.org is anyone's to ask for, and each new one is an ACME
// order: unbounded, a visitor could spend Let's Encrypt's 50 certificates
// per registered domain per week in a minute, and no new app of the
// domain would get one. A site with more names under one wildcard wants
// one wildcard certificate (certs:add, or a DNS-01 *.DOMAIN site).
const (
	DefaultWildcardCertsPerHour = 20
	DefaultWildcardCertsMax     = 500
)

// wildcardNames are the names the permission allowed because an app's
// wildcard domain covers them, not because an app names them, kept per
// wildcard. They are the wildcard's budget (allow): a name remembered is
// allowed again (a renewal, a restart) for free; a new one only while
// the wildcard has taken fewer than perHour new names in the last hour
// and max in all. And Caddy caches the certificate it obtains for such a
// name under the name; when the wildcard goes, the routing table's
// hosts-gone hook names only the wildcard ("*.example.org"), and Caddy's
// cache cannot be searched by suffix: these are the names to evict then
// (gone).
type wildcardNames struct {
	mu      sync.Mutex
	perHour int // 0: no new name (set by setBudget; the zero value is the defaults')
	max     int
	set     bool
	byWild  map[string]*wildNameSet // by wildcard, "*.example.org"
	log     *slog.Logger
	now     func() time.Time // tests
}

type wildNameSet struct {
	names map[string]struct{}
	// added are the times new names were added in the last hour, oldest
	// first.
	added []time.Time
	// warned is when a refusal was last logged: one line a minute per
	// wildcard, however many names a visitor tries.
	warned time.Time
}

// setBudget sets the budget (a config reload may change it; names already
// remembered stay).
func (w *wildcardNames) setBudget(perHour, max int, log *slog.Logger) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.perHour, w.max, w.set, w.log = perHour, max, true, log
}

func (w *wildcardNames) budget() (perHour, max int) {
	if !w.set {
		return DefaultWildcardCertsPerHour, DefaultWildcardCertsMax
	}
	return w.perHour, w.max
}

// allow remembers name (a lowercase host) under wild (the wildcard that
// covers it, "*.example.org") if it is remembered already or the
// wildcard's budget has room, and says why not otherwise.
func (w *wildcardNames) allow(wild, name string) error {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.byWild == nil {
		w.byWild = map[string]*wildNameSet{}
	}
	s := w.byWild[wild]
	if s == nil {
		s = &wildNameSet{names: map[string]struct{}{}}
		w.byWild[wild] = s
	}
	if _, ok := s.names[name]; ok {
		return nil
	}
	now := time.Now()
	if w.now != nil {
		now = w.now()
	}
	for len(s.added) > 0 && now.Sub(s.added[0]) >= time.Hour {
		s.added = s.added[1:]
	}
	perHour, max := w.budget()
	var why string
	switch {
	case len(s.names) >= max:
		why = fmt.Sprintf("%d names under %s have certificates already (wildcard_certs_max %d)", len(s.names), wild, max)
	case len(s.added) >= perHour:
		why = fmt.Sprintf("%d new names under %s got certificates in the last hour (wildcard_certs_per_hour %d)", len(s.added), wild, perHour)
	}
	if why != "" {
		if w.log != nil && now.Sub(s.warned) >= time.Minute {
			s.warned = now
			w.log.Warn("no on-demand certificate for a new name under a wildcard domain: "+why+
				"; give the app a wildcard certificate (certs:add APP with a *.DOMAIN certificate, or a DNS-01 *.DOMAIN site in the Caddyfile), or raise the budget in the Caddyfile's berth options",
				"name", name, "wildcard", wild)
		}
		return fmt.Errorf("the on-demand certificate budget of %s is spent: %s", wild, why)
	}
	s.names[name] = struct{}{}
	s.added = append(s.added, now)
	return nil
}

// forget drops name from wild's names (the permission's re-check found
// the wildcard gone meanwhile).
func (w *wildcardNames) forget(wild, name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if s := w.byWild[wild]; s != nil {
		delete(s.names, name)
	}
}

// gone turns the hosts a table write took away (or disabled) into the
// names whose cached certificates must go: the exact hosts among them,
// and the remembered names of a wildcard among them that table no longer
// serves. Those it still routes through another wildcard keep theirs (a
// certificate is the name's, not the app's): they are that wildcard's
// names now (without taking from its budget); as an exact host, that
// host's removal evicts it. The wildcards themselves are left out: no
// certificate of Berth's is cached under one, and one the Caddyfile
// manages (a DNS-01 *.DOMAIN site) must stay. Only the gone wildcards'
// own names are looked at, outside the lock.
func (w *wildcardNames) gone(table *routing.Table, hosts []string) []string {
	var out []string
	var sets []*wildNameSet
	w.mu.Lock()
	for _, h := range hosts {
		if !routing.IsWildcard(h) {
			out = append(out, h)
			continue
		}
		if s := w.byWild[h]; s != nil {
			sets = append(sets, s)
			delete(w.byWild, h)
		}
	}
	w.mu.Unlock()
	for _, s := range sets {
		for n := range s.names {
			r, wild, ok := table.MatchWildcard(n)
			switch {
			case !ok || r.Disabled:
				// A disabled app's names are served no more either: its
				// wildcard's names keep matching it, and their cached
				// certificates would finish handshakes.
				out = append(out, n)
			case wild != "":
				if !w.adopt(table, wild, n) {
					out = append(out, n)
				}
			}
		}
	}
	return out
}

// adopt remembers name under wild without taking from its budget, and
// says whether wild still serves it. wild may have gone since the match,
// its own hosts-gone call having emptied its names already: this one
// would be remembered under it and never evicted, so the table is asked
// again after the name is in (as the permission does), and a name wild no
// longer serves is dropped again for the caller to evict.
func (w *wildcardNames) adopt(table *routing.Table, wild, name string) bool {
	w.mu.Lock()
	if w.byWild == nil {
		w.byWild = map[string]*wildNameSet{}
	}
	s := w.byWild[wild]
	if s == nil {
		s = &wildNameSet{names: map[string]struct{}{}}
		w.byWild[wild] = s
	}
	s.names[name] = struct{}{}
	w.mu.Unlock()
	if r, again, ok := table.MatchWildcard(name); ok && again == wild && !r.Disabled {
		return true
	}
	w.forget(wild, name)
	return false
}
