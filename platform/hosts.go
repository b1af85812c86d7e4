package platform

import (
	"context"
	"io"
	"slices"

	"github.com/berth-paas/berth/routing"
)

// The hosts an app answers on (its default hosts under the global
// domains, then its own domains, minus Berth's reserved hosts) and the
// URLs users open for them are package domains' knowledge: it keeps the
// global domains (the Caddyfile's and domains:add --global's), the
// reserved hosts and the HTTP server's URLs. The core asks it through
// this seam (Config.Hosts) wherever it routes an app (create, rename,
// the route controller, the rollout's checks, a deploy's report), so it
// never imports the package.

// HostResolver says which hosts an app answers on, and how users open
// them.
type HostResolver interface {
	// HostsOf is every host a answers on: its default hosts under the
	// global domains, then its own domains, without Berth's own hosts.
	HostsOf(a *App) []string
	// URLsFor returns the URLs of hosts, in their order.
	URLsFor(hosts []string) []string
}

// DomainsReport is what domains:report shows (package domains makes it;
// the type stays here, where the dashboard reads it).
type DomainsReport struct {
	App     string   `json:"app,omitempty"`
	Default []string `json:"default,omitempty"`
	Own     []string `json:"own"`
	Global  []string `json:"global"`
	// URLs are the app's hosts as users open them (HostResolver.URLsFor).
	URLs []string `json:"urls,omitempty"`
	// Enabled is false after domains:disable (nil in the global report).
	Enabled *bool `json:"app_enabled,omitempty"`
}

// bareHosts is the HostResolver of a platform given none (unit tests):
// no global domain, no reserved host, plain http.
type bareHosts struct{}

func (bareHosts) HostsOf(a *App) []string {
	hosts := HostsFor(a.Name, nil)
	for _, d := range a.Domains {
		if !slices.Contains(hosts, d) {
			hosts = append(hosts, d)
		}
	}
	return hosts
}

func (bareHosts) URLsFor(hosts []string) []string {
	out := make([]string, 0, len(hosts))
	for _, h := range hosts {
		out = append(out, "http://"+h)
	}
	return out
}

// firstExactHost is the first of hosts that is no wildcard, or "": the
// Host a health check sends (a "*.example.org" Host is no name a client
// sends, and an app may well answer it 400).
func firstExactHost(hosts []string) string {
	for _, h := range hosts {
		if !routing.IsWildcard(h) {
			return h
		}
	}
	return ""
}

// RoutingDisabled says whether the app is out of routing (proxy:disable,
// domains:disable): its hosts stay its own in the routing table, unserved
// (routing.Route.Disabled), so that no other app's wildcard takes them.
func (a *App) RoutingDisabled() bool { return a.ProxyDisabled || a.DomainsDisabled }

// HostsChanged runs the OnAppHostsChanged hooks, for package domains,
// which sets the apps' hosts in the routing table.
func (p *Platform) HostsChanged(ctx context.Context, app string, hosts []string) {
	p.hooks.runHostsChanged(ctx, app, hosts)
}

// RefreshRoute routes app again from its record and its containers (the
// route controller's Refresh), after a change of whether it is served.
func (p *Platform) RefreshRoute(ctx context.Context, app string) error {
	return p.routes.Refresh(ctx, app)
}

// RollOut runs rel as a's formation again and ends log with the app's
// URLs (ports:set, when the port Caddy proxies to changed). a must be
// locked (ChangeApp).
// A seam onto the deploy pipeline's rollout for package domains.
func (p *Platform) RollOut(ctx context.Context, a *App, rel Release, log io.Writer) error {
	return p.rollout(ctx, a, rel, logWriter(log))
}
