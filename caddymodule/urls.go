package caddymodule

import (
	"context"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/berth-paas/berth/domains"
)

// siteURL is one server of Caddy's http app whose routes reach Berth's
// handler: its URL prefix and the hosts it answers for.
type siteURL struct {
	https  bool
	port   int
	routes caddyhttp.RouteList         // the top-level routes, for host matching
	named  map[string]*caddyhttp.Route // the server's named routes (invoke)
}

// urlsFromHTTPApp returns how hosts become URLs under Caddy's provisioned
// http app: a host goes to the first HTTPS server whose routes reach the
// berth handler for it, else the first plain-HTTP one. A server counts as
// HTTPS when it has TLS connection policies, which automatic HTTPS gives
// every server on the HTTPS port during provisioning. Nil when no server
// reaches Berth (the platform then falls back to http://HOST).
func urlsFromHTTPApp(app *caddyhttp.App) domains.URLsFunc {
	if app == nil {
		return nil
	}
	var sites []siteURL
	for _, srv := range app.Servers {
		if !reachesBerth(srv.Routes, "", srv.NamedRoutes) {
			continue
		}
		port, ok := serverPort(srv.Listen)
		if !ok {
			continue
		}
		sites = append(sites, siteURL{https: len(srv.TLSConnPolicies) > 0, port: port, routes: srv.Routes, named: srv.NamedRoutes})
	}
	if len(sites) == 0 {
		return nil
	}
	return func(host string) (string, bool) {
		for _, wantHTTPS := range []bool{true, false} {
			// The lowest port of a kind wins, so that the answer does not
			// depend on the map order of servers.
			best := -1
			for i, s := range sites {
				if s.https == wantHTTPS && reachesBerth(s.routes, host, s.named) && (best < 0 || s.port < sites[best].port) {
					best = i
				}
			}
			if best >= 0 {
				return formatURL(sites[best].https, host, sites[best].port), true
			}
		}
		return "", false
	}
}

func formatURL(https bool, host string, port int) string {
	if https {
		if port == caddyhttp.DefaultHTTPSPort {
			return "https://" + host
		}
		return "https://" + net.JoinHostPort(host, strconv.Itoa(port))
	}
	if port == caddyhttp.DefaultHTTPPort {
		return "http://" + host
	}
	return "http://" + net.JoinHostPort(host, strconv.Itoa(port))
}

// serverPort is the TCP port of the server's first network listener.
func serverPort(listen []string) (int, bool) {
	for _, l := range listen {
		addr, err := caddy.ParseNetworkAddress(l)
		if err != nil || addr.IsUnixNetwork() || addr.IsFdNetwork() {
			continue
		}
		return int(addr.StartPort), true
	}
	return 0, false
}

// reachesBerth says whether a route of routes that matches host (any host
// when host is "") runs Berth's handler, directly or in a subroute. Only
// host matchers are considered: a route limited by path or header still
// serves the host for some requests. An `invoke` of a named route (of
// named, the server's) is followed.
func reachesBerth(routes caddyhttp.RouteList, host string, named map[string]*caddyhttp.Route) bool {
	return reachesBerthVia(routes, host, named, map[string]bool{})
}

// reachesBerthVia is reachesBerth; invoked are the named routes followed
// already (a route invoking itself ends).
func reachesBerthVia(routes caddyhttp.RouteList, host string, named map[string]*caddyhttp.Route, invoked map[string]bool) bool {
	for _, r := range routes {
		if host != "" && !hostMatches(r.MatcherSets, host) {
			continue
		}
		for _, h := range r.Handlers {
			switch h := h.(type) {
			case *Handler:
				return true
			case *reverseproxy.Handler:
				// `reverse_proxy { dynamic berth }`: Berth's upstreams.
				if _, ok := h.DynamicUpstreams.(*Upstreams); ok {
					return true
				}
			case *caddyhttp.Subroute:
				if reachesBerthVia(h.Routes, host, named, invoked) {
					return true
				}
			case *caddyhttp.Invoke:
				if nr := named[h.Name]; nr != nil && !invoked[h.Name] {
					invoked[h.Name] = true
					if reachesBerthVia(caddyhttp.RouteList{*nr}, host, named, invoked) {
						return true
					}
				}
			}
		}
	}
	return false
}

