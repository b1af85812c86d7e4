package docker

import (
	"context"
	"fmt"

	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

// DiskUsage is what the engine's disk holds that Berth accounts for.
type DiskUsage struct {
	// Images are the local images by tag ("berth/app:v3"), with the ID
	// each tag names and the image's size as `docker images` shows it
	// (its shared base layers counted in each image).
	Images map[string]ImageUsage
	// Volumes are the sizes of this Berth's volumes (those that carry its
	// instance ID), by name; -1 when the engine did not measure one.
	Volumes map[string]int64
	// BuildCache is the engine's build cache (BuildKit's), which is not
	// any one Berth's: its records carry no labels.
	BuildCache      int64
	BuildCacheCount int
}

// ImageUsage is one local image.
type ImageUsage struct {
	ID   string
	Size int64
}

// DiskUsage asks the engine what its images, this Berth's volumes and the
// build cache take (docker system df).
func (c *ImageAPI) DiskUsage(ctx context.Context) (DiskUsage, error) {
	res, err := c.api.DiskUsage(ctx, client.DiskUsageOptions{Images: true, Volumes: true, BuildCache: true, Verbose: true})
	if err != nil {
		return DiskUsage{}, fmt.Errorf("docker: disk usage: %w", err)
	}
	out := DiskUsage{Images: map[string]ImageUsage{}, Volumes: map[string]int64{}}
	for _, im := range res.Images.Items {
		for _, tag := range im.RepoTags {
			out.Images[tag] = ImageUsage{ID: im.ID, Size: im.Size}
		}
	}
	for _, v := range res.Volumes.Items {
		if v.Labels[LabelInstance] != c.instance || c.instance == "" {
			continue
		}
		size := int64(-1)
		if v.UsageData != nil {
			size = v.UsageData.Size
		}
		out.Volumes[v.Name] = size
	}
	for _, r := range res.BuildCache.Items {
		if !r.Shared {
			out.BuildCache += r.Size
		}
		out.BuildCacheCount++
	}
	if out.BuildCache == 0 {
		out.BuildCache = res.BuildCache.TotalSize
	}
	return out, nil
}

// PruneBuildCache removes unused build cache until at most keep bytes of
// it are left (the engine's POST /build/prune: keep-storage before API
// 1.48, max-used-space from then on), and returns what it freed. The
// cache is the engine's, not only Berth's: this is what `docker builder
// prune --keep-storage` does, and what BuildKit's own garbage collection
// would do with that bound.
func (c *ImageAPI) PruneBuildCache(ctx context.Context, keep int64) (int64, error) {
	opts := client.BuildCachePruneOptions{}
	if versions.LessThan(c.api.ClientVersion(), "1.48") {
		opts.ReservedSpace = keep // sent as keep-storage
	} else {
		opts.MaxUsedSpace = keep
	}
	res, err := c.api.BuildCachePrune(ctx, opts)
	if err != nil {
		return 0, fmt.Errorf("docker: prune the build cache: %w", err)
	}
	return int64(res.Report.SpaceReclaimed), nil
}
