// The table's lock-free reads: a request's host to its route (exact, then
// wildcard), and the listings of apps and routes.

package routing

import (
	"slices"
	"strings"
)

// Lookup returns the route of the app that names host exactly (with or
// without a port; matched case-insensitively): a wildcard is found only
// by its own name ("*.example.org"). It is who claims a name, for the
// platform's conflict checks; a request is routed by Match. The returned
// Route must not be modified.
func (t *Table) Lookup(host string) (*Route, bool) {
	c, ok := t.current.Load().byHost[NormalizeHost(host)]
	if !ok {
		return nil, false
	}
	return c.route.Load(), true
}

// Match returns the route that serves a request for host (a request's
// Host or a TLS server name, with or without a port; matched
// case-insensitively): the app that names it exactly, else the app whose
// wildcard covers it most specifically; false when none does. A name
// with a "*" is never served (it is no host a client can ask for), nor
// one that is no DNS name (ValidName), nor a reserved one through a
// wildcard (SetReserved). A disabled app's route is returned (its hosts
// are its own): the caller serves nothing for it. The returned Route
// must not be modified.
func (t *Table) Match(host string) (*Route, bool) {
	n, ok := NormalName(host)
	if !ok {
		return nil, false
	}
	r, _, ok := t.match(n.s)
	return r, ok
}

// MatchWildcard is Match that also says through which wildcard
// ("*.example.org") host matched: "" when an app names it exactly.
func (t *Table) MatchWildcard(host string) (*Route, string, bool) {
	n, ok := NormalName(host)
	if !ok {
		return nil, "", false
	}
	return t.MatchWildcardNormal(n)
}

// MatchWildcardNormal is MatchWildcard for a name NormalName gave, which
// it does not normalize again.
func (t *Table) MatchWildcardNormal(name Name) (*Route, string, bool) {
	r, domain, ok := t.match(name.s)
	if ok && domain != "" {
		return r, "*." + domain, true
	}
	return r, "", ok
}

// match is Match on a normalized host; domain is the wildcard's domain
// ("example.org", a substring of h: no allocation) when one matched.
func (t *Table) match(h string) (*Route, string, bool) {
	if !ValidName(h) {
		// Before any lookup: a 60 KB server name must cost no more than
		// a short one (each lookup below hashes a suffix of it).
		return nil, "", false
	}
	s := t.current.Load()
	if c, ok := s.byHost[h]; ok {
		if h[0] == '*' { // a wildcard's own name (keys are never "")
			return nil, "", false
		}
		return c.route.Load(), "", true
	}
	if len(s.wild) == 0 || strings.IndexByte(h, '*') >= 0 {
		return nil, "", false
	}
	res := t.reserved.Load()
	if res != nil {
		if _, ok := res.exact[h]; ok {
			return nil, "", false // Berth's own or the Caddyfile's
		}
	}
	// The suffix after the first dot is the longest, so the most
	// specific wildcard; a label before it is required (i > 0), so
	// *.example.org does not match example.org or ".example.org".
	for i := 1; i < len(h); i++ {
		if h[i] != '.' {
			continue
		}
		if res != nil {
			if _, ok := res.wild[h[i+1:]]; ok {
				return nil, "", false // a Caddyfile site's wildcard is more specific
			}
		}
		if c, ok := s.wild[h[i+1:]]; ok {
			return c.route.Load(), h[i+1:], true
		}
	}
	return nil, "", false
}

// App returns the route of the named app, or false when the table has none.
func (t *Table) App(name string) (*Route, bool) {
	c, ok := t.current.Load().byApp[name]
	if !ok {
		return nil, false
	}
	return c.route.Load(), true
}

// Apps returns every route, sorted by app name.
func (t *Table) Apps() []*Route {
	s := t.current.Load()
	out := make([]*Route, 0, len(s.byApp))
	for _, c := range s.byApp {
		out = append(out, c.route.Load())
	}
	slices.SortFunc(out, func(a, b *Route) int { return strings.Compare(a.App, b.App) })
	return out
}

// Routes returns the current route of every app, by name. A reconcile
// passes it back to SetIfUnchanged.
func (t *Table) Routes() map[string]*Route {
	s := t.current.Load()
	out := make(map[string]*Route, len(s.byApp))
	for name, c := range s.byApp {
		out[name] = c.route.Load()
	}
	return out
}
