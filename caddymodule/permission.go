package caddymodule

import (
	"context"
	"fmt"

	"github.com/berth-paas/berth/routing"
	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

func init() { caddy.RegisterModule(Permission{}) }

// Permission is the on-demand TLS permission `berth`
// (`on_demand_tls { permission berth }`): Caddy may obtain or renew a
// certificate for exactly the names Berth routes. A domain removed from
// an app, or a destroyed app, is refused from then on, so its certificate
// is neither issued nor renewed.
type Permission struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (Permission) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.permission.berth",
		New: func() caddy.Module { return new(Permission) },
	}
}

// Provision finds the berth app.
func (p *Permission) Provision(ctx caddy.Context) error {
	app, err := berthApp(ctx)
	p.app = app
	return err
}

// CertificateAllowed allows name when an app answers on it, or the
// dashboard does. A name an app's wildcard domain covers (*.example.org)
// is answered on, so it gets its own certificate on demand, within the
// wildcard's budget (wildcardNames.allow); the wildcard name itself is
// not (it would need a DNS challenge: certs:add gives a custom wildcard
// certificate). A disabled app's hosts (proxy:disable, domains:disable)
// get none: they serve nothing. A name that is no DNS name (over 253
// bytes, an empty or over-63-byte label) is refused by Match.
func (p *Permission) CertificateAllowed(ctx context.Context, name string) error {
	table, err := p.app.routes(ctx)
	if err != nil {
		return err
	}
	// One normal form (lowercase, no trailing dot) for every check below;
	// a name too long to be a DNS name is refused before it is copied.
	n, ok := routing.NormalName(name)
	if !ok {
		return fmt.Errorf("%.300s: %w: no Berth app answers on it", name, caddytls.ErrPermissionDenied)
	}
	c := p.app.core.Load()
	if c != nil && c.dashboard.ServesNormal(n) {
		return nil // the dashboard gets HTTPS like any app
	}
	if c != nil && c.registry.Serves(n.String()) {
		return nil // and the registry, which is served over HTTPS only
	}
	route, wild, ok := table.MatchWildcardNormal(n)
	if !ok {
		return fmt.Errorf("%.300s: %w: no Berth app answers on it", name, caddytls.ErrPermissionDenied)
	}
	if route.Disabled {
		return fmt.Errorf("%s: %w: app %s is disabled (proxy:enable or domains:enable %s serves it again)", name, caddytls.ErrPermissionDenied, route.App, route.App)
	}
	if wild == "" || c == nil {
		return nil
	}
	if err := c.wildNames.allow(wild, n.String()); err != nil {
		return fmt.Errorf("%s: %w: %v", name, caddytls.ErrPermissionDenied, err)
	}
	// The wildcard may have gone between the match and allow, after the
	// hosts-gone hook looked at its names: this one would be remembered
	// under it, and its certificate never evicted. Look again.
	if r, w, ok := table.MatchWildcardNormal(n); !ok || w != wild || r.Disabled {
		c.wildNames.forget(wild, n.String())
		return fmt.Errorf("%s: %w: no Berth app answers on it", name, caddytls.ErrPermissionDenied)
	}
	return nil
}

// UnmarshalCaddyfile reads `permission berth`, which takes no options.
func (p *Permission) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Interface guards
var (
	_ caddytls.OnDemandPermission = (*Permission)(nil)
	_ caddy.Provisioner           = (*Permission)(nil)
	_ caddyfile.Unmarshaler       = (*Permission)(nil)
)
