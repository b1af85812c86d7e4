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

// appHooks are what other packages asked to be told about apps; the
// platform does not import them.
type appHooks struct {
	destroyed []func(ctx context.Context, app string)
	renamed   []func(ctx context.Context, from, to string)
}

// OnAppDestroyed registers f to run after an app is destroyed (its record
// is gone), so that what refers to the app by name (a datastore's links)
// can forget it.
func (p *Platform) OnAppDestroyed(f func(ctx context.Context, app string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks.destroyed = append(p.hooks.destroyed, f)
}

// OnAppRenamed registers f to run after an app was renamed (apps:rename;
// its config came along).
func (p *Platform) OnAppRenamed(f func(ctx context.Context, from, to string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks.renamed = append(p.hooks.renamed, f)
}

func (p *Platform) appDestroyed(ctx context.Context, app string) {
	p.mu.Lock()
	hooks := p.hooks.destroyed
	p.mu.Unlock()
	for _, f := range hooks {
		f(ctx, app)
	}
}

func (p *Platform) appRenamed(ctx context.Context, from, to string) {
	p.mu.Lock()
	hooks := p.hooks.renamed
	p.mu.Unlock()
	for _, f := range hooks {
		f(ctx, from, to)
	}
}
