package platform

import (
	"context"
	"io"
	"strconv"
	"sync"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/store"
)

// Hooks is where packages register to follow the apps' lives.
func (p *Platform) Hooks() *Hooks { return p.hooks }

// Store is where the platform keeps its records; other packages keep
// theirs under their own key prefixes.
func (p *Platform) Store() store.Store { return p.store }

// Hosts returns the hosts app answers on: its default hosts under the
// global domains, then its own domains.
func (p *Platform) Hosts(ctx context.Context, app string) ([]string, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return nil, err
	}
	return p.hosts.HostsOf(a), nil
}

// LockApp marks app busy with what, for a package that changes records of
// its own about the app (certs), and returns the app's hosts. It fails at
// once when the app does not exist, or is busy: "a deploy of APP is
// running; try again when it has finished".
func (p *Platform) LockApp(ctx context.Context, app, what string) (hosts []string, unlock func(), err error) {
	a, unlock, err := p.lockedApp(ctx, app, what)
	if err != nil {
		return nil, nil, err
	}
	return p.hosts.HostsOf(a), unlock, nil
}

// LockGlobal marks the global settings busy with what, for a package
// that keeps a field of the global settings document (certs' "hsts"):
// Globals.Lock, through the core for the packages that ask it.
func (p *Platform) LockGlobal(what string) (unlock func(), err error) {
	return p.globals.Lock(what)
}

// Hooks are what other packages asked to be told about apps; the
// platform does not import them. They are Dokku's plugin triggers:
// pre-delete, post-delete, post-app-rename(-setup), post-app-clone(-setup),
// post-domains-update, post-deploy. A package is given the platform's
// Hooks (Platform.Hooks) to follow the apps' lives, apart from the core
// it asks things of: registering is a concern of its own, and a package
// that only follows apps needs nothing else of the core.
type Hooks struct {
	mu           sync.Mutex // guards the lists; a hook runs without it
	destroying   []func(ctx context.Context, app string) error
	destroyed    []func(ctx context.Context, app string)
	renaming     []func(ctx context.Context, from, to string) error
	renameSetup  []func(ctx context.Context, from, to string) error
	renamed      []func(ctx context.Context, from, to string)
	cloneSetup   []func(ctx context.Context, from, to string) error
	cloned       []func(ctx context.Context, from, to string)
	hostsChanged []func(ctx context.Context, app string, hosts []string)
	rolledOut    []func(ctx context.Context, a *App, save func() error, log io.Writer) error
}

