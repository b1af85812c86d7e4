package fakeengine

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/berth-paas/berth/docker"
	"github.com/moby/moby/client"
)

// ImageEngine is the part of Engine that keeps local images: it
// implements platform.ImageEngine; a test adds images with AddImage.
type ImageEngine struct {
	*world
}

// AddImage makes ref a local image.
func (e *ImageEngine) AddImage(ref string, img Image) { e.addImage(ref, img) }

// addImage is AddImage, for every part (Commit makes an image).
func (e *world) addImage(ref string, img Image) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if img.ID == "" {
		img.ID = "sha256:" + randomHex(32)
	}
	i := img
	e.images[ref] = &i
	e.images[img.ID] = &i
}

// Images returns the references the engine has (tags, not IDs), sorted.
func (e *ImageEngine) Images() []string {
	e.mu.Lock()
	defer e.mu.Unlock()
	var refs []string
	for ref, img := range e.images {
		if ref != img.ID {
			refs = append(refs, ref)
		}
	}
	slices.Sort(refs)
	return refs
}

// CheckImageLabels is docker.Client's.
func (e *ImageEngine) CheckImageLabels(ctx context.Context, image string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[image]
	if !ok {
		return notFound("image", image)
	}
	return docker.CheckLabels(img.Labels)
}

func (e *ImageEngine) ImageID(ctx context.Context, ref string) (string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[ref]
	if !ok {
		return "", notFound("image", ref)
	}
	return img.ID, nil
}

func (e *ImageEngine) ExposedPort(ctx context.Context, image string) (int, bool, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[image]
	if !ok {
		return 0, false, notFound("image", image)
	}
	return img.Port, img.Port != 0, nil
}

func (e *ImageEngine) ImageCmd(ctx context.Context, image string) ([]string, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[image]
	if !ok {
		return nil, notFound("image", image)
	}
	return slices.Clone(img.Cmd), nil
}

func (e *ImageEngine) Tag(ctx context.Context, source, target string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	img, ok := e.images[source]
	if !ok {
		return notFound("image", source)
	}
	e.images[target] = img
	return nil
}

func (e *ImageEngine) RemoveImage(ctx context.Context, ref string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record("RemoveImage " + ref)
	delete(e.images, ref)
	return nil
}

// DiskUsage is docker.Client's: every tag with its image's ID, size 1
// MB each; no volumes or build cache.
func (e *ImageEngine) DiskUsage(ctx context.Context) (docker.DiskUsage, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	out := docker.DiskUsage{Images: map[string]docker.ImageUsage{}, Volumes: map[string]int64{}}
	for ref, img := range e.images {
		if ref != img.ID {
			out.Images[ref] = docker.ImageUsage{ID: img.ID, Size: 1 << 20}
		}
	}
	return out, nil
}

// PruneBuildCache records the call; the fake has no build cache.
func (e *ImageEngine) PruneBuildCache(ctx context.Context, keep int64) (int64, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.record(fmt.Sprintf("PruneBuildCache %d", keep))
	return 0, nil
}

// ImageBuild is not faked: unit tests deploy images (DeployRequest.Image);
// builds are proven end to end.
func (e *ImageEngine) ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return client.ImageBuildResult{}, errors.New("fake engine: builds are not faked; deploy an image")
}
