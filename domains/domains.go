// Package domains owns the hosts apps answer on and how they are served:
// an app's own domains (domains:add|remove|set|clear, wildcards
// included), the global domains (the Caddyfile's and domains:add
// --global's), Berth's reserved hosts (the dashboard's), domains:report,
// proxy:enable|disable, domains:enable|disable|reset, the port mappings
// (ports:*) and the URLs users are shown for each host (the HTTP
// server's knowledge, given by caddymodule).
//
// It keeps its records where earlier versions wrote them, so state reads
// unchanged: an app's own domains, port mappings and its proxy and
// domains disabled marks are fields of the app record (changed through
// the core's ChangeApp and UpdateApp, under the app's lock, so rename,
// clone and destroy carry them with the record and no hook is needed);
// the added global domains are the "domains" field of settings/global
// (changed under the global lock). The core asks the Resolver, through
// platform.Config.Hosts, which hosts an app has wherever it routes one,
// and never imports this package.
package domains

import (
	"context"
	"io"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
)

// Apps is what the package needs of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// AppNames lists the apps.
	AppNames(ctx context.Context) ([]string, error)
	// ChangeApp runs change under the app's lock, busy with what; save
	// writes the record.
	ChangeApp(ctx context.Context, app, what string, change func(a *platform.App, save func() error) error) error
	// UpdateApp changes the record under the app's lock ("a settings
	// change").
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
	// HostsChanged tells the packages that follow the apps' hosts
	// (certs) that app has hosts now.
	HostsChanged(ctx context.Context, app string, hosts []string)
	// RefreshRoute routes app again from its record and containers.
	RefreshRoute(ctx context.Context, app string) error
	// RollOut runs rel as a's formation again (a locked by ChangeApp).
	RollOut(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error
}

// Globals is the global settings document, which keeps the global
// domains added by command (a *platform.Globals).
type Globals interface {
	// Reload reads the document (and sets the core's own copies of it).
	Reload(ctx context.Context) (platform.Global, error)
	// ChangeThen changes the document under the global lock; then runs
	// after the save, still under it.
	ChangeThen(ctx context.Context, what string, change func(*platform.Global) error, then func(platform.Global) error) error
}

// Config is what Domains is made from.
type Config struct {
	// Apps is the app core.
	Apps Apps
	// Globals is the global settings document (the platform's).
	Globals Globals
	// Table is the routing table, where the apps' hosts are claimed.
	Table *routing.Table
	// Resolver is the one given to the core (platform.Config.Hosts).
	Resolver *Resolver
}

// Domains runs the domains, proxy and ports commands. Its methods are
// safe for concurrent use.
type Domains struct {
	apps    Apps
	globals Globals
	table   *routing.Table
	hosts   *Resolver
}

// New returns the commands' side of the apps' domains.
func New(cfg Config) *Domains {
	return &Domains{apps: cfg.Apps, globals: cfg.Globals, table: cfg.Table, hosts: cfg.Resolver}
}

// Resolver returns the resolver d changes (for URLs and reserved hosts).
func (d *Domains) Resolver() *Resolver { return d.hosts }
