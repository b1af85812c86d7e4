package commands

import (
	"context"
	"errors"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/platform"
)

// TCPPorts serves tcp:HOST-PORT:CONTAINER-PORT mappings (package
// tcproute): Check claims the host ports of new mappings under the app's
// lock, refusing a port in use or, for a deploy key, outside the range
// an admin opened; Sync serves what the saved record names afterwards,
// the app still locked.
type TCPPorts interface {
	Check(app string, next []platform.PortMapping, deployKey bool) error
	Sync(ctx context.Context, app string) error
}

// withTCP is change, with the tcp mappings it makes checked (and their
// host ports claimed) before the record is saved.
func withTCP(ctx context.Context, p *Backend, app string, change domains.PortChange) domains.PortChange {
	return func(cur []platform.PortMapping) ([]platform.PortMapping, error) {
		next, err := change(cur)
		if err != nil {
			return nil, err
		}
		if p.TCP == nil {
			for _, m := range next {
				if m.Scheme == "tcp" {
					return nil, errors.New("tcp mappings are not served by this Berth")
				}
			}
			return next, nil
		}
		return next, p.TCP.Check(app, next, platform.IsDeployKey(ctx))
	}
}

// syncTCP makes the app's listeners match its record, whether the change
// was saved or not; it runs at the end of the change, the app locked.
func syncTCP(ctx context.Context, p *Backend, app string) error {
	if p.TCP == nil {
		return nil
	}
	return p.TCP.Sync(context.WithoutCancel(ctx), app)
}
