package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/client"
)

// BuildRun is a build that runs as a container of a builder image
// (herokuish's /build): the source goes in as a tar, the command runs to
// its end, and the caller commits the container (Commit) and removes it
// (RemoveOneOff).
type BuildRun struct {
	Image string
	Cmd   []string
	// Env is the container's environment. It is committed into the image
	// with the container, so it must hold no secret: an app's config goes
	// in as Files.
	Env []string
	// Labels are stamped (StampLabels) like every container Berth makes;
	// a build container carries LabelOneOff, so a start after a crash
	// removes one left behind.
	Labels map[string]string
	// Volumes are named volumes mounted into the container: name → path.
	// They outlive the container (a build cache).
	Volumes map[string]string
	// Files are written, as name → content (mode 0600), into FilesDir, a
	// fresh anonymous volume: never part of an image Commit makes, and
	// removed with the container (RemoveOneOff).
	Files    map[string]string
	FilesDir string
	// Source is a tar stream unpacked at SourceDir before the container
	// starts; SourceDir's parent must exist in the image. The tar's
	// entries are put under SourceDir's last element, so that the
	// directory need not exist beforehand.
	Source    io.Reader
	SourceDir string
	// Output receives the command's stdout and stderr as they come.
	Output io.Writer
	// Memory, MemorySwap (bytes) and NanoCPUs limit the container, as
	// the build phase's limits do; PidsLimit bounds its processes (a fork
	// bomb in a build script); zero means none.
	Memory, MemorySwap, NanoCPUs, PidsLimit int64
}

// RunBuild creates the build container, copies the source in, runs it to
// its end and returns its exit code and ID. The container is kept even
// when RunBuild fails after creating it (id is then set): the caller
// removes it with RemoveOneOff, also when the build was cancelled.
//
// The container runs on Docker's default bridge, as `docker build` does,
// not on Berth's network: a build needs the internet (buildpacks), not
// the apps.
func (c *BuildAPI) RunBuild(ctx context.Context, spec BuildRun) (exitCode int, id string, err error) {
	labels := c.stamp(spec.Labels)
	cfg := &container.Config{Image: spec.Image, Cmd: spec.Cmd, Env: spec.Env, Labels: labels}
	hc := &container.HostConfig{
		Init: &useInit,
		Resources: container.Resources{
			Memory: spec.Memory, MemorySwap: spec.MemorySwap, NanoCPUs: spec.NanoCPUs,
		},
	}
	if spec.PidsLimit > 0 {
		limit := spec.PidsLimit
		hc.PidsLimit = &limit
	}
	for _, name := range slices.Sorted(maps.Keys(spec.Volumes)) {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Source: name, Target: spec.Volumes[name]})
	}
	if spec.FilesDir != "" {
		// A mount in HostConfig, not a VOLUME in Config: Commit would
		// copy the latter into the image.
		hc.Mounts = append(hc.Mounts, mount.Mount{
			Type: mount.TypeVolume, Target: spec.FilesDir,
			VolumeOptions: &mount.VolumeOptions{Labels: labels},
		})
	}
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{Config: cfg, HostConfig: hc})
	if err != nil {
		return 0, "", fmt.Errorf("docker: create the build container from %s: %w", spec.Image, err)
	}
	id = created.ID
	if spec.FilesDir != "" && len(spec.Files) > 0 {
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			tw := tar.NewWriter(pw)
			var err error
			for _, name := range slices.Sorted(maps.Keys(spec.Files)) {
				content := spec.Files[name]
				if err = tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(content))}); err != nil {
					break
				}
				if _, err = io.WriteString(tw, content); err != nil {
					break
				}
			}
			if err == nil {
				err = tw.Close()
			}
			pw.CloseWithError(err)
		}()
		_, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: spec.FilesDir, Content: pr})
		pr.CloseWithError(err)
		<-done
		if err != nil {
			return 0, id, fmt.Errorf("docker: copy the build's files into its container: %w", err)
		}
	}
	if spec.Source != nil {
		dir := strings.TrimSuffix(spec.SourceDir, "/")
		parent, base := dir[:strings.LastIndex(dir, "/")+1], dir[strings.LastIndex(dir, "/")+1:]
		if parent == "" || base == "" {
			return 0, id, fmt.Errorf("docker: the build's source directory %q must be an absolute path below /", spec.SourceDir)
		}
		pr, pw := io.Pipe()
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(prefixTar(pw, spec.Source, base))
		}()
		_, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: parent, Content: pr})
		pr.CloseWithError(err)
		// The caller closes spec.Source when RunBuild returns (the git
		// archive): prefixTar must have stopped reading it by then. With
		// pr closed, its next write fails, so this does not block.
		<-done
		if err != nil {
			return 0, id, fmt.Errorf("docker: copy the source into the build container: %w", err)
		}
	}
	code, err := c.containers.runToExit(ctx, id, spec.Output, "build container")
	return code, id, err
}

// prefixTar copies the tar stream r to w with every entry under dir/ (a
// directory entry for dir first), so that CopyToContainer into dir's
// parent makes dir.
func prefixTar(w io.Writer, r io.Reader, dir string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	if err := tw.WriteHeader(&tar.Header{Name: dir + "/", Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
		return err
	}
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader {
			continue // git archive's commit ID comment
		}
		name := strings.TrimPrefix(hdr.Name, "./")
		if name == "" || name == "/" {
			continue
		}
		hdr.Name = dir + "/" + name
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
