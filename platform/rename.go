package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/store"
)

// Renamer renames and clones apps (apps:rename, apps:clone), and keeps
// the rename records that let a push to an old name point at the new one
// (RenamedTo). It is the app core's lifecycle beside Create and Destroy:
// it takes both names' locks, copies the record, runs the OnAppRenameSetup
// / OnAppCloneSetup hooks (what other packages keep of the app follows
// it), rolls the release out under the new name and, for a rename,
// forgets the old app (OnAppRenaming, OnAppRenamed). It lives in this
// package because a rename is a destroy of the old name done halfway
// through a rollout: it needs the core's lock, routing table, scheduler
// and build records, which no other package is given.
type Renamer struct {
	p *Platform
}

// NewRenamer returns the renames and clones of p's apps.
func NewRenamer(p *Platform) *Renamer { return &Renamer{p: p} }

// Rename gives an app a new name: its record, repository, images, own
// domains and deploy keys move, and its current release is rolled out
// under the new name before the old containers go. Its default hosts
// change with the name.
func (r *Renamer) Rename(ctx context.Context, from, to string, log io.Writer) error {
	return r.copyApp(ctx, from, to, true, logWriter(log))
}

// Clone makes a new app from an existing one: config, formation, checks
// and settings are copied, its current release is deployed under the new
// name, and the repository is copied so pushes continue from it. Own
// domains and deploy keys stay with the original.
func (r *Renamer) Clone(ctx context.Context, from, to string, log io.Writer) error {
	return r.copyApp(ctx, from, to, false, logWriter(log))
}

func (r *Renamer) copyApp(ctx context.Context, from, to string, move bool, log io.Writer) error {
	p := r.p
	if err := ValidateAppName(to); err != nil {
		return err
	}
	what := "a clone"
	if move {
		what = "a rename"
	}
	src, unlockFrom, err := p.lockedApp(ctx, from, what)
	if err != nil {
		return err
	}
	defer unlockFrom()
	unlockTo, err := p.lock(to, what)
	if err != nil {
		return err
	}
	defer unlockTo()
	if ok, err := p.Exists(ctx, to); err != nil {
		return err
	} else if ok {
		return Errorf(ErrAppExists, "app %s already exists", to)
	}
	dst := *src
	dst.Name = to
	dst.CreatedAt = time.Now().UTC()
	dst.LastDeploy = nil
	dst.Config = maps.Clone(src.Config)
	dst.Formation = maps.Clone(src.Formation)
	dst.SwarmPlacement = slices.Clone(src.SwarmPlacement)
	// Container settings come along; the copies share nothing with the
	// original's.
	dst.Storage = slices.Clone(src.Storage)
	dst.Networks.AttachPostCreate = slices.Clone(src.Networks.AttachPostCreate)
	dst.Networks.AttachPostDeploy = slices.Clone(src.Networks.AttachPostDeploy)
	// SetBy too: limits a deploy key set stay its to change (empty would
	// count as an admin's and lock the key out of its own app's limits).
	dst.Resources = ResourceSettings{Limits: maps.Clone(src.Resources.Limits), Reservations: maps.Clone(src.Resources.Reservations), SetBy: src.Resources.SetBy}
	dst.DockerOptions = nil
	for ph, opts := range src.DockerOptions {
		if dst.DockerOptions == nil {
			dst.DockerOptions = map[string][]string{}
		}
		dst.DockerOptions[ph] = slices.Clone(opts)
	}
	dst.Generation = 0
	if !move {
		dst.Domains = nil
		// A tcp mapping's host port is the original's (tcproute serves
		// one app per port): the clone gets none.
		dst.PortMap = slices.DeleteFunc(slices.Clone(src.PortMap), func(m string) bool { return strings.HasPrefix(m, "tcp:") })
	}
	for _, h := range p.hosts.HostsOf(&dst) {
		if route, ok := p.table.Lookup(h); ok && route.App != from {
			return fmt.Errorf("cannot use %s: its domain %s is already served by app %s", to, h, route.App)
		}
	}
	// Images: every release keeps its image under the new name.
	dst.Releases = nil
	for _, rel := range src.Releases {
		rel.Image = strings.Replace(rel.Image, "berth/"+from+":", "berth/"+to+":", 1)
		if err := p.docker.Tag(ctx, rel.ImageID, rel.Image); err != nil {
			if rel.Version == src.Current {
				return err
			}
			continue // an old release whose image is gone cannot come along
		}
		dst.Releases = append(dst.Releases, rel)
	}
	if err := saveApp(ctx, p.store, &dst); err != nil {
		return err
	}
	forgetRenamed(ctx, p.store, p.log, to)
	if err := p.hooks.runCopySetup(ctx, from, to, move); err != nil {
		// Nothing runs or routes as to yet: drop its record, so that the
		// command can be run again.
		r.abandon(context.WithoutCancel(ctx), &dst)
		return err
	}
	hosts := p.hosts.HostsOf(&dst)
	p.table.SetHostsDisabled(to, hosts, dst.RoutingDisabled())
	p.hooks.runHostsChanged(ctx, to, hosts)
	if rel, ok := dst.CurrentRelease(); ok {
		fmt.Fprintf(log, "-----> Starting v%d of %s\n", rel.Version, to)
		if err := p.rollout(ctx, &dst, rel, log); err != nil {
			r.abandon(context.WithoutCancel(ctx), &dst)
			return fmt.Errorf("%s did not start: %w", to, err)
		}
	}
	if !move {
		p.hooks.runCloned(ctx, from, to)
		return nil
	}
	// The new app serves; now the old one goes. It is leaving from here
	// on, so what moves with the app before it goes (its deploy keys)
	// cannot be added to it afterwards (one would own the next app named
	// from).
	defer p.routes.Leaving(from)()
	if err := p.hooks.runRenaming(ctx, from, to); err != nil {
		return err
	}
	r.forget(ctx, src)
	if err := p.builds.Move(from, to); err != nil {
		p.log.Warn("move builds", "from", from, "to", to, "error", err)
		if err := p.builds.Remove(from); err != nil {
			p.log.Error("remove the builds of a renamed app; remove them by hand before an app of the old name is created", "app", from, "error", err)
		}
	}
	p.hooks.runRenamed(ctx, from, to)
	r.recordRenamed(ctx, from, to)
	return nil
}

