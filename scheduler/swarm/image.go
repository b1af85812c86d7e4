package swarm

// Where a service's tasks get the release's image: from Berth's registry
// (or the registry Images stands for), by digest, with the registry auth
// Swarm hands to each task on whichever node it runs.

import (
	"context"
	"fmt"
	"strings"

	"github.com/berth-paas/berth/platform"
)

// Images puts a release's image where the swarm's nodes pull it from
// (package registry is one).
type Images interface {
	// Publish makes the image imageID of app's release version pullable
	// and returns the reference the tasks run (by digest: a tag moving
	// changes nothing, and nothing is looked up on Docker Hub) and the
	// registry auth (the engine's X-Registry-Auth form) for the services
	// of generation gen; running is the generation serving now, whose
	// services keep their auth until they go. ref "": no registry, the
	// tasks run the image by ID.
	Publish(ctx context.Context, app string, version int, imageID string, gen, running int) (ref, auth string, err error)
}

// image is what a service of a's generation gen runs rel as.
type image struct{ ref, auth string }

// image publishes rel's image for gen's services. Without Images (or a
// registry behind it) the tasks run the release's image ID (taskImage),
// which only the manager has.
func (s *Scheduler) image(ctx context.Context, a *platform.App, rel platform.Release, gen int) (image, error) {
	if s.images == nil {
		return image{}, nil
	}
	if !strings.HasPrefix(rel.ImageID, "sha256:") {
		return image{}, fmt.Errorf("v%d of %s has no image ID to push to the registry; deploy it again (ps:rebuild %s)", rel.Version, a.Name, a.Name)
	}
	ref, auth, err := s.images.Publish(ctx, a.Name, rel.Version, rel.ImageID, gen, a.Generation)
	if err != nil {
		return image{}, fmt.Errorf("putting v%d of %s into the registry for the swarm's nodes: %w", rel.Version, a.Name, err)
	}
	return image{ref: ref, auth: auth}, nil
}
