package caddymodule

import (
	"context"
	"fmt"
	"log/slog"
	"path"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
	"github.com/caddyserver/certmagic"
	"golang.org/x/net/publicsuffix"

	"github.com/berth-paas/berth/routing"
)

// The default budget of on-demand certificates under wildcard domains
// (Caddyfile: wildcard_certs_per_hour, wildcard_certs_max,
// wildcard_certs_per_domain). Every name under *.example.org is anyone's
// to ask for, and each new one is an ACME order: unbounded, a visitor
// could spend Let's Encrypt's 50 certificates per registered domain per
// week in a minute, and no new app of the domain would get one. So a
// wildcard takes perHour new names an hour and max in a week, and all the
// wildcards under one registered domain (*.a.example.org,
// *.b.example.org: example.org) take perDomain new names a week, below
// Let's Encrypt's 50, leaving room for the domain's exact hosts and
// renewals. A site with more names under one wildcard wants one wildcard
// certificate (certs:add, or a DNS-01 *.DOMAIN site).
const (
	DefaultWildcardCertsPerHour   = 20
	DefaultWildcardCertsMax       = 500
	DefaultWildcardCertsPerDomain = 40
)

// budgetWeek is the window of wildcard_certs_max and
// wildcard_certs_per_domain: Let's Encrypt's window of certificates per
// registered domain.
const budgetWeek = 7 * 24 * time.Hour

// wildcardNames are the names the permission allowed because an app's
// wildcard domain covers them, not because an app names them, kept per
// wildcard. They are the wildcards' budget (allow): a name remembered, or
// one whose certificate is in Caddy's storage already (a restart: certmagic
// asks the permission before it loads a stored certificate), is allowed
// for free; a new one only while its wildcard has taken fewer than
// perHour new names in the last hour and max in the last week, and the
// wildcards of its registered domain fewer than perDomain in the last
// week. And Caddy caches the certificate it obtains for such a name under
// the name; when the wildcard goes (or its app is disabled), the routing
// table's hosts-gone hook names only the wildcard ("*.example.org"), and
// Caddy's cache cannot be searched by suffix: these are the names to
// evict then (gone).
type wildcardNames struct {
	mu sync.Mutex

	// The budget, from setBudget: the berth app's Start gives it the
	// Caddyfile's (App.wildcardCerts*, where the defaults are) before it
	// publishes the core the permission reads. 0: no new name; the zero
	// value allows none.
	perHour   int
	max       int
	perDomain int
	byWild    map[string]*wildNameSet // by wildcard, "*.example.org"
	// byDomain are the times new names were added under the wildcards of
	// a registered domain ("example.org") in the last week, oldest first.
	byDomain map[string][]time.Time
	log      *slog.Logger
	// stored says whether Caddy's storage holds a certificate for a name
	// (nil: none is looked for). Called without mu held: it reads storage.
	// Its answers (yes and no) are kept in known, at most knownMax of
	// them, oldest out first: a visitor's random names would otherwise
	// each cost storage reads before the budget refused them.
	stored     func(name string) bool
	known      map[string]bool
	knownOrder []string
	now        func() time.Time // tests
}

// Bounds on the storage reads of the budget (allow): the answers kept,
// and the names of one wildcard looked up in storage per minute; a name
// over that is taken as new (it costs the budget, not storage reads).
const (
	knownMax            = 4096
	storedLookupsPerMin = 30
)

type wildNameSet struct {
	names map[string]struct{}
	// added are the times new names were added in the last week, oldest
	// first.
	added []time.Time
	// warned is when a refusal was last logged: one line a minute per
	// wildcard, however many names a visitor tries.
	warned time.Time
	// lookups are the times this wildcard's names were looked up in
	// storage in the last minute (storedLookupsPerMin at most).
	lookups []time.Time
}

// setBudget sets the budget and where stored certificates are looked for
// (a config reload may change them; names already remembered stay).
func (w *wildcardNames) setBudget(perHour, max, perDomain int, stored func(string) bool, log *slog.Logger) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.perHour, w.max, w.perDomain, w.stored, w.log = perHour, max, perDomain, stored, log
	w.known, w.knownOrder = nil, nil // another storage or issuers: ask again
}

func (w *wildcardNames) clock() time.Time {
	if w.now != nil {
		return w.now()
	}
	return time.Now()
}

// remember keeps stored's answer for name (mu held).
func (w *wildcardNames) remember(name string, stored bool) {
	if w.known == nil {
		w.known = map[string]bool{}
	}
	if _, ok := w.known[name]; !ok {
		if len(w.knownOrder) >= knownMax {
			delete(w.known, w.knownOrder[0])
			w.knownOrder = w.knownOrder[1:]
		}
		w.knownOrder = append(w.knownOrder, name)
	}
	w.known[name] = stored
}

// registeredDomain is the domain Let's Encrypt counts a name's
// certificates under ("example.org" for a.b.example.org, by the public
// suffix list); the wildcard's domain when the list gives none.
func registeredDomain(wild, name string) string {
	if d, err := publicsuffix.EffectiveTLDPlusOne(name); err == nil {
		return d
	}
	return wild[len("*."):]
}