// forget removes an app's route, containers, images and record, logging
// what it cannot remove. (Its repository follows the app's life through
// the hooks: package repo.)
func (r *Renamer) forget(ctx context.Context, a *App) {
	p := r.p
	defer p.routes.Leaving(a.Name)()
	p.table.Remove(a.Name)
	p.sched.Remove(ctx, a, true)
	for _, r := range a.Releases {
		p.docker.RemoveImage(ctx, r.Image)
	}
	if err := p.store.Delete(ctx, appKey(a.Name)); err != nil {
		p.log.Warn("remove app record", "app", a.Name, "error", err)
	}
}

// abandon forgets the new app of a rename or clone that failed, and tells
// the OnAppDestroyed hooks, so that what a setup hook copied for it goes
// too: an app created later under its name starts with none of it.
//
// It is a destroy: what must not outlive an app (OnAppDestroying: a deploy
// key added for the new name while the rollout ran) goes first, with the
// app marked leaving so that nothing is added for it meanwhile, and the
// builds recorded under its name go too.
func (r *Renamer) abandon(ctx context.Context, a *App) {
	p := r.p
	defer p.routes.Leaving(a.Name)()
	if err := p.hooks.runDestroying(ctx, a.Name); err != nil {
		p.log.Error("a failed rename or clone could not drop what belongs to its new app; check ssh-keys:list for keys of it", "app", a.Name, "error", err)
	}
	r.forget(ctx, a)
	if err := p.builds.Remove(a.Name); err != nil {
		p.log.Warn("remove builds", "app", a.Name, "error", err)
	}
	p.hooks.runDestroyed(ctx, a.Name)
}

// renamedKey keeps the new name of an app renamed away from name, for the
// push to the old name that git remotes not yet updated make: it creates
// a new app, and says so with the remote to use instead.
func renamedKey(name string) string { return "renamed/" + name }

// recordRenamed remembers that from is now to. A failure only loses the
// hint at a later push, so it is logged.
func (r *Renamer) recordRenamed(ctx context.Context, from, to string) {
	doc, _ := json.Marshal(map[string]string{"to": to})
	if err := r.p.store.Put(ctx, renamedKey(from), doc); err != nil {
		r.p.log.Warn("record rename", "from", from, "to", to, "error", err)
	}
}

// RenamedTo returns the name the app once called name was renamed to,
// if no app has taken that name since.
func (r *Renamer) RenamedTo(ctx context.Context, name string) (string, bool) {
	if ValidateAppName(name) != nil {
		return "", false
	}
	doc, err := r.p.store.Get(ctx, renamedKey(name))
	if err != nil {
		return "", false
	}
	var rec struct {
		To string `json:"to"`
	}
	if json.Unmarshal(doc, &rec) != nil || rec.To == "" {
		return "", false
	}
	return rec.To, true
}

// forgetRenamed drops the rename record of name: a new app of that name
// (Create, a rename or clone to it) ends the old name's story.
func forgetRenamed(ctx context.Context, s store.Store, log *slog.Logger, name string) {
	if err := s.Delete(ctx, renamedKey(name)); err != nil && !errors.Is(err, store.ErrNotFound) {
		log.Warn("forget rename", "app", name, "error", err)
	}
}
