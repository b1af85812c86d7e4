package domains

import (
	"fmt"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/berth-paas/berth/platform"
)

// URLsFunc returns, for each host, the URL a user opens to reach it: the
// scheme and port of the server that serves it (https when an HTTPS site
// does, else the plain HTTP listener's port). It is the HTTP server's
// knowledge, not the platform's (caddymodule computes it from Caddy's
// http app); a host it cannot place gets no URL and URLsFor falls back.
type URLsFunc func(host string) (url string, ok bool)

// Resolver knows which hosts each app answers on: the global domains (the
// Caddyfile's, then those added with domains:add --global), Berth's own
// hosts that no app may take, and the URLs users open. It is the core's
// platform.HostResolver, made before the platform and given to it.
type Resolver struct {
	mu       sync.Mutex
	caddy    []string // the Caddyfile's global domains
	stored   []string // added with domains:add --global
	reserved []string // Berth's own hosts (SetReservedHosts)
	// urls turns hosts into the URLs users open (SetURLs).
	urls atomic.Pointer[URLsFunc]
}

var _ platform.HostResolver = (*Resolver)(nil)

// NewResolver returns a resolver with no global domain and no reserved
// host: each app answers on its bare name and its own domains, until
// Domains.SetGlobalDomains.
func NewResolver() *Resolver { return &Resolver{} }

// GlobalDomains returns the global domains: the Caddyfile's, then those
// added by command.
func (r *Resolver) GlobalDomains() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	out := slices.Clone(r.caddy)
	for _, d := range r.stored {
		if !slices.Contains(out, d) {
			out = append(out, d)
		}
	}
	return out
}

func (r *Resolver) setGlobal(caddy, stored []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.caddy, r.stored = slices.Clone(caddy), stored
}

func (r *Resolver) setStored(stored []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.stored = stored
}

// HostsOf is every host the app answers on: its default hosts under the
// global domains, then its own domains.
func (r *Resolver) HostsOf(a *platform.App) []string {
	hosts := platform.HostsFor(a.Name, r.GlobalDomains())
	for _, d := range a.Domains {
		if !slices.Contains(hosts, d) {
			hosts = append(hosts, d)
		}
	}
	// Berth's own hosts are never an app's, even one stored before the
	// host was reserved.
	return slices.DeleteFunc(hosts, r.reservedHost)
}

// SetReservedHosts sets the hosts Berth itself answers on (the dashboard's
// host, from the Caddyfile): no app may take one, neither as its own
// domain (Domains.Change refuses it) nor as a default host under a global
// domain (HostsOf leaves it out). A config reload replaces them; call it
// before SetGlobalDomains, which routes every app again.
func (r *Resolver) SetReservedHosts(hosts []string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.reserved = slices.Clone(hosts)
}

// reservedHost says whether host is one of Berth's own.
func (r *Resolver) reservedHost(host string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Contains(r.reserved, host)
}

// checkNotReserved refuses a domain that is one of Berth's own hosts.
func (r *Resolver) checkNotReserved(domain string) error {
	if r.reservedHost(domain) {
		return fmt.Errorf("%s is Berth's dashboard host (the Caddyfile's dashboard option); no app can take it: choose another domain, or move the dashboard", domain)
	}
	return nil
}

// SetURLs sets how hosts become URLs (a config reload replaces it); nil
// restores the fallback, http://HOST.
func (r *Resolver) SetURLs(f URLsFunc) {
	if f == nil {
		r.urls.Store(nil)
		return
	}
	r.urls.Store(&f)
}

// URLsFor returns the URLs of hosts, in their order: what SetURLs says,
// else http://HOST (what a plain-HTTP site on the default port serves).
func (r *Resolver) URLsFor(hosts []string) []string {
	var f URLsFunc
	if fp := r.urls.Load(); fp != nil {
		f = *fp
	}
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		if f != nil {
			if u, ok := f(h); ok {
				out = append(out, u)
				continue
			}
		}
		out = append(out, "http://"+h)
	}
	return out
}
