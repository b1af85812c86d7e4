package docker

import (
	"context"
	"fmt"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
)

// VolumeAPI is the part of Client that keeps named volumes: datastores'
// data (services) and builders' caches. The volumes it creates carry this
// Berth's instance ID (stamp), and it removes or reuses only those.
type VolumeAPI struct {
	*conn
}

// CreateVolume creates a named volume unless it exists.
func (c *VolumeAPI) CreateVolume(ctx context.Context, name string, labels map[string]string) error {
	if _, err := c.api.VolumeCreate(ctx, client.VolumeCreateOptions{Name: name, Labels: c.stamp(labels)}); err != nil {
		return fmt.Errorf("docker: create volume %s: %w", name, err)
	}
	return nil
}

// RemoveVolume deletes a named volume; a missing one is not an error.
func (c *VolumeAPI) RemoveVolume(ctx context.Context, name string) error {
	_, err := c.api.VolumeRemove(ctx, name, client.VolumeRemoveOptions{})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove volume %s: %w", name, err)
	}
	return nil
}

// HasVolume reports whether a named volume exists.
func (c *VolumeAPI) HasVolume(ctx context.Context, name string) (bool, error) {
	_, err := c.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("docker: inspect volume %s: %w", name, err)
}

// EnsureVolume creates the named volume with labels (stamped) unless it
// exists, and says whether it existed. A volume of that name that is not
// this Berth's (another Berth on the engine made it, or it was made by
// hand), or not the app's that labels name, is refused rather than
// shared: a build cache carries what the next build runs
// (checkVolumeOwner). The herokuish and pack builders' caches are made
// by it.
func (c *VolumeAPI) EnsureVolume(ctx context.Context, name string, labels map[string]string) (existed bool, err error) {
	res, err := c.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	switch {
	case err == nil:
		return true, checkVolumeOwner(name, res.Volume.Labels, c.instance, labels)
	case !IsNotFound(err):
		return false, fmt.Errorf("docker: inspect volume %s: %w", name, err)
	}
	return false, c.CreateVolume(ctx, name, labels)
}

// RemoveOwnVolume removes the named volume if it is this Berth's (its
// instance label); a missing volume, or another Berth's, is left alone
// without an error.
func (c *VolumeAPI) RemoveOwnVolume(ctx context.Context, name string) error {
	res, err := c.api.VolumeInspect(ctx, name, client.VolumeInspectOptions{})
	if IsNotFound(err) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("docker: inspect volume %s: %w", name, err)
	}
	if res.Volume.Labels[LabelInstance] != c.instance {
		return nil
	}
	return c.RemoveVolume(ctx, name)
}

// checkVolumeOwner refuses an existing build cache volume that is not
// this Berth's (its instance label) or not the app's (its app label, when
// the caller names an app): a build cache is written into and carries
// what the next build runs, so one app's must never be another's.
func checkVolumeOwner(name string, have map[string]string, instance string, want map[string]string) error {
	if have[LabelInstance] != instance {
		return fmt.Errorf("the volume %s exists and is not this Berth's (its %s label is %q): remove it (docker volume rm %s) or give this Berth its own engine", name, LabelInstance, have[LabelInstance], name)
	}
	if app := want[LabelApp]; app != "" && have[LabelApp] != app {
		return fmt.Errorf("the volume %s exists and is not the build cache of app %s (its %s label is %q): remove it (docker volume rm %s); the next build makes it again", name, app, LabelApp, have[LabelApp], name)
	}
	return nil
}
