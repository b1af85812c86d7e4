package platform

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// Releases returns the app's releases, newest first.
func (p *Platform) Releases(ctx context.Context, app string) ([]Release, int, error) {
	a, err := p.App(ctx, app)
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
func (p *Platform) Rollback(ctx context.Context, app string, target int, log io.Writer) (Release, error) {
	log = logWriter(log)
	a, unlock, err := p.lockedApp(ctx, app, "a rollback")
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	if a.Locked {
		return Release{}, fmt.Errorf("%s is locked and refuses deploys; run apps:unlock %s first", app, app)
	}
	if a.Current == 0 {
		return Release{}, Errorf(ErrNotDeployed, "%s has no release yet; push to it first", app)
	}
	if target == 0 {
		for _, r := range a.Releases {
			if r.Version < a.Current {
				target = max(target, r.Version)
			}
		}
		if target == 0 {
			return Release{}, fmt.Errorf("%s has no release before v%d to roll back to", app, a.Current)
		}
	}
	i := slices.IndexFunc(a.Releases, func(r Release) bool { return r.Version == target })
	if i < 0 {
		g, err := loadGlobal(ctx, p.store) // a broken document says so elsewhere; the message still helps
		if err != nil {
			g = Global{} // half-read: the decoder fills what it could
		}
		keep, _ := KeepReleasesOf(a, g, p.Limits())
		return Release{}, fmt.Errorf("%s has no release v%d; see `releases %s` (an app keeps its newest %d releases with their images: releases:set %s keep N)", app, target, app, keep, app)
	}
	if target == a.Current {
		return Release{}, fmt.Errorf("v%d is already the current release of %s", target, app)
	}
	from := a.Releases[i]
	next := from
	next.Version = a.NextVersion()
	next.Image = fmt.Sprintf("berth/%s:v%d", app, next.Version)
	next.Reason = fmt.Sprintf("rollback to v%d", target)
	next.CreatedAt = time.Now().UTC()
	next.Config = maps.Clone(from.Config)
	if err := p.docker.Tag(ctx, from.ImageID, next.Image); err != nil {
		return Release{}, fmt.Errorf("the image of v%d is gone, so %s cannot roll back to it: %w", target, app, err)
	}
	// The app's config follows the release it returns to, so the next
	// config change starts from what now runs.
	a.Config = maps.Clone(from.Config)
	fmt.Fprintf(log, "-----> Rolling %s back to v%d as v%d\n", app, target, next.Version)
	if err := p.rollout(ctx, a, next, log); err != nil {
		p.docker.RemoveImage(context.WithoutCancel(ctx), next.Image)
		return Release{}, fmt.Errorf("rollback of %s to v%d did not start: %w", app, target, err)
	}
	return next, nil
}

// ParseVersion reads "v3" or "3".
func ParseVersion(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a release; give one like v3", s)
	}
	return n, nil
}

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
