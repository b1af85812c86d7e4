package buildconfig_test

// The build settings with the real app core: what the previous version
// wrote reads unchanged, and the core's writes of the global settings
// document keep this package's fields (and the reverse).

import (
	"context"
	"testing"

	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Documents as the previous version (build settings on *platform.Platform)
// wrote them.
const (
	oldApp = `{
  "name": "blog",
  "deploy_branch": "prod",
  "git_rev_env_var": "SOURCE_VERSION",
  "builder": "dockerfile",
  "build_dir": "web",
  "buildpacks": ["heroku/nodejs", "heroku/procfile"],
  "buildpacks_stack": "example/own:2",
  "dockerfile_path": "docker/web.Dockerfile",
  "build_retention": 3
}`
	oldGlobal = `{
  "builder": "pack",
  "build_dir": "api",
  "restart_policy": "always",
  "build_retention": 7,
  "deploy_branch": "main",
  "dockerfile_path": "g.Dockerfile"
}`
	oldBuildpacks = `{"stack": "example/builder:1"}`
)

func oldState(t *testing.T) (*store.Files, *platform.Platform, *buildconfig.Settings) {
	t.Helper()
	ctx := context.Background()
	st := &store.Files{Dir: t.TempDir()}
	for key, doc := range map[string]string{"apps/blog": oldApp, "apps/other": `{"name": "other"}`, "settings/global": oldGlobal, "settings/buildpacks": oldBuildpacks} {
		if err := st.Put(ctx, key, []byte(doc)); err != nil {
			t.Fatal(err)
		}
	}
	p := platform.New(platform.Config{Store: st, BuildSettings: buildconfig.NewResolver(st, nil)})
	return st, p, buildconfig.New(buildconfig.Config{Store: st, Apps: p, Globals: p.Globals()})
}

func TestTheAppsOwnSettingsOfThePreviousVersionReadUnchanged(t *testing.T) {
	st, p, _ := oldState(t)
	ctx := context.Background()
	a, err := p.App(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	r := buildconfig.NewResolver(st, nil)
	s, err := r.Of(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if s.Builder != "dockerfile" || s.GlobalBuilder || s.BuildDir != "web" || s.DockerfilePath != "docker/web.Dockerfile" || s.GlobalDockerfilePath ||
		len(s.Buildpacks) != 2 || s.Stack != "example/own:2" || s.Retention != 3 || s.DeployBranch != "prod" || s.GlobalDeployBranch != "main" {
		t.Fatalf("settings %+v", s)
	}
	if v := r.RevEnvVar(a); v != "SOURCE_VERSION" {
		t.Fatalf("rev-env-var %q", v)
	}
}

func TestTheGlobalSettingsOfThePreviousVersionReadUnchanged(t *testing.T) {
	st, p, _ := oldState(t)
	ctx := context.Background()
	a, err := p.App(ctx, "other")
	if err != nil {
		t.Fatal(err)
	}
	s, err := buildconfig.NewResolver(st, nil).Of(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if s.Builder != "pack" || !s.GlobalBuilder || s.BuildDir != "api" || s.DockerfilePath != "g.Dockerfile" || !s.GlobalDockerfilePath ||
		s.Stack != "example/builder:1" || s.Retention != 7 || s.DeployBranch != "main" {
		t.Fatalf("settings %+v", s)
	}
}

func TestTheReportsOfThePreviousVersionsStateAreUnchanged(t *testing.T) {
	_, _, b := oldState(t)
	ctx := context.Background()
	br, err := b.BuilderReport(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if br.Selected != "dockerfile" || br.GlobalSelected != "pack" || br.BuildDir != "web" || br.GlobalBuildDir != "api" {
		t.Fatalf("builder report %+v", br)
	}
	bp, err := b.BuildpacksInfo(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if len(bp.List) != 2 || bp.Stack != "example/own:2" || bp.GlobalStack != "example/builder:1" {
		t.Fatalf("buildpacks report %+v", bp)
	}
	bs, err := b.BuildsSettings(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if bs != (buildconfig.BuildsSettings{Retention: 3, GlobalRetention: 7, ComputedRetention: 3}) {
		t.Fatalf("builds settings %+v", bs)
	}
	if g := b.GlobalDeployBranch(ctx); g != "main" {
		t.Fatalf("global deploy branch %q", g)
	}
}

func TestTheCoresGlobalWritesKeepTheBuildSettings(t *testing.T) {
	_, p, b := oldState(t)
	g := p.Globals()
	ctx := context.Background()
	if err := b.SetGlobalBuilder(ctx, ""); err != nil {
		t.Fatal(err)
	}
	// A setting of the core's own, written by the core.
	if err := g.SetDisableAutocreation(ctx, true); err != nil {
		t.Fatal(err)
	}
	r, err := b.GlobalBuilderReport(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if r.GlobalSelected != "" || r.GlobalBuildDir != "api" {
		t.Fatalf("global builder report %+v: the core's write lost or brought back a build setting", r)
	}
	if off, err := g.AutocreationDisabled(ctx); err != nil || !off {
		t.Fatalf("autocreation disabled %t, %v: the build settings' write lost the core's", off, err)
	}
}
