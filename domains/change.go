package domains

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-paas/berth/platform"
)

// ValidateAppDomain checks an app's own domain: a host name
// (platform.ValidateDomain), or a wildcard: "*." then a host name of at
// least two labels ("*.example.org"; or "*.localhost", for local
// development), which covers every host under it, at any depth, as
// nginx's server_name (Dokku's) does; see routing.Table.Match. A "*"
// anywhere else is refused ("*foo.example.org", "a.*.example.org", "*",
// "*."): nginx reads those otherwise or not at all, and "*.org" would take
// a whole top-level domain.
func ValidateAppDomain(d string) error {
	rest, wild := strings.CutPrefix(d, "*.")
	if !wild {
		if strings.Contains(d, "*") {
			return fmt.Errorf("%q is not a domain name: \"*\" may only stand first, as a whole label, in a wildcard such as *.example.org", d)
		}
		return platform.ValidateDomain(d)
	}
	if d != strings.ToLower(d) {
		return fmt.Errorf("domain %q: use lowercase", d)
	}
	if strings.Contains(rest, "*") || platform.ValidateAppName(rest) != nil || !strings.Contains(rest, ".") && rest != "localhost" {
		return fmt.Errorf("%q is not a wildcard domain: a wildcard is \"*.\" then a domain of at least two labels, such as *.example.org (it covers www.example.org and a.b.example.org, not example.org itself)", d)
	}
	// No top-level domain is all digits: *.0.1 would cover IPv4 Host
	// values (10.0.0.1), which are no app's names.
	if last := rest[strings.LastIndexByte(rest, '.')+1:]; strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("%q is not a wildcard domain: its last label %q is a number, so it would cover IP addresses; use a domain name such as *.example.org", d, last)
	}
	return nil
}

// Report reports the app's domains (domains:report APP).
func (d *Domains) Report(ctx context.Context, app string) (platform.DomainsReport, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return platform.DomainsReport{}, err
	}
	own := slices.Clone(a.Domains)
	if own == nil {
		own = []string{}
	}
	enabled := !a.DomainsDisabled
	global := d.hosts.GlobalDomains()
	return platform.DomainsReport{App: app, Default: platform.HostsFor(app, global), Own: own, Global: global, URLs: d.hosts.URLsFor(d.hosts.HostsOf(a)), Enabled: &enabled}, nil
}

// GlobalDomains returns the global domains: the Caddyfile's, then those
// added by command.
func (d *Domains) GlobalDomains() []string { return d.hosts.GlobalDomains() }

// Change changes the app's own domains: "add", "remove", "set"
// (replace) or "clear". Routing follows at once; a domain another app
// names is refused. Names are compared exactly (the table's Lookup): a
// wildcard conflicts only with the same wildcard, and an exact host under
// another app's wildcard is allowed, as it wins over the wildcard.
func (d *Domains) Change(ctx context.Context, app, action string, domains []string) error {
	for _, dom := range domains {
		if err := ValidateAppDomain(dom); err != nil {
			return err
		}
		if err := d.hosts.checkNotReserved(dom); err != nil && action != "remove" {
			return err
		}
	}
	return d.apps.ChangeApp(ctx, app, "a domains change", func(a *platform.App, save func() error) error {
		var err error
		if a.Domains, err = changeDomainList(a.Domains, action, domains); err != nil {
			return fmt.Errorf("%s: %w (see domains:report %s)", app, err, app)
		}
		for _, h := range d.hosts.HostsOf(a) {
			if r, ok := d.table.Lookup(h); ok && r.App != app {
				return fmt.Errorf("%s is already served by app %s", h, r.App)
			}
		}
		if err := save(); err != nil {
			return err
		}
		hosts := d.hosts.HostsOf(a)
		// A disabled app's new hosts are claimed, not served, like its
		// others.
		d.table.SetHostsDisabled(app, hosts, a.RoutingDisabled())
		d.apps.HostsChanged(ctx, app, hosts)
		return nil
	})
}

// ChangeGlobal changes the global domains added by command (those of the
// Caddyfile stay), and re-routes every app.
func (d *Domains) ChangeGlobal(ctx context.Context, action string, domains []string) error {
	for _, dom := range domains {
		if err := platform.ValidateDomain(dom); err != nil {
			return err
		}
	}
	change := func(g *platform.Global) (err error) {
		if g.Domains, err = changeDomainList(g.Domains, action, domains); err != nil {
			return fmt.Errorf("global domains: %w", err)
		}
		return nil
	}
	// Re-routed under the global lock, as the domains were saved.
	return d.globals.ChangeThen(ctx, "a global domains change", change, func(g platform.Global) error {
		d.hosts.setStored(g.Domains)
		return d.rehost(ctx)
	})
}

