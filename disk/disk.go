// Package disk removes what Berth made on the engine's disk once it is no
// longer needed, and says what Berth takes of it: the releases:set keep
// setting (per app and --global), cleanup and disk:report.
//
// A release's image is berth/APP:vN (Berth's own name; an image Berth did
// not tag is never removed). An app keeps the images of its newest
// releases, the current one and those rollback returns to, up to its
// retention (releases:set, the Caddyfile's keep_releases, default 10);
// older releases are forgotten with their images after each rollout,
// which the core tells this package of (OnRolledOut, with the app still
// locked, as before the move). Removing an image's last tag removes its
// untagged parents that nothing else uses (the classic builder's
// intermediate images). The build cache is the engine's; it is pruned to
// build_cache_max after each build (OnBuilt).
//
// The keep setting stays where the previous versions wrote it, on the app
// record (keep_releases) and in the global settings document
// (keep_releases), so existing state reads unchanged; the core resolves
// it with platform.KeepReleasesOf. The releases are the app record's, so
// the package follows no app's life. The image an unfinished deploy
// tagged stays the deploy pipeline's to remove (at Start).
package disk

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/bytesize"
	"github.com/berth-paas/berth/platform"
)

// Apps is what the disk needs of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// AppNames lists the apps.
	AppNames(ctx context.Context) ([]string, error)
	// ChangeApp runs change under the app's lock, busy with what; save
	// writes the record.
	ChangeApp(ctx context.Context, app, what string, change func(a *platform.App, save func() error) error) error
	// Limits are the Caddyfile's (keep_releases, build_cache_max).
	Limits() platform.Limits
}

// Globals is the global settings document (a *platform.Globals): releases:set
// --global keeps its retention there.
type Globals interface {
	// Settings reads, and Change changes under its lock, the document.
	Settings(ctx context.Context) (platform.Global, error)
	Change(ctx context.Context, what string, change func(*platform.Global) error) error
}

// Hooks are the app core's events the disk prunes on (*platform.Hooks).
type Hooks interface {
	// OnRolledOut registers what runs after a rollout (the app locked).
	OnRolledOut(f func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error)
}

// Builds are the deploy pipeline (package deploy's Deployer), which says
// when a build has run.
type Builds interface {
	// OnBuilt registers what runs after each build, off its path.
	OnBuilt(f func(ctx context.Context))
}

// Engine is what the disk needs of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests).
type Engine interface {
	// RemoveImage removes a tag, and the image with its unused untagged
	// parents when it was the last.
	RemoveImage(ctx context.Context, ref string) error
	DiskUsage(ctx context.Context) (docker.DiskUsage, error)
	// PruneBuildCache prunes the build cache to keep bytes and says how
	// many it freed.
	PruneBuildCache(ctx context.Context, keep int64) (int64, error)
}

// Config is what a Disk is made from.
type Config struct {
	Apps Apps
	// Globals is the global settings document (the platform's).
	Globals Globals
	Hooks   Hooks
	Engine  Engine
	// Builds tell when the build cache may have grown (after each
	// build); nil: it is pruned only by cleanup.
	Builds Builds
	// Logger receives what is removed; nil means discard.
	Logger *slog.Logger
}

// Disk prunes releases and the build cache. Its methods are safe for
// concurrent use.
type Disk struct {
	apps    Apps
	globals Globals
	engine  Engine
	log     *slog.Logger
	// prune lets one build cache prune run at a time.
	prune sync.Mutex
}

// New returns the disk of cfg.Apps' apps, and follows their rollouts and
// builds from then on.
func New(cfg Config) *Disk {
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Disk{apps: cfg.Apps, globals: cfg.Globals, engine: cfg.Engine, log: log}
	// The new release serves: releases beyond the app's retention go,
	// with their images.
	cfg.Hooks.OnRolledOut(func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error {
		if err := d.pruneReleases(ctx, a, save, log); err != nil {
			return fmt.Errorf("remove old releases: %w", err)
		}
		return nil
	})
	if cfg.Builds != nil {
		cfg.Builds.OnBuilt(func(ctx context.Context) { d.pruneBuildCache(ctx) })
	}
	return d
}

// keepReleases is how many of a's newest releases keep their image, and
// where that number comes from.
func (d *Disk) keepReleases(ctx context.Context, a *platform.App) (int, string) {
	// An unreadable document counts as unset, as it always did here: the
	// decoder fills what it could read, so a half-read document would
	// otherwise prune by a value nobody can see in disk:report.
	g, err := d.globals.Settings(ctx)
	if err != nil {
		g = platform.Global{}
	}
	return platform.KeepReleasesOf(a, g, d.apps.Limits())
}

