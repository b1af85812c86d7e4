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
// is answered on, so it gets its own certificate on demand; the wildcard
// name itself is not (it would need a DNS challenge: certs:add gives a
// custom wildcard certificate).
func (p *Permission) CertificateAllowed(ctx context.Context, name string) error {
	table, err := p.app.routes(ctx)
	if err != nil {
		return err
	}
	if c := p.app.core.Load(); c != nil && c.dashboard.Serves(name) {
		return nil // the dashboard gets HTTPS like any app
	}
	if _, ok := table.Match(name); !ok {
		return fmt.Errorf("%s: %w: no Berth app answers on it", name, caddytls.ErrPermissionDenied)
	}
	if _, exact := table.Lookup(name); !exact {
		if c := p.app.core.Load(); c != nil {
			c.wildNames.add(routing.NormalizeHost(name))
		}
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
