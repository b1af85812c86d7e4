package platform

import (
	"context"
	"errors"

	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/store"
)

// routeApps is what the route controller (package routes) reads of the
// app core: app records and the hosts the platform gives them.
type routeApps struct{ p *Platform }

var _ routes.Apps = routeApps{}

func (r routeApps) Names(ctx context.Context) ([]string, error) {
	return r.p.store.List(ctx, "apps")
}

func (r routeApps) Lookup(ctx context.Context, app string) (routes.App, bool, error) {
	a, err := loadApp(ctx, r.p.store, app)
	if errors.Is(err, ErrAppNotFound) {
		return routes.App{}, false, nil
	}
	if err != nil {
		return routes.App{}, false, err
	}
	// A disabled app is out of routing (its containers keep running),
	// but its hosts stay its own: with none, another app's wildcard would
	// take them, their cookies and a certificate for them.
	return routes.App{Generation: a.Generation, Hosts: r.p.hosts.HostsOf(a), Stopped: a.Stopped, Disabled: a.RoutingDisabled()}, true, nil
}

// Exists reads only whether the record is there: the controller asks it
// under its lock, before every route it writes.
func (r routeApps) Exists(ctx context.Context, app string) (bool, error) {
	_, err := r.p.store.Get(ctx, appKey(app))
	if errors.Is(err, store.ErrNotFound) {
		return false, nil
	}
	return err == nil, err
}