// pruneReleases forgets the releases of a beyond its retention and
// removes their images, and saves a (with save) when it changed anything.
// It never touches the current release, nor the newest ones before it,
// which rollback returns to. a is locked by the caller.
func (d *Disk) pruneReleases(ctx context.Context, a *platform.App, save func() error, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	keep, _ := d.keepReleases(ctx, a)
	if len(a.Releases) <= keep {
		return nil
	}
	versions := make([]int, 0, len(a.Releases))
	for _, r := range a.Releases {
		versions = append(versions, r.Version)
	}
	slices.Sort(versions)
	slices.Reverse(versions)
	kept := map[int]bool{a.Current: true}
	for _, v := range versions[:keep] {
		kept[v] = true
	}
	var gone, stay []platform.Release
	for _, r := range a.Releases {
		if kept[r.Version] {
			stay = append(stay, r)
		} else {
			gone = append(gone, r)
		}
	}
	if len(gone) == 0 {
		return nil
	}
	a.Releases = stay
	if err := save(); err != nil {
		return err
	}
	// The record goes first: an image removed while the record still
	// named it would be a rollback target that fails.
	inUse := map[string]bool{}
	for _, r := range stay {
		inUse[r.Image] = true
	}
	var names []string
	for _, r := range gone {
		names = append(names, "v"+strconv.Itoa(r.Version))
		if inUse[r.Image] {
			continue
		}
		if err := d.engine.RemoveImage(ctx, r.Image); err != nil {
			d.log.Warn("remove the image of an old release", "app", a.Name, "image", r.Image, "error", err)
		}
	}
	d.log.Info("old releases removed", "app", a.Name, "releases", names, "keep", keep)
	fmt.Fprintf(log, "-----> Removed %d old release(s) of %s with their images (%s): %s keeps its newest %d (releases:set %s keep N)\n",
		len(gone), a.Name, strings.Join(names, ", "), a.Name, keep, a.Name)
	return nil
}

// pruneBuildCache prunes the engine's build cache to build_cache_max, one
// prune at a time; it runs after a build, off the deploy's path.
func (d *Disk) pruneBuildCache(ctx context.Context) (int64, error) {
	max := d.apps.Limits().BuildCacheMax
	if max < 0 {
		return 0, nil
	}
	d.prune.Lock()
	defer d.prune.Unlock()
	freed, err := d.engine.PruneBuildCache(ctx, max)
	if err != nil {
		d.log.Warn("prune the build cache", "error", err)
		return 0, err
	}
	if freed > 0 {
		d.log.Info("build cache pruned", "freed", bytesize.Format(freed), "build_cache_max", bytesize.Format(max))
	}
	return freed, nil
}

// SetKeepReleases sets how many releases of app (or, with app "", of
// every app without its own setting) keep their image; n 0 unsets it.
// The app's old releases beyond it go at once.
func (d *Disk) SetKeepReleases(ctx context.Context, app string, n int, log io.Writer) error {
	if n != 0 && n < platform.MinKeepReleases {
		return fmt.Errorf("keep must be %d or more: the current release and the one rollback returns to keep their images", platform.MinKeepReleases)
	}
	if app == "" {
		return d.globals.Change(ctx, "a global settings change", func(g *platform.Global) error {
			g.KeepReleases = n
			return nil
		})
	}
	return d.apps.ChangeApp(ctx, app, "a releases setting change", func(a *platform.App, save func() error) error {
		a.KeepReleases = n
		if err := save(); err != nil {
			return err
		}
		return d.pruneReleases(ctx, a, save, log)
	})
}

// Cleanup removes what Berth no longer needs now rather than at the next
// rollout (Dokku's cleanup): the old releases of app (of every app when
// app is "") beyond their retention, with their images, and the build
// cache beyond build_cache_max.
func (d *Disk) Cleanup(ctx context.Context, app string, log io.Writer) error {
	if log == nil {
		log = io.Discard
	}
	apps := []string{app}
	if app == "" {
		names, err := d.apps.AppNames(ctx)
		if err != nil {
			return err
		}
		apps = names
	}
	for _, name := range apps {
		locked := false
		err := d.apps.ChangeApp(ctx, name, "a cleanup", func(a *platform.App, save func() error) error {
			locked = true
			return d.pruneReleases(ctx, a, save, log)
		})
		if err != nil && !locked && app == "" {
			// An app that is busy (a deploy) or gone meanwhile is
			// skipped; the others are cleaned.
			fmt.Fprintf(log, " !     %s skipped: %v\n", name, err)
			continue
		}
		if err != nil {
			return err
		}
	}
	if max := d.apps.Limits().BuildCacheMax; max >= 0 {
		freed, err := d.pruneBuildCache(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "-----> Build cache pruned to %s: %s freed\n", bytesize.Format(max), bytesize.Format(freed))
	}
	return nil
}
