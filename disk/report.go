package disk

import "context"

// Report is the disk Berth uses on its engine.
type Report struct {
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

// Report reports the disk Berth uses: of app only, when app is not "".
func (d *Disk) Report(ctx context.Context, app string) (Report, error) {
	var names []string
	if app != "" {
		if _, err := d.apps.App(ctx, app); err != nil {
			return Report{}, err
		}
		names = []string{app}
	} else {
		var err error
		if names, err = d.apps.AppNames(ctx); err != nil {
			return Report{}, err
		}
	}
	du, err := d.engine.DiskUsage(ctx)
	if err != nil {
		return Report{}, err
	}
	l := d.apps.Limits()
	rep := Report{Apps: []AppDisk{}, BuildCacheMax: l.BuildCacheMax, BuildCacheBytes: du.BuildCache, BuildCacheRecords: du.BuildCacheCount}
	rep.KeepReleases, rep.KeepReleasesFrom = l.KeepReleases, "keep_releases"
	if g, err := d.globals.Settings(ctx); err == nil && g.KeepReleases > 0 {
		rep.KeepReleases, rep.KeepReleasesFrom = g.KeepReleases, "global"
	}
	all := map[string]int64{}
	for _, name := range names {
		a, err := d.apps.App(ctx, name)
		if err != nil {
			continue // destroyed meanwhile
		}
		ad := AppDisk{App: name, Releases: len(a.Releases)}
		ad.Keep, ad.KeepFrom = d.keepReleases(ctx, a)
		ids := map[string]bool{}
		for _, r := range a.Releases {
			im, ok := du.Images[r.Image]
			if !ok || ids[im.ID] {
				continue
			}
			ids[im.ID] = true
			ad.Images++
			ad.Bytes += im.Size
			all[im.ID] = im.Size
		}
		rep.Apps = append(rep.Apps, ad)
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
