package platform

import (
	"context"
	"strconv"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/store"
)

// Store is where the platform keeps its records; other packages keep
// theirs under their own key prefixes.
func (p *Platform) Store() store.Store { return p.store }

// appHooks are what other packages asked to be told about apps; the
// platform does not import them.
type appHooks struct {
	destroyed []func(ctx context.Context, app string)
	renamed   []func(ctx context.Context, from, to string)
	cloned    []func(ctx context.Context, from, to string)
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

// OnAppCloned registers f to run after an app was cloned (apps:clone; the
// clone serves, with a copy of the config).
func (p *Platform) OnAppCloned(f func(ctx context.Context, from, to string)) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hooks.cloned = append(p.hooks.cloned, f)
}

func (p *Platform) appCloned(ctx context.Context, from, to string) {
	p.mu.Lock()
	hooks := p.hooks.cloned
	p.mu.Unlock()
	for _, f := range hooks {
		f(ctx, from, to)
	}
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

// ResumeExited starts the app's containers of its serving generation that
// are not running, unless the app was stopped with ps:stop, and returns
// how many it started. Berth's start calls it for the apps that link a
// datastore, once the datastores accept connections: after a reboot
// Docker starts apps and databases together, and an app that gave up
// before its database was up comes back. Containers that run are left
// alone.
func (p *Platform) ResumeExited(ctx context.Context, app string) (int, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return 0, err
	}
	if a.Stopped || a.Generation == 0 {
		return 0, nil
	}
	cs, err := p.containers(ctx, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return 0, err
	}
	n := 0
	for _, c := range cs {
		if c.Running || c.Restarting {
			continue
		}
		if err := p.docker.StartExisting(ctx, c.ID); err != nil {
			return n, err
		}
		p.log.Info("started an app container after its datastores", "app", app, "container", c.Name)
		n++
	}
	return n, nil
}
