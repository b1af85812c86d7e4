package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"time"

	"github.com/berth-paas/berth/platform"
)

// SetConfig sets config vars and, unless noRestart or the app was never
// deployed, rolls out a new release with them (the running release serves
// until the new one passes its checks).
func (d *Deployer) SetConfig(ctx context.Context, app string, set map[string]string, unset []string, noRestart bool, log io.Writer) error {
	_, err := d.setConfig(ctx, app, set, unset, false, noRestart, log)
	return err
}

// ReplaceConfig is SetConfig for config:import --replace: the app's config
// becomes set, all or nothing. The vars to remove are read under the
// app's lock, so a config:set between reading and writing cannot survive
// the replace. It returns the removed keys, sorted.
func (d *Deployer) ReplaceConfig(ctx context.Context, app string, set map[string]string, noRestart bool, log io.Writer) ([]string, error) {
	return d.setConfig(ctx, app, set, nil, true, noRestart, log)
}

func (d *Deployer) setConfig(ctx context.Context, app string, set map[string]string, unset []string, replace, noRestart bool, log io.Writer) ([]string, error) {
	for k := range set {
		if !platform.ValidEnvName(k) {
			return nil, fmt.Errorf("%q is not a valid config var name: use letters, digits and underscores, not starting with a digit", k)
		}
	}
	var removed []string
	err := d.apps.ChangeApp(ctx, app, "a config change", func(a *platform.App, save func() error) error {
		removed = platform.ChangeConfig(&a.Config, set, unset, replace)
		rel, deployed := a.CurrentRelease()
		if noRestart || !deployed {
			return save()
		}
		return d.configRelease(ctx, a, rel, logWriter(log))
	})
	return removed, err
}

// configRelease rolls out a copy of rel with the app's current config as a
// new release, reusing rel's image.
func (d *Deployer) configRelease(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	next := rel
	next.Version = a.NextVersion()
	next.Image = fmt.Sprintf("berth/%s:v%d", a.Name, next.Version)
	next.Reason = "config"
	next.CreatedAt = time.Now().UTC()
	next.Config = maps.Clone(a.Config)
	if err := d.engine.Tag(ctx, rel.ImageID, next.Image); err != nil {
		return err
	}
	fmt.Fprintf(log, "-----> Releasing v%d of %s with the new config\n", next.Version, a.Name)
	// The release command runs as in a deploy: under the build's limits
	// and build_timeout.
	limits, _, err := d.buildResources(ctx, a)
	if err != nil {
		return err
	}
	timeout := d.apps.Limits().BuildTimeout
	releaseCtx, cancel := context.WithTimeoutCause(ctx, timeout, errBuildTimeout)
	err = d.scripts.releasePhase(releaseCtx, a, next, limits, log)
	if errors.Is(context.Cause(releaseCtx), errBuildTimeout) && ctx.Err() == nil {
		err = fmt.Errorf("the release command of %s took longer than build_timeout (%s) and was stopped; make it faster, or have the admin raise build_timeout in the Caddyfile's berth block; the running release keeps serving", a.Name, timeout)
	}
	cancel()
	if err != nil {
		d.engine.RemoveImage(context.WithoutCancel(ctx), next.Image)
		return err
	}
	if err := d.rollout(ctx, a, next, log); err != nil {
		d.engine.RemoveImage(context.WithoutCancel(ctx), next.Image)
		return fmt.Errorf("release v%d of %s did not start: %w", next.Version, a.Name, err)
	}
	return nil
}

// Config returns the app's config vars.
func (d *Deployer) Config(ctx context.Context, app string) (map[string]string, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return nil, err
	}
	return maps.Clone(a.Config), nil
}