// SetGlobalDomains sets the Caddyfile's global domains (before Start and
// at each config reload), reads those added by command (and the core's
// other global settings: Globals.Reload), and re-routes every app's hosts.
func (d *Domains) SetGlobalDomains(ctx context.Context, domains []string) error {
	g, err := d.globals.Reload(ctx)
	if err != nil {
		return err
	}
	d.hosts.setGlobal(domains, g.Domains)
	return d.rehost(ctx)
}

// rehost sets every app's hosts again, after the global domains changed.
func (d *Domains) rehost(ctx context.Context) error {
	names, err := d.apps.AppNames(ctx)
	if err != nil {
		return err
	}
	// Every app's hosts in one table write: one per app copied the table
	// once per app (quadratic at start-up: seconds at 5,000 apps), and an
	// app not yet rewritten would have lost its old default host while a
	// wildcard over the new global domain took its new one. (Disabled
	// apps stay disabled: SetAllHosts keeps the flag.)
	all := make(map[string][]string, len(names))
	for _, name := range names {
		if platform.ValidateAppName(name) != nil {
			// A record no command can name (a hand-copied apps/Blog.json)
			// must not stop start-up or a global domain change; the route
			// controller's reconcile, which reads records as they are,
			// rehosts it.
			continue
		}
		a, err := d.apps.App(ctx, name)
		if err != nil {
			return err
		}
		all[name] = d.hosts.HostsOf(a)
	}
	d.table.SetAllHosts(all)
	for _, name := range names {
		d.apps.HostsChanged(ctx, name, all[name])
	}
	return nil
}

// SetProxyEnabled takes the app out of routing (proxy:disable) or puts
// it back (proxy:enable), without stopping or restarting anything.
func (d *Domains) SetProxyEnabled(ctx context.Context, app string, enabled bool) error {
	return d.setRouted(ctx, app, func(a *platform.App) { a.ProxyDisabled = !enabled })
}

// SetEnabled is domains:enable and domains:disable: a disabled app
// answers on none of its domains (Berth routes by domain only, so it is
// out of routing, as with proxy:disable); its domains are kept.
func (d *Domains) SetEnabled(ctx context.Context, app string, enabled bool) error {
	return d.setRouted(ctx, app, func(a *platform.App) { a.DomainsDisabled = !enabled })
}

// Reset removes the app's own domains (domains:reset): it answers on its
// default hosts under the global domains again.
func (d *Domains) Reset(ctx context.Context, app string) error {
	return d.setRouted(ctx, app, func(a *platform.App) { a.Domains = nil })
}

func (d *Domains) setRouted(ctx context.Context, app string, change func(*platform.App)) error {
	if err := d.apps.UpdateApp(ctx, app, func(a *platform.App) error { change(a); return nil }); err != nil {
		return err
	}
	// The hosts (and whether they are served) changed: an enabled app's
	// custom certificate goes back into the TLS server's cache, a
	// disabled one's stays out (certs' hosts-changed hook). Also when the
	// refresh fails: the record changed, and the next reconcile routes
	// it without running the hook.
	defer func() {
		if a, err := d.apps.App(ctx, app); err == nil {
			d.apps.HostsChanged(context.WithoutCancel(ctx), app, d.hosts.HostsOf(a))
		}
	}()
	return d.apps.RefreshRoute(context.WithoutCancel(ctx), app)
}

// changeDomainList applies a domains action ("add", "remove", "set",
// "clear") to list. Removing a domain the list lacks is an error: it is
// most likely a typo.
func changeDomainList(list []string, action string, domains []string) ([]string, error) {
	switch action {
	case "add":
		for _, d := range domains {
			if !slices.Contains(list, d) {
				list = append(list, d)
			}
		}
	case "remove":
		for _, d := range domains {
			if !slices.Contains(list, d) {
				return nil, fmt.Errorf("no domain %s to remove", d)
			}
		}
		list = slices.DeleteFunc(list, func(d string) bool { return slices.Contains(domains, d) })
	case "set":
		// Keep the first of each domain, in the order given (Compact
		// alone only drops neighbours: "set a b a" kept both a's).
		list = nil
		for _, d := range domains {
			if !slices.Contains(list, d) {
				list = append(list, d)
			}
		}
	case "clear":
		list = nil
	default:
		return nil, fmt.Errorf("unknown domains action %q", action)
	}
	return list, nil
}
