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
	file, whose := a.DockerfilePath, "the app's"
	if file == "" {
		file, whose = p.GlobalDockerfilePath(ctx), "the global"
	}
	if p.builders != nil && a.Builder == "" && file != "" {
		if b, ok := p.builders.Lookup(builder.DockerfileName); ok {
			if _, found, err := src.ReadFile(ctx, file); err != nil {
				return builder.Choice{}, err
			} else if found {
				return builder.Choice{Builder: b, Why: "found " + file + ", " + whose + " dockerfile-path"}, nil
			}
		}
	}
	return p.selectBuilder(ctx, a, src, config)
}

// dockerfilePathOf is the Dockerfile a's builds use: its own
// dockerfile-path, else the global one, else "" (the root's Dockerfile).
func (p *Platform) dockerfilePathOf(ctx context.Context, a *App) string {
	if a.DockerfilePath != "" {
		return a.DockerfilePath
	}
	return p.GlobalDockerfilePath(ctx)
}

// dockerfileFor is the Dockerfile a's build of src uses, and a line for
// the build log saying why when it is the global setting's doing: the
// app's own dockerfile-path always (missing, the build fails naming that
// setting); the global one only when src has that file, since it is set
// for many apps at once and apps with just a root Dockerfile must keep
// building; else "" (the root's Dockerfile).
func (p *Platform) dockerfileFor(ctx context.Context, a *App, src builder.Source) (file, note string, err error) {
	if a.DockerfilePath != "" {
		return a.DockerfilePath, "", nil
	}
	g := p.GlobalDockerfilePath(ctx)
	if g == "" {
		return "", "", nil
	}
	if _, found, err := src.ReadFile(ctx, g); err != nil {
		return "", "", err
	} else if !found {
		return "", "the global dockerfile-path " + g + " is not in this source: building its root Dockerfile", nil
	}
	return g, "building " + g + ", the global dockerfile-path", nil
}

// GlobalDockerfilePath is builder-dockerfile:set --global dockerfile-path,
// or "".
func (p *Platform) GlobalDockerfilePath(ctx context.Context) string {
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return ""
	}
	return g.DockerfilePath
}

// SetGlobalDockerfilePath sets the Dockerfile path of the apps that set
// none (Dokku's builder-dockerfile:set --global dockerfile-path PATH); ""
// returns them to the root's Dockerfile. It applies from their next
// deploy.
func (p *Platform) SetGlobalDockerfilePath(ctx context.Context, file string) error {
	file, err := cleanDockerfilePath(file)
	if err != nil {
		return err
	}
	return p.changeGlobal(ctx, "a global settings change", func(g *Global) { g.DockerfilePath = file }, nil)
}

// cleanDockerfilePath checks a dockerfile-path: relative to the source's
// root, without "..".
func cleanDockerfilePath(file string) (string, error) {
	if file == "" {
		return "", nil
	}
	clean := path.Clean(strings.TrimPrefix(file, "./"))
	if path.IsAbs(file) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") || strings.ContainsAny(file, "\x00\n") {
		return "", fmt.Errorf("dockerfile-path %q: want a file's path in the app's repository, relative to its root, like Dockerfile.prod or docker/web.Dockerfile", file)
	}
	return clean, nil
}

// SetDockerfilePath sets the path of the app's Dockerfile in its source
// (Dokku's builder-dockerfile:set APP dockerfile-path PATH); "" returns
// to the root's Dockerfile. The path is relative to the source's root,
// without "..": the build context is the whole source either way.
func (p *Platform) SetDockerfilePath(ctx context.Context, app, file string) error {
	file, err := cleanDockerfilePath(file)
	if err != nil {
		return err
	}
	a, unlock, err := p.lockedApp(ctx, app, "a builder-dockerfile change")
	if err != nil {
		return err
	}
	defer unlock()
	a.DockerfilePath = file
	return saveApp(ctx, p.store, a)
}
