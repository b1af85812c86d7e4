package buildconfig

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/platform"
)

// SetBuilder chooses the builder of the app's next deploys (Dokku's
// builder:set APP selected NAME); "" returns the choice to detection.
func (s *Settings) SetBuilder(ctx context.Context, app, name string) error {
	if err := s.checkBuilderName(name); err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error { a.Builder = name; return nil })
}

// SetGlobalBuilder chooses the builder of every app that chooses none
// (builder:set --global selected NAME); "" returns them to detection.
func (s *Settings) SetGlobalBuilder(ctx context.Context, name string) error {
	if err := s.checkBuilderName(name); err != nil {
		return err
	}
	return s.changeGlobal(ctx, "a global builder change", func(g *global) { g.Builder = name })
}

func (s *Settings) checkBuilderName(name string) error {
	if name == "" {
		return nil
	}
	if s.builders == nil {
		return errors.New("this Berth has no builders configured")
	}
	if _, ok := s.builders.Lookup(name); !ok {
		return fmt.Errorf("there is no builder %q; this Berth has %s", name, strings.Join(s.builders.Names(), ", "))
	}
	return nil
}

// SetBuildDir sets the directory of the repository the app's next
// deploys build (builder:set APP build-dir DIR); "" builds the whole
// repository (or the global build directory).
func (s *Settings) SetBuildDir(ctx context.Context, app, dir string) error {
	if dir != "" {
		if err := builder.ValidBuildDir(dir); err != nil {
			return err
		}
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error { a.BuildDir = dir; return nil })
}

// SetGlobalBuildDir sets the build directory of every app that sets none
// (builder:set --global build-dir DIR).
func (s *Settings) SetGlobalBuildDir(ctx context.Context, dir string) error {
	if dir != "" {
		if err := builder.ValidBuildDir(dir); err != nil {
			return err
		}
	}
	return s.changeGlobal(ctx, "a global build directory change", func(g *global) { g.BuildDir = dir })
}

// BuilderReport is what builder:report shows, under Dokku's keys.
type BuilderReport struct {
	App string `json:"app,omitempty"`
	// Selected is the app's choice, GlobalSelected every app's, and
	// ComputedSelected the one that applies ("" for detection).
	Selected         string `json:"selected"`
	GlobalSelected   string `json:"global-selected"`
	ComputedSelected string `json:"computed-selected"`
	// Detected is the builder detection picks for the serving release's
	// commit (in its build directory), and DetectedWhy why; "" when no
	// release was built from a commit.
	Detected    string `json:"detected"`
	DetectedWhy string `json:"detected-reason"`
	// LastBuilder is the builder that built the serving release.
	LastBuilder      string `json:"last-used"`
	BuildDir         string `json:"build-dir"`
	GlobalBuildDir   string `json:"global-build-dir"`
	ComputedBuildDir string `json:"computed-build-dir"`
}

// GlobalBuilderReport is builder:report --global.
func (s *Settings) GlobalBuilderReport(ctx context.Context) (BuilderReport, error) {
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return BuilderReport{}, err
	}
	return BuilderReport{GlobalSelected: g.Builder, GlobalBuildDir: g.BuildDir}, nil
}

// BuilderReport reports the app's builder settings, and which builder
// detection picks for the commit that serves, and why.
func (s *Settings) BuilderReport(ctx context.Context, app string) (BuilderReport, error) {
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return BuilderReport{}, err
	}
	r, err := s.GlobalBuilderReport(ctx)
	if err != nil {
		return BuilderReport{}, err
	}
	r.App, r.Selected, r.BuildDir = a.Name, a.Builder, a.BuildDir
	r.ComputedSelected = cmp.Or(a.Builder, r.GlobalSelected)
	r.ComputedBuildDir = cmp.Or(a.BuildDir, r.GlobalBuildDir)
	rel, ok := a.CurrentRelease()
	r.LastBuilder = rel.Builder
	switch {
	case !ok || rel.GitRev == "":
		r.DetectedWhy = "no release of " + app + " was built from a commit yet"
		return r, nil
	case s.builders == nil:
		r.DetectedWhy = "this Berth has no builders"
		return r, nil
	}
	src := s.repos.CommitSource(app, rel.GitRev)
	if src == nil {
		r.DetectedWhy = "this Berth has no repositories"
		return r, nil
	}
	if r.ComputedBuildDir != "" {
		if src, err = builder.Subdir(ctx, src, r.ComputedBuildDir); err != nil {
			r.DetectedWhy = err.Error()
			return r, nil
		}
	}
	env := s.globals.Config()
	maps.Copy(env, a.Config)
	choice, err := s.builders.Select(ctx, app, "", src, env)
	if err != nil {
		r.DetectedWhy = err.Error()
		return r, nil
	}
	r.Detected, r.DetectedWhy = choice.Builder.Name(), choice.Why+" in "+src.Describe()
	return r, nil
}
