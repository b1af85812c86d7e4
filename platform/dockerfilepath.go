package platform

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/berth-paas/berth/builder"
)

// selectBuilderAt is selectBuilder with the app's dockerfile-path: as in
// Dokku's builder-dockerfile, the file at that path, not the root's
// Dockerfile, makes a source a Dockerfile app. An app's own builder
// choice still comes first.
func (p *Platform) selectBuilderAt(ctx context.Context, a *App, src builder.Source, config map[string]string) (builder.Choice, error) {
	if p.builders != nil && a.Builder == "" && a.DockerfilePath != "" {
		if b, ok := p.builders.Lookup(builder.DockerfileName); ok {
			if _, found, err := src.ReadFile(ctx, a.DockerfilePath); err != nil {
				return builder.Choice{}, err
			} else if found {
				return builder.Choice{Builder: b, Why: "found " + a.DockerfilePath + ", the app's dockerfile-path"}, nil
			}
		}
	}
	return p.selectBuilder(ctx, a, src, config)
}

// SetDockerfilePath sets the path of the app's Dockerfile in its source
// (Dokku's builder-dockerfile:set APP dockerfile-path PATH); "" returns
// to the root's Dockerfile. The path is relative to the source's root,
// without "..": the build context is the whole source either way.
func (p *Platform) SetDockerfilePath(ctx context.Context, app, file string) error {
	if file != "" {
		clean := path.Clean(strings.TrimPrefix(file, "./"))
		if path.IsAbs(file) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(file, "\x00\n") {
			return fmt.Errorf("dockerfile-path %q: want a file's path in the app's repository, relative to its root, like Dockerfile.prod or docker/web.Dockerfile", file)
		}
		file = clean
	}
	a, unlock, err := p.lockedApp(ctx, app, "a builder-dockerfile change")
	if err != nil {
		return err
	}
	defer unlock()
	a.DockerfilePath = file
	return saveApp(ctx, p.store, a)
}
