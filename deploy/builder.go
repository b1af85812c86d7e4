package deploy

import (
	"context"
	"errors"
	"maps"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/platform"
)

// The deploy pipeline's choice of a builder and of what it builds. The
// settings that steer them (builder:set, builder-dockerfile:set) are
// package buildconfig's, read through the BuildSettings seam.

// selectBuilder picks the builder of a deploy of src to a: its chosen
// builder (s.Builder, the app's or the global one), else detection over
// the platform's builders (package builder's Selector), with the global
// config under the release's for detection (BUILDPACK_URL may be set
// either way, as in Dokku).
func (d *Deployer) selectBuilder(ctx context.Context, a *platform.App, s platform.AppBuildSettings, src builder.Source, config map[string]string) (builder.Choice, error) {
	if d.builders == nil {
		return builder.Choice{}, errors.New("this Berth has no builders configured, so it deploys images only (git:from-image)")
	}
	env := d.globals.Config()
	maps.Copy(env, config)
	choice, err := d.builders.Select(ctx, a.Name, s.Builder, src, env)
	if err == nil && s.GlobalBuilder {
		choice.Why = "chosen for every app with builder:set --global selected"
	}
	return choice, err
}

// selectBuilderAt is selectBuilder with the app's dockerfile-path: as in
// Dokku's builder-dockerfile, the file at that path, not the root's
// Dockerfile, makes a source a Dockerfile app. A builder chosen for the
// app itself still comes first.
func (d *Deployer) selectBuilderAt(ctx context.Context, a *platform.App, s platform.AppBuildSettings, src builder.Source, config map[string]string) (builder.Choice, error) {
	file, whose := s.DockerfilePath, "the app's"
	if s.GlobalDockerfilePath {
		whose = "the global"
	}
	if d.builders != nil && (s.Builder == "" || s.GlobalBuilder) && file != "" {
		if b, ok := d.builders.Lookup(builder.DockerfileName); ok {
			if _, found, err := src.ReadFile(ctx, file); err != nil {
				return builder.Choice{}, err
			} else if found {
				return builder.Choice{Builder: b, Why: "found " + file + ", " + whose + " dockerfile-path"}, nil
			}
		}
	}
	return d.selectBuilder(ctx, a, s, src, config)
}

// buildSource is the part of src a's builds see: its build directory
// (the app's, else the global one) or all of it.
func buildSource(ctx context.Context, s platform.AppBuildSettings, src builder.Source) (builder.Source, error) {
	if s.BuildDir == "" {
		return src, nil
	}
	return builder.Subdir(ctx, src, s.BuildDir)
}

// dockerfileFor is the Dockerfile a build of src uses, and a line for
// the build log saying why when it is the global setting's doing: the
// app's own dockerfile-path always (missing, the build fails naming that
// setting); the global one only when src has that file, since it is set
// for many apps at once and apps with just a root Dockerfile must keep
// building; else "" (the root's Dockerfile).
func dockerfileFor(ctx context.Context, s platform.AppBuildSettings, src builder.Source) (file, note string, err error) {
	if s.DockerfilePath == "" || !s.GlobalDockerfilePath {
		return s.DockerfilePath, "", nil
	}
	g := s.DockerfilePath
	if _, found, err := src.ReadFile(ctx, g); err != nil {
		return "", "", err
	} else if !found {
		return "", "the global dockerfile-path " + g + " is not in this source: building its root Dockerfile", nil
	}
	return g, "building " + g + ", the global dockerfile-path", nil
}
