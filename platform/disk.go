package platform

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-paas/berth/internal/bytesize"
)

// Disk: what Berth makes on the engine's disk and removes again once it is
// no longer needed. A release's image is berth/APP:vN (Berth's own name;
// an image Berth did not tag is never removed). An app keeps the images
// of its newest releases, the current one and those rollback returns to,
// up to its retention (releases:set, the Caddyfile's keep_releases,
// default 10); older releases are forgotten with their images after each
// rollout. Removing an image's last tag removes its untagged parents that
// nothing else uses (the classic builder's intermediate images). The
// build cache is the engine's; it is pruned to build_cache_max after each
// build.

// keepReleases is how many of a's newest releases keep their image, and
// where that number comes from.
func (p *Platform) keepReleases(ctx context.Context, a *App) (int, string) {
	if a.KeepReleases > 0 {
		return a.KeepReleases, "app"
	}
	if g, err := loadGlobal(ctx, p.store); err == nil && g.KeepReleases > 0 {
		return g.KeepReleases, "global"
	}
	return p.Limits().KeepReleases, "keep_releases"
}

// pruneReleases forgets the releases of a beyond its retention and
// removes their images, and saves a when it changed anything. It never
// touches the current release, nor the newest ones before it, which
// rollback returns to. a is locked by the caller.
func (p *Platform) pruneReleases(ctx context.Context, a *App, log io.Writer) error {
	keep, _ := p.keepReleases(ctx, a)
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
	var gone []Release
	var stay []Release
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
	if err := saveApp(ctx, p.store, a); err != nil {
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
		if err := p.docker.RemoveImage(ctx, r.Image); err != nil {
			p.log.Warn("remove the image of an old release", "app", a.Name, "image", r.Image, "error", err)
		}
	}
	p.log.Info("old releases removed", "app", a.Name, "releases", names, "keep", keep)
	fmt.Fprintf(logWriter(log), "-----> Removed %d old release(s) of %s with their images (%s): %s keeps its newest %d (releases:set %s keep N)\n",
		len(gone), a.Name, strings.Join(names, ", "), a.Name, keep, a.Name)
	return nil
}

// pruneBuildCache prunes the engine's build cache to build_cache_max, one
// prune at a time; it runs after a build, off the deploy's path.
func (p *Platform) pruneBuildCache(ctx context.Context) (int64, error) {
	max := p.Limits().BuildCacheMax
	if max < 0 {
		return 0, nil
	}
	buildCachePrune.Lock()
	defer buildCachePrune.Unlock()
	freed, err := p.docker.PruneBuildCache(ctx, max)
	if err != nil {
		p.log.Warn("prune the build cache", "error", err)
		return 0, err
	}
	if freed > 0 {
		p.log.Info("build cache pruned", "freed", bytesize.Format(freed), "build_cache_max", bytesize.Format(max))
	}
	return freed, nil
}

var buildCachePrune sync.Mutex

// removeUnreleasedImage removes the image a deploy of a tagged as release
// version and that never became a release (Berth stopped during it, say),
// unless a release record names it.
func (p *Platform) removeUnreleasedImage(ctx context.Context, a *App, version int) {
	if version <= 0 || slices.ContainsFunc(a.Releases, func(r Release) bool { return r.Version == version }) {
		return
	}
	ref := fmt.Sprintf("berth/%s:v%d", a.Name, version)
	if err := p.docker.RemoveImage(ctx, ref); err != nil {
		p.log.Warn("remove the image of a deploy that did not finish", "app", a.Name, "image", ref, "error", err)
	}
}

// SetKeepReleases sets how many releases of app (or, with app "", of
// every app without its own setting) keep their image; n 0 unsets it.
// The app's old releases beyond it go at once.
func (p *Platform) SetKeepReleases(ctx context.Context, app string, n int, log io.Writer) error {
	if n != 0 && n < MinKeepReleases {
		return fmt.Errorf("keep must be %d or more: the current release and the one rollback returns to keep their images", MinKeepReleases)
	}
	if app == "" {
		return p.changeGlobal(ctx, "a global settings change", func(g *Global) { g.KeepReleases = n }, nil)
	}
	a, unlock, err := p.lockedApp(ctx, app, "a releases setting change")
	if err != nil {
		return err
	}
	defer unlock()
	a.KeepReleases = n
	if err := saveApp(ctx, p.store, a); err != nil {
		return err
	}
	return p.pruneReleases(ctx, a, log)
}

