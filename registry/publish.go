package registry

// A release's image into the registry (Publish), and out of it once no
// kept release needs it (Prune, Forget, collect).

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/distribution/distribution/v3/registry/storage"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// Engine is what Publish asks of Berth's Docker engine (*client.Client
// is one).
type Engine interface {
	ImageTag(ctx context.Context, options client.ImageTagOptions) (client.ImageTagResult, error)
	ImagePush(ctx context.Context, image string, options client.ImagePushOptions) (client.ImagePushResponse, error)
	ImageRemove(ctx context.Context, image string, options client.ImageRemoveOptions) (client.ImageRemoveResult, error)
}

// Image is where a release's image is pulled from: Ref names it by
// digest (HOST/berth/APP@sha256:...: a tag moving changes nothing), and
// Auth is the registry auth a service carries for its tasks (the
// engine's X-Registry-Auth form).
type Image struct {
	Ref, Auth string
}

// Repo is app's repository, HOST[:PORT]/berth/APP.
func (r *Registry) Repo(app string) string { return r.host + "/" + repoPrefix + app }

var versionTag = regexp.MustCompile(`^v[1-9][0-9]*$`)

// Publish puts version's image (imageID, on Berth's engine) into app's
// repository as tag vVERSION, and issues a pull credential for the
// service generation gen (running is the generation that serves now).
//
// A tag already there is used only when it names this very image
// (imageOf): a tag's name says nothing of its image (a failed rollout's
// version is used again by the next deploy, NextVersion; an app
// destroyed or renamed may have left its name's tags). Otherwise the
// image is pushed, the tag moving to it. Not pushing what is there
// already spares the engine a push it may not be able to make (its copy
// of the image pruned: the tasks run elsewhere).
func (r *Registry) Publish(ctx context.Context, app string, version int, imageID string, gen, running int) (ref, auth string, err error) {
	img, err := r.publish(ctx, app, version, imageID, gen, running)
	return img.Ref, img.Auth, err
}

func (r *Registry) publish(ctx context.Context, app string, version int, imageID string, gen, running int) (Image, error) {
	// Shared with other publishes, exclusive of a collection (collect):
	// a blob pushed but not yet named by the manifest would look unused.
	// Not r.gc: the push's own requests take that one (ServeHTTP), and a
	// collection waiting for it between two of them would wait for the
	// push while the push waits for it.
	r.pub.RLock()
	defer r.pub.RUnlock()
	tag := "v" + strconv.Itoa(version)
	dgst, ok := r.imageOf(ctx, app, tag, imageID)
	if !ok {
		var err error
		if dgst, err = r.push(ctx, app, tag, imageID); err != nil {
			return Image{}, err
		}
	}
	pass, err := r.issuePull(app, gen, running)
	if err != nil {
		return Image{}, fmt.Errorf("issuing the registry's pull credential of %s: %w", app, err)
	}
	auth, err := encodeAuth(registry.AuthConfig{Username: pullUserPrefix + app, Password: pass, ServerAddress: r.host})
	if err != nil {
		return Image{}, err
	}
	return Image{Ref: r.Repo(app) + "@" + dgst, Auth: auth}, nil
}

// imageOf returns the manifest digest app's tag names, when that
// manifest is imageID's: the engine's image ID is its config's digest
// (the classic image store) or its manifest's own (the containerd
// store). Anything else (no tag, another image, an unreadable manifest)
// is not.
func (r *Registry) imageOf(ctx context.Context, app, tag, imageID string) (string, bool) {
	named, err := reference.WithName(repoPrefix + app)
	if err != nil {
		return "", false
	}
	repo, err := r.ns.Repository(ctx, named)
	if err != nil {
		return "", false
	}
	desc, err := repo.Tags(ctx).Get(ctx, tag)
	if err != nil {
		return "", false
	}
	if desc.Digest.String() == imageID {
		return imageID, true
	}
	ms, err := repo.Manifests(ctx)
	if err != nil {
		return "", false
	}
	m, err := ms.Get(ctx, desc.Digest)
	if err != nil {
		return "", false
	}
	_, payload, err := m.Payload()
	if err != nil {
		return "", false
	}
	var body struct{ Config struct{ Digest string } }
	if json.Unmarshal(payload, &body) != nil || body.Config.Digest != imageID {
		return "", false
	}
	return desc.Digest.String(), true
}

// push tags imageID as the repository's tag on Berth's engine and pushes
// it with Berth's push credential (pushImage).
func (r *Registry) push(ctx context.Context, app, tag, imageID string) (string, error) {
	auth, err := encodeAuth(registry.AuthConfig{Username: pushUser, Password: r.pushPass, ServerAddress: r.host})
	if err != nil {
		return "", err
	}
	return pushImage(ctx, r.engine, imageID, r.Repo(app), tag, auth)
}

