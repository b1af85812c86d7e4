package platform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	pathpkg "path"
	"strings"

	"github.com/berth-paas/berth/builder"
)

// selectBuilder picks the builder of a deploy of src to a: its chosen
// builder, else detection over the platform's builders (package builder's
// Selector), with the global config under the release's for detection
// (BUILDPACK_URL may be set either way, as in Dokku).
func (p *Platform) selectBuilder(ctx context.Context, a *App, src builder.Source, config map[string]string) (builder.Choice, error) {
	if p.builders == nil {
		return builder.Choice{}, errors.New("this Berth has no builders configured, so it deploys images only (git:from-image)")
	}
	env := p.GlobalConfig()
	maps.Copy(env, config)
	// An app's dockerfile-path is detected as Dokku's builder-dockerfile
	// does: the file at that path, not the root's Dockerfile, makes it a
	// Dockerfile app.
	if a.Builder == "" && a.DockerfilePath != "" {
		if b, ok := p.builders.Lookup(builder.DockerfileName); ok {
			if _, found, err := src.ReadFile(ctx, a.DockerfilePath); err != nil {
				return builder.Choice{}, err
			} else if found {
				return builder.Choice{Builder: b, Why: "found " + a.DockerfilePath + ", the app's dockerfile-path"}, nil
			}
		}
	}
	return p.builders.Select(ctx, a.Name, a.Builder, src, env)
}

// SetDockerfilePath sets the path of the app's Dockerfile in its source
// (Dokku's builder-dockerfile:set APP dockerfile-path PATH); "" returns
// to the root's Dockerfile. The path is relative to the source's root,
// without "..": the build context is the whole source either way.
func (p *Platform) SetDockerfilePath(ctx context.Context, app, path string) error {
	if path != "" {
		clean := pathpkg.Clean(strings.TrimPrefix(path, "./"))
		if pathpkg.IsAbs(path) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(path, "\x00\n") {
			return fmt.Errorf("dockerfile-path %q: want a file's path in the app's repository, relative to its root, like Dockerfile.prod or docker/web.Dockerfile", path)
		}
		path = clean
	}
	a, unlock, err := p.lockedApp(ctx, app, "a builder-dockerfile change")
	if err != nil {
		return err
	}
	defer unlock()
	a.DockerfilePath = path
	return saveApp(ctx, p.store, a)
}

// SetBuilder chooses the builder of the app's next deploys (Dokku's
// builder:set APP selected NAME); "" returns the choice to detection.
func (p *Platform) SetBuilder(ctx context.Context, app, name string) error {
	if name != "" {
		if p.builders == nil {
			return errors.New("this Berth has no builders configured")
		}
		if _, ok := p.builders.Lookup(name); !ok {
			return fmt.Errorf("there is no builder %q; this Berth has %s", name, strings.Join(p.builders.Names(), ", "))
		}
	}
	a, unlock, err := p.lockedApp(ctx, app, "a builder change")
	if err != nil {
		return err
	}
	defer unlock()
	a.Builder = name
	return saveApp(ctx, p.store, a)
}
