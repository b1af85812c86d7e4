package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// OneOff is a container that runs a command to its end: a release phase
// or a deploy script.
type OneOff struct {
	Image string
	Cmd   []string
	// Entrypoint replaces the image's ENTRYPOINT when set (a builder's
	// launch argv for a process type, such as /cnb/process/release, which
	// must not run under the image's own launcher entrypoint).
	Entrypoint []string
	Env        []string
	Labels     map[string]string
	// Files are written before the container starts, as name → content,
	// into OneOffFilesDir: a fresh anonymous volume, so they work with a
	// read-only root file system, never enter an image Commit makes, and
	// go with the container (RemoveOneOff).
	Files map[string]string
	// Output receives the command's stdout and stderr as they come.
	Output io.Writer
	// Keep leaves the exited container in place (for Commit); the caller
	// removes it with RemoveOneOff.
	Keep bool
	// Host are the app's mounts, resources, networks and docker-options
	// for this phase.
	Host HostOptions
}

// RunOnce runs a one-off container to its end and returns its exit code
// and ID. The container is removed afterwards unless spec.Keep.
func (c *ContainerAPI) RunOnce(ctx context.Context, spec OneOff) (exitCode int, id string, err error) {
	labels := c.stamp(spec.Labels)
	cfg := &container.Config{Image: spec.Image, Cmd: spec.Cmd, Entrypoint: spec.Entrypoint, Env: spec.Env, Labels: labels}
	mode, netcfg := c.createNetworking(spec.Host)
	hc := &container.HostConfig{Init: &useInit, NetworkMode: mode}
	spec.Host.apply(cfg, hc)
	if len(spec.Files) > 0 {
		// A mount in HostConfig, not a VOLUME in Config: Commit would
		// copy the latter into the image.
		hc.Mounts = append(hc.Mounts, mount.Mount{
			Type: mount.TypeVolume, Target: OneOffFilesDir,
			VolumeOptions: &mount.VolumeOptions{Labels: labels},
		})
	}
	// Created whatever happens to ctx, so that its ID is known and it
	// is removed: a create cut off halfway leaves a container no one
	// knows of.
	cleanup := context.WithoutCancel(ctx)
	created, err := c.api.ContainerCreate(cleanup, client.ContainerCreateOptions{Config: cfg, HostConfig: hc, NetworkingConfig: netcfg})
	if err != nil {
		return 0, "", fmt.Errorf("docker: create one-off container: %w", err)
	}
	id = created.ID
	if !spec.Keep {
		defer c.RemoveOneOff(cleanup, id)
	}
	if err := ctx.Err(); err != nil {
		return 0, id, err
	}
	if err := c.connectNetworks(ctx, id, spec.Host); err != nil {
		return 0, id, err
	}
	if len(spec.Files) > 0 {
		var buf strings.Builder
		tw := tar.NewWriter(&buf)
		for name, content := range spec.Files {
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(content))})
			io.WriteString(tw, content)
		}
		tw.Close()
		if _, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: OneOffFilesDir, Content: strings.NewReader(buf.String())}); err != nil {
			return 0, id, fmt.Errorf("docker: copy files into one-off container: %w", err)
		}
	}
	code, err := c.runToExit(ctx, id, spec.Output, "one-off container")
	return code, id, err
}

// runToExit starts the created container id, copies its output to output
// (when not nil) as it comes, and waits for it to exit. what names the
// container in errors ("build container").
func (c *ContainerAPI) runToExit(ctx context.Context, id string, output io.Writer, what string) (int, error) {
	// Waited for before it starts, so that an exit right after the
	// start is not missed.
	wait := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return 0, fmt.Errorf("docker: start the %s: %w", what, explainBridgeFull(err))
	}
	if output != nil {
		logs, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			// It runs on; only its output is lost. Say so rather than
			// leave a silent gap.
			fmt.Fprintf(output, " !     could not follow the %s's output (%v); it runs on, and its result still counts\n", what, err)
		} else {
			stdcopy.StdCopy(output, output, logs)
			logs.Close()
		}
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("docker: waiting for the %s: %s", what, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		return 0, fmt.Errorf("docker: waiting for the %s: %w", what, err)
	}
}

// OneOffFilesDir is where a one-off's Files are.
const OneOffFilesDir = "/.berth-files"

// RemoveOneOff deletes a one-off container with its anonymous volumes
// (the one holding its Files among them), as docker run --rm does.
func (c *ContainerAPI) RemoveOneOff(ctx context.Context, id string) error {
	_, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove container %s: %w", id, err)
	}
	return nil
}

// RemoveOrphanOneOffVolumes removes this Berth's one-off volumes
// (labelled LabelOneOff, as a herokuish build's FilesDir volume, which
// holds the app's config) that no container uses: what a crash between a
// build container's creation and its RemoveOneOff left on disk. It
// returns how many it removed.
func (c *ContainerAPI) RemoveOrphanOneOffVolumes(ctx context.Context) (int, error) {
	if c.instance == "" {
		return 0, nil // not Identified: nothing to tell this Berth's from another's
	}
	f := client.Filters{}
	f.Add("label", LabelOneOff)
	f.Add("label", LabelInstance+"="+c.instance)
	f.Add("dangling", "true")
	res, err := c.api.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return 0, fmt.Errorf("docker: list one-off volumes: %w", err)
	}
	n := 0
	for _, v := range res.Items {
		_, err := c.api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			return n, fmt.Errorf("docker: remove one-off volume %s: %w", v.Name, err)
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}
