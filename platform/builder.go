package platform

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/berth-paas/berth/builder"
)

// selectBuilder picks the builder of a deploy of src to a: its chosen
// builder, else the global choice, else detection over the platform's
// builders (package builder's Selector), with the global config under the
// release's for detection (BUILDPACK_URL may be set either way, as in
// Dokku).
func (p *Platform) selectBuilder(ctx context.Context, a *App, src builder.Source, config map[string]string) (builder.Choice, error) {
	if p.builders == nil {
		return builder.Choice{}, errors.New("this Berth has no builders configured, so it deploys images only (git:from-image)")
	}
	env := p.GlobalConfig()
	maps.Copy(env, config)
	chosen := a.Builder
	global := false
	if chosen == "" {
		g, err := loadGlobal(ctx, p.store)
		if err != nil {
			return builder.Choice{}, err
		}
		chosen, global = g.Builder, g.Builder != ""
	}
	choice, err := p.builders.Select(ctx, a.Name, chosen, src, env)
	if err == nil && global {
		choice.Why = "chosen for every app with builder:set --global selected"
	}
	return choice, err
}

// buildSource is the part of src a's builds see: its build directory
// (the app's, else the global one) or all of it.
func (p *Platform) buildSource(ctx context.Context, a *App, src builder.Source) (builder.Source, error) {
	dir := a.BuildDir
	if dir == "" {
		g, err := loadGlobal(ctx, p.store)
		if err != nil {
			return nil, err
		}
		dir = g.BuildDir
	}
	if dir == "" {
		return src, nil
	}
	return builder.Subdir(ctx, src, dir)
}

// SetBuilder chooses the builder of the app's next deploys (Dokku's
// builder:set APP selected NAME); "" returns the choice to detection.
func (p *Platform) SetBuilder(ctx context.Context, app, name string) error {
	if err := p.checkBuilderName(name); err != nil {
		return err
	}
	a, unlock, err := p.lockedApp(ctx, app, "a builder change")
	if err != nil {
		return err
	}
	defer unlock()
	a.Builder = name
	return saveApp(ctx, p.store, a)
}

// SetGlobalBuilder chooses the builder of every app that chooses none
// (builder:set --global selected NAME); "" returns them to detection.
func (p *Platform) SetGlobalBuilder(ctx context.Context, name string) error {
	if err := p.checkBuilderName(name); err != nil {
		return err
	}
	return p.changeGlobal(ctx, "a global builder change", func(g *Global) { g.Builder = name }, nil)
}

func (p *Platform) checkBuilderName(name string) error {
	if name == "" {
		return nil
	}
	if p.builders == nil {
		return errors.New("this Berth has no builders configured")
	}
	if _, ok := p.builders.Lookup(name); !ok {
		return fmt.Errorf("there is no builder %q; this Berth has %s", name, strings.Join(p.builders.Names(), ", "))
	}
	return nil
}

// SetBuildDir sets the directory of the repository the app's next
// deploys build (builder:set APP build-dir DIR); "" builds the whole
// repository (or the global build directory).
func (p *Platform) SetBuildDir(ctx context.Context, app, dir string) error {
	if dir != "" {
		if err := builder.ValidBuildDir(dir); err != nil {
			return err
		}
	}
	a, unlock, err := p.lockedApp(ctx, app, "a build directory change")
	if err != nil {
		return err
	}
	defer unlock()
	a.BuildDir = dir
	return saveApp(ctx, p.store, a)
}

// SetGlobalBuildDir sets the build directory of every app that sets none
// (builder:set --global build-dir DIR).
func (p *Platform) SetGlobalBuildDir(ctx context.Context, dir string) error {
	if dir != "" {
		if err := builder.ValidBuildDir(dir); err != nil {
			return err
		}
	}
	return p.changeGlobal(ctx, "a global build directory change", func(g *Global) { g.BuildDir = dir }, nil)
}

// changeGlobal changes the global settings document under the global lock.
// applied, when not nil, runs after the document is saved, still under
// the lock, for a setting the platform also keeps in memory: caches are
// then set in the order the saves happened, and not when a save fails.
func (p *Platform) changeGlobal(ctx context.Context, what string, change func(*Global), applied func()) error {
	unlock, err := p.lock("_global", what)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	change(&g)
	if err := saveGlobal(ctx, p.store, g); err != nil {
		return err
	}
	if applied != nil {
		applied()
	}
	return nil
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
func (p *Platform) GlobalBuilderReport(ctx context.Context) (BuilderReport, error) {
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return BuilderReport{}, err
	}
	return BuilderReport{GlobalSelected: g.Builder, GlobalBuildDir: g.BuildDir}, nil
}

// BuilderReport reports the app's builder settings, and which builder
// detection picks for the commit that serves, and why.
func (p *Platform) BuilderReport(ctx context.Context, app string) (BuilderReport, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return BuilderReport{}, err
	}
	r, err := p.GlobalBuilderReport(ctx)
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
	case p.builders == nil:
		r.DetectedWhy = "this Berth has no builders"
		return r, nil
	}
	src, err := p.buildSource(ctx, a, p.gitRepos.Commit(app, rel.GitRev, nil))
	if err != nil {
		r.DetectedWhy = err.Error()
		return r, nil
	}
	env := p.GlobalConfig()
	maps.Copy(env, a.Config)
	choice, err := p.builders.Select(ctx, app, "", src, env)
	if err != nil {
		r.DetectedWhy = err.Error()
		return r, nil
	}
	r.Detected, r.DetectedWhy = choice.Builder.Name(), choice.Why+" in "+src.Describe()
	return r, nil
}
