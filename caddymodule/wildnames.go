package caddymodule

import (
	"strings"
	"sync"

	"github.com/berth-paas/berth/routing"
)

// maxWildcardNames bounds wildcardNames: names under a wildcard are
// anyone's to ask for (each handshake with a new one is allowed), so the
// record must not grow without end. A name beyond it keeps its cached
// certificate after its wildcard goes, until the certificate's renewal,
// which asks the permission again and is refused; requests for it get
// Berth's 404 meanwhile.
const maxWildcardNames = 10000

// wildcardNames are the names the permission allowed because an app's
// wildcard domain covers them, not because an app names them. Caddy
// caches the certificate it obtains for such a name under the name; when
// the wildcard goes, the routing table's hosts-gone hook names only the
// wildcard ("*.example.org"), and Caddy's cache cannot be searched by
// suffix: these are the names to evict then (gone).
type wildcardNames struct {
	mu    sync.Mutex
	names map[string]struct{}
}

// add remembers name (a lowercase host), up to maxWildcardNames.
func (w *wildcardNames) add(name string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.names == nil {
		w.names = map[string]struct{}{}
	}
	if len(w.names) < maxWildcardNames {
		w.names[name] = struct{}{}
	}
}

// gone turns the hosts a table write took away into the names whose
// cached certificates must go: the exact hosts among them, and the
// remembered names under a wildcard among them that table no longer
// routes (those it still routes, through another wildcard or as an exact
// host now, keep theirs: a certificate is the name's, not the app's). The
// wildcards themselves are left out: no certificate of Berth's is cached
// under one, and one the Caddyfile manages (a DNS-01 *.DOMAIN site) must
// stay.
func (w *wildcardNames) gone(table *routing.Table, hosts []string) []string {
	var out, suffixes []string
	for _, h := range hosts {
		if routing.IsWildcard(h) {
			suffixes = append(suffixes, h[len("*"):]) // ".example.org"
			continue
		}
		out = append(out, h)
	}
	if len(suffixes) == 0 {
		return out
	}
	w.mu.Lock()
	defer w.mu.Unlock()
	for n := range w.names {
		if _, ok := table.Match(n); ok {
			continue
		}
		for _, s := range suffixes {
			if strings.HasSuffix(n, s) {
				out = append(out, n)
				delete(w.names, n)
				break
			}
		}
	}
	return out
}