// Cleanup removes what Berth no longer needs now rather than at the next
// rollout (Dokku's cleanup): the old releases of app (of every app when
// app is "") beyond their retention, with their images, and the build
// cache beyond build_cache_max.
func (p *Platform) Cleanup(ctx context.Context, app string, log io.Writer) error {
	log = logWriter(log)
	apps := []string{app}
	if app == "" {
		names, err := p.store.List(ctx, "apps")
		if err != nil {
			return err
		}
		apps = names
	}
	for _, name := range apps {
		a, unlock, err := p.lockedApp(ctx, name, "a cleanup")
		if err != nil {
			if app == "" {
				fmt.Fprintf(log, " !     %s skipped: %v\n", name, err)
				continue
			}
			return err
		}
		err = p.pruneReleases(ctx, a, log)
		unlock()
		if err != nil {
			return err
		}
	}
	if max := p.Limits().BuildCacheMax; max >= 0 {
		freed, err := p.pruneBuildCache(ctx)
		if err != nil {
			return err
		}
		fmt.Fprintf(log, "-----> Build cache pruned to %s: %s freed\n", bytesize.Format(max), bytesize.Format(freed))
	}
	return nil
}

// DiskReport is the disk Berth uses on its engine.
type DiskReport struct {
	// Apps are the apps' release images.
	Apps []AppDisk `json:"apps"`
	// ReleaseImages and ReleaseBytes are all apps' release images,
	// each image once however many releases name it.
	ReleaseImages int   `json:"release_images"`
	ReleaseBytes  int64 `json:"release_images_bytes"`
	// Volumes and VolumeBytes are this Berth's volumes (services' data,
	// one-offs' files).
	Volumes     int   `json:"volumes"`
	VolumeBytes int64 `json:"volumes_bytes"`
	// BuildCacheBytes is the engine's build cache, which BuildCacheMax
	// bounds (-1: not pruned).
	BuildCacheBytes   int64 `json:"build_cache_bytes"`
	BuildCacheRecords int   `json:"build_cache_records"`
	BuildCacheMax     int64 `json:"build_cache_max"`
	// KeepReleases is the global retention and where it is set
	// ("global": releases:set --global; else the Caddyfile's
	// keep_releases or its default).
	KeepReleases     int    `json:"keep_releases"`
	KeepReleasesFrom string `json:"keep_releases_from"`
}

// AppDisk is one app's share.
type AppDisk struct {
	App string `json:"app"`
	// Releases are the releases that keep an image; Images the distinct
	// images they name, and Bytes their size as `docker images` shows it.
	Releases int   `json:"releases"`
	Images   int   `json:"images"`
	Bytes    int64 `json:"bytes"`
	// Keep is the app's retention and where it is set ("app",
	// "global" or "keep_releases").
	Keep     int    `json:"keep_releases"`
	KeepFrom string `json:"keep_releases_from"`
}

// Disk reports the disk Berth uses: of app only, when app is not "".
func (p *Platform) Disk(ctx context.Context, app string) (DiskReport, error) {
	var names []string
	if app != "" {
		if _, err := loadApp(ctx, p.store, app); err != nil {
			return DiskReport{}, err
		}
		names = []string{app}
	} else {
		var err error
		if names, err = p.store.List(ctx, "apps"); err != nil {
			return DiskReport{}, err
		}
	}
	du, err := p.docker.DiskUsage(ctx)
	if err != nil {
		return DiskReport{}, err
	}
	l := p.Limits()
	rep := DiskReport{Apps: []AppDisk{}, BuildCacheMax: l.BuildCacheMax, BuildCacheBytes: du.BuildCache, BuildCacheRecords: du.BuildCacheCount}
	rep.KeepReleases, rep.KeepReleasesFrom = l.KeepReleases, "keep_releases"
	if g, err := loadGlobal(ctx, p.store); err == nil && g.KeepReleases > 0 {
		rep.KeepReleases, rep.KeepReleasesFrom = g.KeepReleases, "global"
	}
	all := map[string]int64{}
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			continue // destroyed meanwhile
		}
		d := AppDisk{App: name, Releases: len(a.Releases)}
		d.Keep, d.KeepFrom = p.keepReleases(ctx, a)
		ids := map[string]bool{}
		for _, r := range a.Releases {
			im, ok := du.Images[r.Image]
			if !ok || ids[im.ID] {
				continue
			}
			ids[im.ID] = true
			d.Images++
			d.Bytes += im.Size
			all[im.ID] = im.Size
		}
		rep.Apps = append(rep.Apps, d)
	}
	for _, size := range all {
		rep.ReleaseImages++
		rep.ReleaseBytes += size
	}
	for _, size := range du.Volumes {
		rep.Volumes++
		if size > 0 {
			rep.VolumeBytes += size
		}
	}
	return rep, nil
}
