// The app's project descriptor (project.toml) as the pack builder honours it:
// the build's env and buildpack group.

package builder

import (
	"context"
	"fmt"
	"regexp"
	"slices"

	"github.com/BurntSushi/toml"
)

// projectTOML is the part of a project descriptor (project.toml, schema
// 0.1 and 0.2) Berth honours: the build's env and buildpack group.
type projectTOML struct {
	Build struct {
		Env        []projectEnv       `toml:"env"`
		Buildpacks []projectBuildpack `toml:"buildpacks"`
	} `toml:"build"`
	IO struct {
		Buildpacks struct {
			Build struct {
				Env []projectEnv `toml:"env"`
			} `toml:"build"`
			Group []projectBuildpack `toml:"group"`
		} `toml:"buildpacks"`
	} `toml:"io"`
}

type projectEnv struct{ Name, Value string }

type projectBuildpack struct {
	ID      string `toml:"id"`
	Version string `toml:"version"`
	URI     string `toml:"uri"`
}

func readProjectTOML(ctx context.Context, src Source) (projectTOML, error) {
	var p projectTOML
	data, ok, err := src.ReadFile(ctx, "project.toml")
	if err != nil || !ok {
		return p, err
	}
	if _, err := toml.Decode(string(data), &p); err != nil {
		return p, fmt.Errorf("project.toml is not valid TOML: %w; fix it and push again", err)
	}
	return p, nil
}

func (p projectTOML) env() map[string]string {
	out := map[string]string{}
	for _, e := range slices.Concat(p.Build.Env, p.IO.Buildpacks.Build.Env) {
		if e.Name != "" {
			out[e.Name] = e.Value
		}
	}
	return out
}

func (p projectTOML) buildpacks() []string {
	var refs []string
	for _, b := range slices.Concat(p.Build.Buildpacks, p.IO.Buildpacks.Group) {
		switch {
		case b.URI != "":
			refs = append(refs, b.URI)
		case b.Version != "":
			refs = append(refs, b.ID+"@"+b.Version)
		default:
			refs = append(refs, b.ID)
		}
	}
	return refs
}

// validEnvName is a POSIX environment variable name: a platform env file
// is named after it, so it must not be a path.
var validEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
