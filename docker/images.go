package docker

import (
	"context"
	"fmt"
	"slices"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ImageAPI is the part of Client that reads, names and removes local
// images, and says what images, volumes and the build cache take on
// disk (disk.go). It implements platform.ImageEngine.
type ImageAPI struct {
	*conn
}

// ExposedPort returns the lowest TCP port the image EXPOSEs, or false when
// it exposes none.
func (c *ImageAPI) ExposedPort(ctx context.Context, image string) (int, bool, error) {
	res, err := c.api.ImageInspect(ctx, image)
	if err != nil {
		return 0, false, fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	if res.Config == nil {
		return 0, false, nil
	}
	var ports []int
	for spec := range res.Config.ExposedPorts {
		p, err := network.ParsePort(spec)
		if err == nil && p.Proto() == network.TCP {
			ports = append(ports, int(p.Num()))
		}
	}
	if len(ports) == 0 {
		return 0, false, nil
	}
	return slices.Min(ports), true, nil
}

// ImageID returns the ID of a local image. The error satisfies IsNotFound
// when the engine has no image by that reference: nothing is pulled.
func (c *ImageAPI) ImageID(ctx context.Context, ref string) (string, error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("docker: inspect image %s: %w", ref, err)
	}
	return res.ID, nil
}

// RemoveImage deletes an image tag; a missing image is not an error.
// When it was the image's last tag, the image goes, and with it its
// untagged parents that nothing else uses (PruneChildren, docker rmi's
// default): the classic builder's intermediate images of each step. The
// client library's zero value asks for noprune, which left every build's
// intermediate layers behind as dangling images.
func (c *ImageAPI) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove image %s: %w", ref, err)
	}
	return nil
}

// CheckImageLabels refuses an image whose config carries a label in
// Berth's namespace (berth.*) with a value. Berth sets those on its
// containers itself (see stamp), so such a label would never take effect;
// an image that has one was made to pass for another app's container, or
// is a copy of one of Berth's containers, and is not deployed. Empty ones
// say nothing, and are what Commit leaves on a predeploy's image.
func (c *ImageAPI) CheckImageLabels(ctx context.Context, image string) error {
	res, err := c.api.ImageInspect(ctx, image)
	if err != nil {
		return fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	if res.Config == nil {
		return nil
	}
	return CheckLabels(res.Config.Labels)
}

// CheckLabels is the rule of CheckImageLabels for an image's labels, for
// any engine.
func CheckLabels(labels map[string]string) error {
	var keys []string
	for k, v := range labels {
		if IsBerthLabel(k) && v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return fmt.Errorf("the image sets the label %s=%q: labels that start with berth. are Berth's own and an image may not carry them; remove the LABEL from the Dockerfile (or use a base image without it)",
		keys[0], labels[keys[0]])
}

// ImageCmd returns the image's CMD.
func (c *ImageAPI) ImageCmd(ctx context.Context, image string) ([]string, error) {
	res, err := c.api.ImageInspect(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	if res.Config == nil {
		return nil, nil
	}
	return res.Config.Cmd, nil
}

// Tag gives an image another name.
func (c *ImageAPI) Tag(ctx context.Context, source, target string) error {
	if _, err := c.api.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		return fmt.Errorf("docker: tag %s as %s: %w", source, target, err)
	}
	return nil
}
