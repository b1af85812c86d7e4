package deploy

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/berth-paas/berth/platform"
)

// Releases returns the app's releases, newest first, and the current
// release's version.
func (d *Deployer) Releases(ctx context.Context, app string) ([]platform.Release, int, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return nil, 0, err
	}
	rels := slices.Clone(a.Releases)
	slices.Reverse(rels)
	return rels, a.Current, nil
}

// Rollback makes a new release from an earlier one, image and config
// together, with no rebuild, and rolls it out without downtime. target 0
// means the release before the current one.
func (d *Deployer) Rollback(ctx context.Context, app string, target int, log io.Writer) (platform.Release, error) {
	log = logWriter(log)
	var next platform.Release
	err := d.apps.ChangeApp(ctx, app, "a rollback", func(a *platform.App, _ func() error) (err error) {
		next, err = d.rollback(ctx, a, target, log)
		return err
	})
	if err != nil {
		return platform.Release{}, err
	}
	return next, nil
}

// rollback is Rollback of the locked app a.
func (d *Deployer) rollback(ctx context.Context, a *platform.App, target int, log io.Writer) (platform.Release, error) {
	app := a.Name
	if a.Locked {
		return platform.Release{}, fmt.Errorf("%s is locked and refuses deploys; run apps:unlock %s first", app, app)
	}
	if a.Current == 0 {
		return platform.Release{}, platform.Errorf(platform.ErrNotDeployed, "%s has no release yet; push to it first", app)
	}
	if target == 0 {
		for _, r := range a.Releases {
			if r.Version < a.Current {
				target = max(target, r.Version)
			}
		}
		if target == 0 {
			return platform.Release{}, fmt.Errorf("%s has no release before v%d to roll back to", app, a.Current)
		}
	}
	i := slices.IndexFunc(a.Releases, func(r platform.Release) bool { return r.Version == target })
	if i < 0 {
		g, err := d.globals.Settings(ctx) // a broken document says so elsewhere; the message still helps
		if err != nil {
			g = platform.Global{} // half-read: the decoder fills what it could
		}
		keep, _ := platform.KeepReleasesOf(a, g, d.apps.Limits())
		return platform.Release{}, fmt.Errorf("%s has no release v%d; see `releases %s` (an app keeps its newest %d releases with their images: releases:set %s keep N)", app, target, app, keep, app)
	}
	if target == a.Current {
		return platform.Release{}, fmt.Errorf("v%d is already the current release of %s", target, app)
	}
	from := a.Releases[i]
	next := from
	next.Version = a.NextVersion()
	next.Image = fmt.Sprintf("berth/%s:v%d", app, next.Version)
	next.Reason = fmt.Sprintf("rollback to v%d", target)
	next.CreatedAt = time.Now().UTC()
	next.Config = maps.Clone(from.Config)
	if err := d.engine.Tag(ctx, from.ImageID, next.Image); err != nil {
		return platform.Release{}, fmt.Errorf("the image of v%d is gone, so %s cannot roll back to it: %w", target, app, err)
	}
	// The app's config follows the release it returns to, so the next
	// config change starts from what now runs.
	a.Config = maps.Clone(from.Config)
	fmt.Fprintf(log, "-----> Rolling %s back to v%d as v%d\n", app, target, next.Version)
	if err := d.rollout(ctx, a, next, log); err != nil {
		d.engine.RemoveImage(context.WithoutCancel(ctx), next.Image)
		return platform.Release{}, fmt.Errorf("rollback of %s to v%d did not start: %w", app, target, err)
	}
	return next, nil
}
