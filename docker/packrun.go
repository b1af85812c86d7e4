package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/url"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// ImageConfig is what a builder reads off an image's config: a builder
// image's CNB user (CNB_USER_ID in its env) and metadata labels, a built
// image's launch metadata.
type ImageConfig struct {
	Env    []string
	Labels map[string]string
	User   string
}

// ImageConfig returns a local image's config; ok is false when the engine
// has no image by that reference (nothing is pulled).
func (c *ImageAPI) ImageConfig(ctx context.Context, ref string) (cfg ImageConfig, ok bool, err error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if cerrdefs.IsNotFound(err) {
		return ImageConfig{}, false, nil
	}
	if err != nil {
		return ImageConfig{}, false, fmt.Errorf("docker: inspect image %s: %w", ref, err)
	}
	if res.Config == nil {
		return ImageConfig{}, true, nil
	}
	return ImageConfig{Env: res.Config.Env, Labels: res.Config.Labels, User: res.Config.User}, true, nil
}

// LocalSocket returns the path of the engine's unix socket, for a build
// container that talks to the engine itself (the CNB lifecycle's -daemon
// export, which gets the socket mounted in). An engine reached any other
// way (tcp://, ssh://) has no socket on this host to mount: the error
// says so.
func (c *BuildAPI) LocalSocket() (string, error) {
	host := c.api.DaemonHost()
	u, err := url.Parse(host)
	if err != nil || u.Scheme != "unix" || u.Path == "" {
		return "", fmt.Errorf("the Docker engine is at %s, not at a local unix socket, and a build container can only reach the engine through its socket mounted in", host)
	}
	return u.Path, nil
}

// BuildContainer is a container that runs a build step to its end: the
// CNB lifecycle's creator in a builder image.
type BuildContainer struct {
	Image string
	// User overrides the image's user ("root" for the creator, which
	// drops to the builder's CNB user itself after opening the engine's
	// socket).
	User string
	Cmd  []string
	Env  []string
	// Labels are stamped (StampLabels) like every container Berth makes.
	Labels map[string]string
	// Binds are host paths mounted in, as "SOURCE:TARGET"; Volumes are
	// named volumes, name → target.
	Binds   []string
	Volumes map[string]string
	// Files is a tar copied to / before the container starts (the
	// source, platform files); its headers say the files' owners.
	Files io.Reader
	// Output receives the container's stdout and stderr as they come.
	Output io.Writer
	// Memory and MemorySwap (bytes) and NanoCPUs limit the container;
	// zero means no limit.
	Memory, MemorySwap, NanoCPUs int64
}

// RunBuildContainer runs spec to its end and returns its exit code. The
// container is removed afterwards, also when ctx is cancelled (a build
// cut off by a timeout or a pusher who went away leaves nothing behind).
func (c *BuildAPI) RunBuildContainer(ctx context.Context, spec BuildContainer) (int, error) {
	cfg := &container.Config{Image: spec.Image, User: spec.User, Cmd: spec.Cmd, Env: spec.Env, Labels: c.stamp(spec.Labels)}
	hc := &container.HostConfig{Init: &useInit, Binds: spec.Binds}
	for name, target := range spec.Volumes {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: target})
	}
	hc.Resources = container.Resources{Memory: spec.Memory, MemorySwap: spec.MemorySwap, NanoCPUs: spec.NanoCPUs}
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		return 0, fmt.Errorf("docker: create build container from %s: %w", spec.Image, err)
	}
	id := created.ID
	defer c.containers.RemoveOneOff(context.WithoutCancel(ctx), id)
	if spec.Files != nil {
		if _, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: "/", Content: spec.Files}); err != nil {
			return 0, fmt.Errorf("docker: copy the source into the build container: %w", err)
		}
	}
	return c.containers.runToExit(ctx, id, spec.Output, "build container")
}

// SetEntrypoint gives the image ref a new ENTRYPOINT, keeping its file
// system and the rest of its config, under the same name, and returns
// the new image's ID. It commits a container that never starts (stamped,
// and removed at once; the image gets Berth's labels blank, as Commit
// gives them).
func (c *BuildAPI) SetEntrypoint(ctx context.Context, ref string, entrypoint []string) (string, error) {
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{Config: &container.Config{Image: ref, Labels: c.stamp(nil)}})
	if err != nil {
		return "", fmt.Errorf("docker: create a container of %s: %w", ref, err)
	}
	defer c.containers.RemoveOneOff(context.WithoutCancel(ctx), created.ID)
	quoted, err := json.Marshal(entrypoint)
	if err != nil {
		return "", err
	}
	res, err := c.api.ContainerCommit(ctx, created.ID, client.ContainerCommitOptions{
		Reference: ref,
		Changes:   []string{"ENTRYPOINT " + string(quoted)},
		Config:    &container.Config{Labels: BlankLabels()},
	})
	if err != nil {
		return "", fmt.Errorf("docker: set the entrypoint of %s: %w", ref, err)
	}
	return res.ID, nil
}
