package platform

import (
	"context"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/store"
)

// Docker is the engine client the platform runs containers with, for
// packages that run containers beside apps (datastore services).
func (p *Platform) Docker() *docker.Client { return p.docker }

// Store is where the platform keeps its records; other packages keep
// theirs under their own key prefixes.
func (p *Platform) Store() store.Store { return p.store }

// OnAppDestroyed registers f to run after an app is destroyed (its record
// is gone), so that what refers to the app by name (a datastore's links)
// can forget it. Register before the platform serves commands.
func (p *Platform) OnAppDestroyed(f func(ctx context.Context, app string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.destroyed = append(p.destroyed, f)
}

func (p *Platform) appDestroyed(ctx context.Context, app string) {
	p.mu.Lock()
	hooks := p.destroyed
	p.mu.Unlock()
	for _, f := range hooks {
		f(ctx, app)
	}
}
