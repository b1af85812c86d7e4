package buildconfig

import (
	"context"
	"fmt"
	"path"
	"strings"

	"github.com/berth-paas/berth/platform"
)

// GlobalDockerfilePath is builder-dockerfile:set --global dockerfile-path,
// or "".
func (s *Settings) GlobalDockerfilePath(ctx context.Context) string {
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return ""
	}
	return g.DockerfilePath
}

// SetGlobalDockerfilePath sets the Dockerfile path of the apps that set
// none (Dokku's builder-dockerfile:set --global dockerfile-path PATH); ""
// returns them to the root's Dockerfile. It applies from their next
// deploy, and only to sources that have that file (the others keep
// building their root Dockerfile).
func (s *Settings) SetGlobalDockerfilePath(ctx context.Context, file string) error {
	file, err := cleanDockerfilePath(file)
	if err != nil {
		return err
	}
	return s.changeGlobal(ctx, "a global settings change", func(g *global) { g.DockerfilePath = file })
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
func (s *Settings) SetDockerfilePath(ctx context.Context, app, file string) error {
	file, err := cleanDockerfilePath(file)
	if err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error { a.DockerfilePath = file; return nil })
}

// DockerfileReport is what builder-dockerfile:report shows: the app's
// own dockerfile-path, the global one and the one that applies ("" :
// the root's Dockerfile).
type DockerfileReport struct {
	App                            string
	Path, GlobalPath, ComputedPath string
}

// DockerfileReport reports app's dockerfile-path settings; app ""
// reports the global one.
func (s *Settings) DockerfileReport(ctx context.Context, app string) (DockerfileReport, error) {
	r := DockerfileReport{GlobalPath: s.GlobalDockerfilePath(ctx)}
	r.ComputedPath = r.GlobalPath
	if app == "" {
		return r, nil
	}
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return DockerfileReport{}, err
	}
	r.App, r.Path = a.Name, a.DockerfilePath
	if a.DockerfilePath != "" {
		r.ComputedPath = a.DockerfilePath
	}
	return r, nil
}