// hostMatches says whether any matcher set lets host through: one with no
// host matcher does, one with a host matcher does if it matches.
func hostMatches(sets caddyhttp.MatcherSets, host string) bool {
	if len(sets) == 0 {
		return true
	}
	req := (&http.Request{Host: host}).WithContext(context.WithValue(context.Background(), caddy.ReplacerCtxKey, caddy.NewReplacer()))
	for _, set := range sets {
		ok := true
		for _, m := range set {
			mh, isHost := hostMatcher(m)
			if !isHost {
				continue
			}
			if match, err := mh.MatchWithError(req); err != nil || !match {
				ok = false
			}
		}
		if ok {
			return true
		}
	}
	return false
}

// siteHosts are the hosts the http app's sites name that no server routes
// to Berth (`api.example.org { reverse_proxy ... }` beside Berth's site):
// the Caddyfile's own, which no app's wildcard may take (the routing
// table's reserved hosts), neither their requests nor, worse, their TLS
// handshakes (an app's custom certificate). A host is reserved only when
// no route of any server that matches it reaches Berth: Caddy's automatic
// HTTPS gives every HTTPS site a redirect route on the HTTP port, which
// does not reach Berth and must not reserve Berth's own sites (a DNS-01
// `*.customer.com { tls {dns ...} berth }` site for an app's wildcard
// would answer 404 for every name under it), and those redirect routes
// are skipped for the same reason.
func siteHosts(app *caddyhttp.App) []string {
	if app == nil {
		return nil
	}
	var candidates []string
	for _, srv := range app.Servers {
		for _, r := range srv.Routes {
			if isAutoHTTPSRedirect(r) || reachesBerth(caddyhttp.RouteList{r}, "", srv.NamedRoutes) {
				continue
			}
			for _, set := range r.MatcherSets {
				for _, m := range set {
					if mh, ok := hostMatcher(m); ok {
						candidates = append(candidates, mh...)
					}
				}
			}
		}
	}
	var out []string
	seen := map[string]bool{}
	for _, h := range candidates {
		if seen[h] {
			continue
		}
		seen[h] = true
		berth := false
		for _, srv := range app.Servers {
			if routesToBerth(srv.Routes, h, srv.NamedRoutes) {
				berth = true
				break
			}
		}
		if !berth {
			out = append(out, h)
		}
	}
	return out
}

// routesToBerth says whether routes send a request for host to Berth
// because a site names it: the first routes that match it, up to a
// terminal one (a Caddyfile site block's), reach Berth's handler through
// a route whose host matcher names host. A matcher-less catch-all that
// reaches Berth (`https:// { berth }`) does not count: it routes every
// host, so the Caddyfile's `http://status.example.org { respond }` would
// be Berth's by the catch-all's HTTPS side. Automatic HTTPS's redirect
// for host ends the walk: on its port (the shipped Caddyfile's http_port)
// it comes before an http:// catch-all, which never sees the host.
func routesToBerth(routes caddyhttp.RouteList, host string, named map[string]*caddyhttp.Route) bool {
	for _, r := range routes {
		if !hostMatches(r.MatcherSets, host) {
			continue
		}
		if isAutoHTTPSRedirect(r) {
			return false
		}
		if reachesBerth(caddyhttp.RouteList{r}, host, named) {
			return namesHost(r.MatcherSets, host)
		}
		if r.Terminal {
			return false
		}
	}
	return false
}

// namesHost says whether a host matcher of sets names host itself (as a
// site's address does: "*.example.org" names "*.example.org").
func namesHost(sets caddyhttp.MatcherSets, host string) bool {
	for _, set := range sets {
		for _, m := range set {
			mh, _ := hostMatcher(m)
			if slices.ContainsFunc(mh, func(h string) bool { return strings.EqualFold(h, host) }) {
				return true
			}
		}
	}
	return false
}

// isAutoHTTPSRedirect says whether r is a redirect route Caddy's automatic
// HTTPS added (caddyhttp's makeRedirRoute: a StaticResponse value, not
// the pointer a Caddyfile `redir` gives, sending to
// https://{http.request.host}...).
func isAutoHTTPSRedirect(r caddyhttp.Route) bool {
	if len(r.Handlers) != 1 {
		return false
	}
	sr, ok := r.Handlers[0].(caddyhttp.StaticResponse)
	if !ok {
		return false
	}
	loc := sr.Headers.Get("Location")
	return strings.HasPrefix(loc, "https://{http.request.host}") && strings.HasSuffix(loc, "{http.request.uri}")
}

// hostMatcher is m as a host matcher, which Caddy gives as a value or a
// pointer; ok is false for any other matcher.
func hostMatcher(m any) (caddyhttp.MatchHost, bool) {
	switch m := m.(type) {
	case *caddyhttp.MatchHost:
		return *m, true
	case caddyhttp.MatchHost:
		return m, true
	}
	return nil, false
}