// OnAppDestroyed registers f to run after an app is destroyed (its record
// is gone), so that what refers to the app by name (a datastore's links)
// can forget it.
func (h *Hooks) OnAppDestroyed(f func(ctx context.Context, app string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.destroyed = append(h.destroyed, f)
}

// OnAppDestroying registers f to run while an app is being destroyed:
// its containers are gone and it is leaving (nothing can be added to it),
// its record is not gone yet. An error stops the destroy there, so what
// must not outlive the app (its deploy keys) is gone before the name is
// free for a new app.
func (h *Hooks) OnAppDestroying(f func(ctx context.Context, app string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.destroying = append(h.destroying, f)
}

// OnAppRenaming registers f to run during a rename once the new app
// serves, while the old name is leaving, before the old app is forgotten
// (and before the OnAppRenamed hooks). An error stops the rename there.
func (h *Hooks) OnAppRenaming(f func(ctx context.Context, from, to string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.renaming = append(h.renaming, f)
}

// Leaving reports whether app is being destroyed or renamed away.
func (p *Platform) Leaving(app string) bool { return p.routes.IsLeaving(app) }

// OnAppRenamed registers f to run after an app was renamed (apps:rename;
// its config came along).
func (h *Hooks) OnAppRenamed(f func(ctx context.Context, from, to string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.renamed = append(h.renamed, f)
}

// OnAppRenameSetup registers f to run during a rename once the new app's
// record is saved, before it is routed or started, so that what moves
// with the app serves it from its first request (its custom certificate).
// An error aborts the rename: the new app is forgotten (and the
// OnAppDestroyed hooks run for it), the old one serves on.
func (h *Hooks) OnAppRenameSetup(f func(ctx context.Context, from, to string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.renameSetup = append(h.renameSetup, f)
}

// OnAppCloneSetup is OnAppRenameSetup for a clone.
func (h *Hooks) OnAppCloneSetup(f func(ctx context.Context, from, to string) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cloneSetup = append(h.cloneSetup, f)
}

// OnAppHostsChanged registers f to run when an app's hosts were set in
// the routing table by a change (domains:*, a global domains change, a
// rename or a clone, proxy:enable/disable), with the hosts it has now.
// The app is locked, except on a global domains change and on
// proxy:enable/disable, domains:enable/disable/reset (after their write).
func (h *Hooks) OnAppHostsChanged(f func(ctx context.Context, app string, hosts []string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.hostsChanged = append(h.hostsChanged, f)
}

// OnAppCloned registers f to run after an app was cloned (apps:clone; the
// clone serves, with a copy of the config).
func (h *Hooks) OnAppCloned(f func(ctx context.Context, from, to string)) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.cloned = append(h.cloned, f)
}

// snapshot returns the hooks registered in list so far, for running them
// without the lock (a hook may take time, or register another).
func snapshot[F any](h *Hooks, list *[]F) []F {
	h.mu.Lock()
	defer h.mu.Unlock()
	return *list
}

// The runners: those of the setup and pre- hooks stop at the first error,
// which stops the change; the post- hooks cannot undo it, so they run all.

func (h *Hooks) runDestroying(ctx context.Context, app string) error {
	for _, f := range snapshot(h, &h.destroying) {
		if err := f(ctx, app); err != nil {
			return err
		}
	}
	return nil
}

func (h *Hooks) runDestroyed(ctx context.Context, app string) {
	for _, f := range snapshot(h, &h.destroyed) {
		f(ctx, app)
	}
}

// runCopySetup runs the rename (move) or clone setup hooks.
func (h *Hooks) runCopySetup(ctx context.Context, from, to string, move bool) error {
	hooks := snapshot(h, &h.cloneSetup)
	if move {
		hooks = snapshot(h, &h.renameSetup)
	}
	for _, f := range hooks {
		if err := f(ctx, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (h *Hooks) runRenaming(ctx context.Context, from, to string) error {
	for _, f := range snapshot(h, &h.renaming) {
		if err := f(ctx, from, to); err != nil {
			return err
		}
	}
	return nil
}

func (h *Hooks) runRenamed(ctx context.Context, from, to string) {
	for _, f := range snapshot(h, &h.renamed) {
		f(ctx, from, to)
	}
}

func (h *Hooks) runCloned(ctx context.Context, from, to string) {
	for _, f := range snapshot(h, &h.cloned) {
		f(ctx, from, to)
	}
}

func (h *Hooks) runHostsChanged(ctx context.Context, app string, hosts []string) {
	for _, f := range snapshot(h, &h.hostsChanged) {
		f(ctx, app, hosts)
	}
}

// ResumeExited starts the app's containers of its serving generation that
// are not running, unless the app was stopped with ps:stop, and returns
// how many it started. Berth's start calls it for the apps that link a
// datastore, once the datastores accept connections: after a reboot
// Docker starts apps and databases together, and an app that gave up
// before its database was up comes back. Containers that run are left
// alone. An app another scheduler runs (swarm) is left to it: Swarm
// restarts its own tasks.
func (p *Platform) ResumeExited(ctx context.Context, app string) (int, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return 0, err
	}
	if a.Stopped || a.Generation == 0 {
		return 0, nil
	}
	// An app whose processes another scheduler runs (swarm) has no
	// containers here to start: Swarm restarts its own tasks (the
	// restart policy in Swarm's terms), and a docker-local container of
	// the app's generation (left by a move between schedulers) must not
	// come back beside them.
	if ProcessesOf(p.sched, a) != nil {
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