// allow remembers name (a lowercase host) under wild (the wildcard that
// covers it, "*.example.org") if it is remembered already, has a stored
// certificate, or the budget has room, and says why not otherwise.
func (w *wildcardNames) allow(wild, name string) error {
	w.mu.Lock()
	s := w.wildSet(wild)
	if _, ok := s.names[name]; ok {
		w.mu.Unlock()
		return nil
	}
	// A certificate in storage costs no ACME order: it was obtained
	// before (this process or an earlier one) and is free to load. The
	// answer is kept; a wildcard's lookups are capped per minute.
	free, known := w.known[name]
	lookup := false
	if !known && w.stored != nil {
		now := w.clock()
		s.lookups = since(s.lookups, now.Add(-time.Minute))
		if len(s.lookups) < storedLookupsPerMin {
			s.lookups = append(s.lookups, now)
			lookup = true
		}
	}
	stored := w.stored
	w.mu.Unlock()
	if lookup {
		free = stored(name)
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	if lookup {
		w.remember(name, free)
	}
	s = w.wildSet(wild)
	if _, ok := s.names[name]; ok || free {
		s.names[name] = struct{}{}
		return nil
	}
	now := w.clock()
	s.added = since(s.added, now.Add(-budgetWeek))
	domain := registeredDomain(wild, name)
	if w.byDomain == nil {
		w.byDomain = map[string][]time.Time{}
	}
	byDomain := since(w.byDomain[domain], now.Add(-budgetWeek))
	if len(byDomain) == 0 {
		delete(w.byDomain, domain)
	} else {
		w.byDomain[domain] = byDomain
	}
	lastHour := len(since(s.added, now.Add(-time.Hour)))
	perHour, max, perDomain := w.perHour, w.max, w.perDomain
	var why string
	switch {
	case len(s.added) >= max:
		why = fmt.Sprintf("%d new names under %s got certificates in the last 7 days (wildcard_certs_max %d)", len(s.added), wild, max)
	case lastHour >= perHour:
		why = fmt.Sprintf("%d new names under %s got certificates in the last hour (wildcard_certs_per_hour %d)", lastHour, wild, perHour)
	case len(byDomain) >= perDomain:
		why = fmt.Sprintf("%d new names under wildcard domains of %s got certificates in the last 7 days (wildcard_certs_per_domain %d; Let's Encrypt allows 50 certificates per registered domain per week)", len(byDomain), domain, perDomain)
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
	w.byDomain[domain] = append(byDomain, now)
	// Its certificate is about to be obtained and stored: a cached "not
	// stored" would charge it again once the wildcard's names are
	// cleared (a disable and enable keeps the week's counts).
	w.remember(name, true)
	return nil
}

// wildSet is wild's set, made if need be (mu held).
func (w *wildcardNames) wildSet(wild string) *wildNameSet {
	if w.byWild == nil {
		w.byWild = map[string]*wildNameSet{}
	}
	s := w.byWild[wild]
	if s == nil {
		s = &wildNameSet{names: map[string]struct{}{}}
		w.byWild[wild] = s
	}
	return s
}

// since keeps the times of ts (oldest first) after from: a window of an
// hour ends an hour after the name was added.
func since(ts []time.Time, from time.Time) []time.Time {
	i := 0
	for i < len(ts) && !ts[i].After(from) {
		i++
	}
	return ts[i:]
}

// storedCertificate says whether storage holds a certificate for name
// from one of issuers (issuer keys: certmagic keeps each issuer's under
// certificates/ISSUER/NAME/NAME.crt, and loads only its policy's
// issuers'; one under another issuer's directory, say a `local` one when
// the policy's issuer is ACME, would still be an ACME order). One Exists
// per issuer: no listing.
func storedCertificate(storage certmagic.Storage, issuers []string) func(string) bool {
	return func(name string) bool {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		for _, issuer := range issuers {
			if storage.Exists(ctx, certmagic.StorageKeys.SiteCert(issuer, name)) {
				return true
			}
		}
		return false
	}
}

// onDemandIssuerKeys are the issuer keys of the TLS app's on-demand
// automation policies (their issuers, or Caddy's default ones for a
// policy that names none): the storage directories certmagic loads an
// on-demand certificate from. Determined once per config (Start).
func onDemandIssuerKeys(ctx caddy.Context) []string {
	seen := map[string]bool{}
	var keys []string
	var policies []*caddytls.AutomationPolicy
	if app, err := ctx.AppIfConfigured("tls"); err == nil {
		if tlsApp, ok := app.(*caddytls.TLS); ok && tlsApp.Automation != nil {
			policies = tlsApp.Automation.Policies
		}
	}
	add := func(iss []certmagic.Issuer) {
		for _, i := range iss {
			if k := i.IssuerKey(); !seen[k] {
				seen[k] = true
				keys = append(keys, k)
			}
		}
	}
	for _, ap := range policies {
		if !ap.OnDemand {
			continue
		}
		if len(ap.Issuers) > 0 {
			add(ap.Issuers)
			continue
		}
		if def, err := caddytls.DefaultIssuersProvisioned(ctx); err == nil {
			add(def)
		}
	}
	if len(keys) == 0 {
		// No on-demand policy to ask (the permission is then not
		// asked either, or a policy we cannot see): the issuer
		// directories in storage, listed once per config.
		c, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		dirs, _ := ctx.Storage().List(c, certmagic.StorageKeys.CertsPrefix(""), false)
		for _, d := range dirs {
			keys = append(keys, path.Base(d))
		}
	}
	return keys
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
	var sets []map[string]struct{}
	w.mu.Lock()
	for _, h := range hosts {
		if !routing.IsWildcard(h) {
			out = append(out, h)
			continue
		}
		// Only the names go: the counts of the rolling week (added,
		// warned, lookups) stay, or a domains:disable/enable would
		// give the wildcard its whole budget again.
		if s := w.byWild[h]; s != nil && len(s.names) > 0 {
			sets = append(sets, s.names)
			s.names = map[string]struct{}{}
		}
	}
	w.mu.Unlock()
	for _, names := range sets {
		for n := range names {
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
	w.wildSet(wild).names[name] = struct{}{}
	w.mu.Unlock()
	if r, again, ok := table.MatchWildcard(name); ok && again == wild && !r.Disabled {
		return true
	}
	w.forget(wild, name)
	return false
}