// pushImage tags imageID as repo:tag on engine, pushes it with auth,
// and removes the engine's tag and digest reference again: the image
// stays berth/APP:vN's alone, which the releases' retention removes as
// before. It returns the pushed manifest's digest.
func pushImage(ctx context.Context, engine Engine, imageID, repo, tag, auth string) (string, error) {
	if engine == nil {
		return "", errors.New("no engine to push with")
	}
	target := repo + ":" + tag
	if _, err := engine.ImageTag(ctx, client.ImageTagOptions{Source: imageID, Target: target}); err != nil {
		return "", fmt.Errorf("tagging the image as %s: %w", target, err)
	}
	defer engine.ImageRemove(context.WithoutCancel(ctx), target, client.ImageRemoveOptions{})
	res, err := engine.ImagePush(ctx, target, client.ImagePushOptions{RegistryAuth: auth})
	if err != nil {
		return "", fmt.Errorf("pushing %s: %w", target, err)
	}
	var dgst string
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return "", fmt.Errorf("pushing %s: %w", target, err)
		}
		if m.Error != nil {
			return "", fmt.Errorf("pushing %s: %s (does the engine trust the registry's certificate, and are the credentials right? see docs/SCALING.md)", target, m.Error.Message)
		}
		if m.Aux != nil {
			var aux struct{ Digest string }
			if json.Unmarshal(*m.Aux, &aux) == nil && aux.Digest != "" {
				dgst = aux.Digest
			}
		}
	}
	if !strings.HasPrefix(dgst, "sha256:") {
		return "", fmt.Errorf("pushing %s: the engine reported no digest", target)
	}
	engine.ImageRemove(context.WithoutCancel(ctx), repo+"@"+dgst, client.ImageRemoveOptions{})
	return dgst, nil
}

// encodeAuth is the engine's X-Registry-Auth form of an auth config:
// base64url of its JSON.
func encodeAuth(a registry.AuthConfig) (string, error) {
	b, err := json.Marshal(a)
	if err != nil {
		return "", err
	}
	return base64.URLEncoding.EncodeToString(b), nil
}

// Prune removes app's tags of releases not in keep, revokes its pull
// credentials of generations before running, and collects the storage
// when a tag went. An app with no repository (docker-local) costs a
// look.
func (r *Registry) Prune(ctx context.Context, app string, keep []int, running int) error {
	if err := r.revokePull(app, running, false); err != nil {
		return err
	}
	removed, err := r.untag(ctx, app, func(tag string) bool {
		n, err := strconv.Atoi(strings.TrimPrefix(tag, "v"))
		return err == nil && versionTag.MatchString(tag) && slices.Contains(keep, n)
	})
	if err != nil || removed == 0 {
		return err
	}
	return r.collect(ctx)
}

// Forget removes every tag and credential of app (destroyed, or the
// old name of a renamed app), and collects the storage. The tags go even
// when the credentials cannot, and the other way round.
func (r *Registry) Forget(ctx context.Context, app string) error {
	errCreds := r.revokePull(app, 0, true)
	removed, err := r.untag(ctx, app, func(string) bool { return false })
	if err == nil && removed > 0 {
		err = r.collect(ctx)
	}
	return errors.Join(errCreds, err)
}

// untag removes app's tags that keep refuses, and says how many.
func (r *Registry) untag(ctx context.Context, app string, keep func(tag string) bool) (int, error) {
	named, err := reference.WithName(repoPrefix + app)
	if err != nil {
		return 0, nil // no such repository can exist
	}
	repo, err := r.ns.Repository(ctx, named)
	if err != nil {
		return 0, err
	}
	ts := repo.Tags(ctx)
	tags, err := ts.All(ctx)
	if err != nil {
		return 0, nil // no repository: nothing was pushed for app
	}
	n := 0
	for _, t := range tags {
		if keep(t) {
			continue
		}
		if err := ts.Untag(ctx, t); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}

// collect deletes the manifests no tag names and the blobs no manifest
// needs (distribution's mark and sweep), with the registry quiesced: no
// publish (r.pub) and no request (r.gc) runs meanwhile, so no
// half-pushed image loses a blob. It takes r.pub first: a publish holds
// it across its push's requests, which each take r.gc, so the other
// order would deadlock.
func (r *Registry) collect(ctx context.Context) error {
	r.pub.Lock()
	defer r.pub.Unlock()
	r.gc.Lock()
	defer r.gc.Unlock()
	err := storage.MarkAndSweep(ctx, r.driver, r.ns, storage.GCOpts{RemoveUntagged: true, Quiet: true})
	if err != nil {
		return fmt.Errorf("collecting the registry's storage: %w", err)
	}
	// Unfinished uploads (a push cut off) keep their data in the
	// repositories' _uploads until purged; distribution's own purging
	// goroutine is off (New). An error here loses nothing: the next
	// collection tries again.
	if _, errs := storage.PurgeUploads(ctx, r.driver, time.Now().Add(-r.uploadAge), true); len(errs) > 0 {
		r.log.Warn("registry: purging unfinished uploads", "error", errors.Join(errs...))
	}
	return nil
}
