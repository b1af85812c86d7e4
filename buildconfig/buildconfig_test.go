package buildconfig

// Unit tests of the build settings against a fake app core: one behaviour
// per test, no Docker. That the settings reach a build is proven in
// platform's tests (builder_test.go, buildpacks_test.go) and end to end
// in tests/ (builder_set, dokku_cmd_builds, dokku_cmd_dockerfile_global,
// dokku_cmd_git_global, pack).

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

func TestAnAppWithNoSettingsBuildsWithTheDefaults(t *testing.T) {
	b := newBed(t)
	s := b.of("blog")
	if s.Builder != "" || s.BuildDir != "" || s.DockerfilePath != "" || s.Stack != "" || s.DeployBranch != "" || s.Retention != platform.KeepBuilds {
		t.Fatalf("settings %+v, want the defaults", s)
	}
}

func TestTheGlobalBuilderAppliesToAnAppThatChoosesNone(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalBuilder(b.ctx, "pack"))
	if s := b.of("blog"); s.Builder != "pack" || !s.GlobalBuilder {
		t.Fatalf("settings %+v, want the global builder pack", s)
	}
}

func TestAnAppsOwnBuilderWinsOverTheGlobalOne(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalBuilder(b.ctx, "pack"))
	b.must(b.settings.SetBuilder(b.ctx, "blog", "dockerfile"))
	if s := b.of("blog"); s.Builder != "dockerfile" || s.GlobalBuilder {
		t.Fatalf("settings %+v, want the app's own builder", s)
	}
}

func TestABuilderThereIsNotIsRefused(t *testing.T) {
	b := newBed(t)
	err := b.settings.SetBuilder(b.ctx, "blog", "herokuish")
	if err == nil || !strings.Contains(err.Error(), `there is no builder "herokuish"; this Berth has dockerfile, pack`) {
		t.Fatalf("err = %v", err)
	}
	if a := b.app("blog"); a.Builder != "" {
		t.Fatalf("the refused builder was kept: %q", a.Builder)
	}
}

func TestABerthWithoutBuildersRefusesABuilderChoice(t *testing.T) {
	b := newBed(t)
	s := New(Config{Store: b.store, Apps: b.apps, Globals: b.apps, Repos: b.apps})
	if err := s.SetGlobalBuilder(b.ctx, "pack"); err == nil || !strings.Contains(err.Error(), "no builders configured") {
		t.Fatalf("err = %v", err)
	}
}

func TestABuildDirOutsideTheRepositoryIsRefused(t *testing.T) {
	b := newBed(t)
	for _, dir := range []string{"../x", "/etc"} {
		if err := b.settings.SetBuildDir(b.ctx, "blog", dir); err == nil {
			t.Errorf("build-dir %q accepted", dir)
		}
	}
}

func TestTheGlobalBuildDirAppliesUntilTheAppSetsItsOwn(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalBuildDir(b.ctx, "web"))
	if s := b.of("blog"); s.BuildDir != "web" {
		t.Fatalf("build dir %q, want the global web", s.BuildDir)
	}
	b.must(b.settings.SetBuildDir(b.ctx, "blog", "api"))
	if s := b.of("blog"); s.BuildDir != "api" {
		t.Fatalf("build dir %q, want the app's api", s.BuildDir)
	}
}

func TestBuilderReportDetectsInTheServingCommitsBuildDir(t *testing.T) {
	b := newBed(t)
	b.apps.sources["abc"] = builder.Files{"Dockerfile": "FROM x", "web/project.toml": ""}
	b.must(b.apps.UpdateApp(b.ctx, "blog", func(a *platform.App) error {
		a.Releases, a.Current = []platform.Release{{Version: 1, GitRev: "abc", Builder: "dockerfile"}}, 1
		return nil
	}))
	b.must(b.settings.SetBuildDir(b.ctx, "blog", "web"))
	r, err := b.settings.BuilderReport(b.ctx, "blog")
	b.must(err)
	if r.Detected != "pack" || !strings.HasPrefix(r.DetectedWhy, "found project.toml") || r.LastBuilder != "dockerfile" || r.ComputedBuildDir != "web" {
		t.Fatalf("report %+v, want pack detected in web/", r)
	}
}

func TestBuilderReportOfAnUndeployedAppSaysWhyNothingIsDetected(t *testing.T) {
	b := newBed(t)
	r, err := b.settings.BuilderReport(b.ctx, "blog")
	b.must(err)
	if r.Detected != "" || r.DetectedWhy != "no release of blog was built from a commit yet" {
		t.Fatalf("report %+v", r)
	}
}

func TestADockerfilePathIsCleaned(t *testing.T) {
	b := newBed(t)
	for path, want := range map[string]string{"./deploy//web.Dockerfile": "deploy/web.Dockerfile", "Dockerfile.prod": "Dockerfile.prod", "": ""} {
		b.must(b.settings.SetDockerfilePath(b.ctx, "blog", path))
		if got := b.app("blog").DockerfilePath; got != want {
			t.Errorf("dockerfile-path %q stored as %q, want %q", path, got, want)
		}
	}
}

func TestADockerfilePathOutsideTheSourceIsRefused(t *testing.T) {
	b := newBed(t)
	for _, bad := range []string{"/etc/passwd", "../x", "a/../../x", ".", "a\nb"} {
		if err := b.settings.SetDockerfilePath(b.ctx, "blog", bad); err == nil {
			t.Errorf("dockerfile-path %q accepted", bad)
		}
		if err := b.settings.SetGlobalDockerfilePath(b.ctx, bad); err == nil {
			t.Errorf("global dockerfile-path %q accepted", bad)
		}
	}
}

func TestTheGlobalDockerfilePathIsMarkedGlobalForTheBuild(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalDockerfilePath(b.ctx, "./g/Dockerfile"))
	if s := b.of("blog"); s.DockerfilePath != "g/Dockerfile" || !s.GlobalDockerfilePath {
		t.Fatalf("settings %+v, want the global g/Dockerfile", s)
	}
	b.must(b.settings.SetDockerfilePath(b.ctx, "blog", "own.Dockerfile"))
	if s := b.of("blog"); s.DockerfilePath != "own.Dockerfile" || s.GlobalDockerfilePath {
		t.Fatalf("settings %+v, want the app's own", s)
	}
}

func TestDockerfileReportShowsTheComputedPath(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalDockerfilePath(b.ctx, "g.Dockerfile"))
	r, err := b.settings.DockerfileReport(b.ctx, "blog")
	b.must(err)
	if r.Path != "" || r.GlobalPath != "g.Dockerfile" || r.ComputedPath != "g.Dockerfile" {
		t.Fatalf("report %+v", r)
	}
}

func TestRetentionIsTheAppsThenTheGlobalThenKeepBuilds(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalBuildRetention(b.ctx, 7))
	if s := b.of("blog"); s.Retention != 7 {
		t.Fatalf("retention %d, want the global 7", s.Retention)
	}
	b.must(b.settings.SetBuildRetention(b.ctx, "blog", 3))
	if s := b.of("blog"); s.Retention != 3 {
		t.Fatalf("retention %d, want the app's 3", s.Retention)
	}
	r, err := b.settings.BuildsSettings(b.ctx, "blog")
	b.must(err)
	if r != (BuildsSettings{Retention: 3, GlobalRetention: 7, ComputedRetention: 3}) {
		t.Fatalf("builds settings %+v", r)
	}
}

// A hand-edited retention of 0 or less, the app's or the global one, is
// unset: a negative count reaching the build pruning would slice past the
// app's builds (a panic in the deploy, or every build log gone).
func TestANonPositiveRetentionIsUnset(t *testing.T) {
	b := newBed(t)
	b.must(b.store.Put(b.ctx, "settings/global", []byte(`{"build_retention": -3}`)))
	b.must(b.apps.UpdateApp(b.ctx, "blog", func(a *platform.App) error {
		a.BuildRetention = -2
		return nil
	}))
	if s := b.of("blog"); s.Retention != platform.KeepBuilds {
		t.Fatalf("retention %d, want the default %d", s.Retention, platform.KeepBuilds)
	}
}

func TestARetentionOutOfRangeIsRefused(t *testing.T) {
	b := newBed(t)
	for _, n := range []int{-1, MaxBuildRetention + 1} {
		if err := b.settings.SetBuildRetention(b.ctx, "blog", n); err == nil {
			t.Errorf("retention %d accepted", n)
		}
	}
	if err := b.settings.SetGlobalBuildRetention(b.ctx, MaxBuildRetention); err != nil {
		t.Errorf("retention %d refused: %v", MaxBuildRetention, err)
	}
}

func TestADeployKeyMayNotRaiseRetentionBeyondTheDefault(t *testing.T) {
	b := newBed(t)
	key := platform.AsDeployKey(b.ctx)
	err := b.settings.SetBuildRetention(key, "blog", platform.KeepBuilds+1)
	if err == nil || !strings.Contains(err.Error(), "needs an admin key") {
		t.Fatalf("err = %v", err)
	}
	b.must(b.settings.SetBuildRetention(key, "blog", platform.KeepBuilds))
	b.must(b.settings.SetBuildRetention(b.ctx, "blog", platform.KeepBuilds+1))
}

func TestBuildpacksAreChangedInDokkusOrder(t *testing.T) {
	b := newBed(t)
	for _, c := range []struct {
		action, url string
		index       int
		want        string
	}{
		{"add", "a", 0, "a"},
		{"add", "b", 0, "a,b"},
		{"add", "c", 1, "c,a,b"},
		{"set", "d", 2, "c,d,b"},
		{"set", "b", 2, "c,b"}, // set compacts a neighbour it duplicates
		{"remove", "c", 0, "b"},
	} {
		b.must(b.settings.ChangeBuildpacks(b.ctx, "blog", c.action, c.url, c.index))
		if got := strings.Join(b.app("blog").Buildpacks, ","); got != c.want {
			t.Fatalf("after %s %s: %q, want %q", c.action, c.url, got, c.want)
		}
	}
}

func TestABuildpackTwiceOrMissingIsRefusedAndTheListKept(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.ChangeBuildpacks(b.ctx, "blog", "add", "a", 0))
	for _, c := range [][2]string{{"add", "a"}, {"remove", "x"}, {"add", "two words"}, {"add", ""}} {
		if err := b.settings.ChangeBuildpacks(b.ctx, "blog", c[0], c[1], 0); err == nil {
			t.Errorf("%s %q accepted", c[0], c[1])
		}
	}
	if got := b.app("blog").Buildpacks; len(got) != 1 || got[0] != "a" {
		t.Fatalf("list %q, want [a]", got)
	}
}

func TestClearedBuildpacksLeaveNoList(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.ChangeBuildpacks(b.ctx, "blog", "add", "a", 0))
	b.must(b.settings.ChangeBuildpacks(b.ctx, "blog", "clear", "", 0))
	r, err := b.settings.BuildpacksInfo(b.ctx, "blog")
	b.must(err)
	if b.app("blog").Buildpacks != nil || len(r.List) != 0 || r.List == nil {
		t.Fatalf("list %q, report %q: want none stored and [] reported", b.app("blog").Buildpacks, r.List)
	}
}

func TestTheAppsStackWinsOverTheGlobalOne(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetBuildpacksProperty(b.ctx, "", "stack", "example/builder:1"))
	if s := b.of("blog"); s.Stack != "example/builder:1" {
		t.Fatalf("stack %q, want the global one", s.Stack)
	}
	b.must(b.settings.SetBuildpacksProperty(b.ctx, "blog", "stack", "example/own:2"))
	r, err := b.settings.BuildpacksInfo(b.ctx, "blog")
	b.must(err)
	if s := b.of("blog"); s.Stack != "example/own:2" || r.ComputedStack != "example/own:2" || r.GlobalStack != "example/builder:1" {
		t.Fatalf("stack %q, report %+v, want the app's own", s.Stack, r)
	}
}

func TestABadBuildpacksPropertyIsRefused(t *testing.T) {
	b := newBed(t)
	for _, bad := range [][2]string{{"stack", "not an image"}, {"stack", "-rm"}, {"builder", "x/y"}} {
		if err := b.settings.SetBuildpacksProperty(b.ctx, "blog", bad[0], bad[1]); err == nil {
			t.Errorf("%s %q accepted", bad[0], bad[1])
		}
	}
}

func TestAnUnreadableGlobalStackBuildsWithTheBuildersDefault(t *testing.T) {
	b := newBed(t)
	b.must(b.store.Put(b.ctx, buildpacksKey, []byte("{not json")))
	if s := b.of("blog"); s.Stack != "" {
		t.Fatalf("stack %q, want the default", s.Stack)
	}
}

func TestRevEnvVarIsGitRevUntilSetAndBackWhenUnset(t *testing.T) {
	b := newBed(t)
	if v := b.resolver.RevEnvVar(b.app("blog")); v != platform.DefaultGitRevEnvVar {
		t.Fatalf("default %q", v)
	}
	b.must(b.settings.SetGitRevEnvVar(b.ctx, "blog", "", false))
	if v := b.resolver.RevEnvVar(b.app("blog")); v != "" {
		t.Fatalf("turned off: %q", v)
	}
	b.must(b.settings.SetGitRevEnvVar(b.ctx, "blog", "", true))
	if v := b.resolver.RevEnvVar(b.app("blog")); v != platform.DefaultGitRevEnvVar {
		t.Fatalf("unset: %q", v)
	}
}

func TestRevEnvVarMustBeAVariableBerthDoesNotSet(t *testing.T) {
	b := newBed(t)
	for _, bad := range []string{"PORT", "DYNO", "1A", "A-B"} {
		if err := b.settings.SetGitRevEnvVar(b.ctx, "blog", bad, false); err == nil {
			t.Errorf("rev-env-var %q accepted", bad)
		}
	}
}

func TestSettingTheDeployBranchPointsTheRepositorysHead(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetDeployBranch(b.ctx, "blog", "prod"))
	if s := b.of("blog"); s.DeployBranch != "prod" || len(b.apps.heads) != 1 {
		t.Fatalf("branch %q, heads pointed %v", s.DeployBranch, b.apps.heads)
	}
}

func TestAnInvalidBranchNameIsRefused(t *testing.T) {
	b := newBed(t)
	for _, bad := range []string{"bad..name", "-x"} {
		if err := b.settings.SetGlobalDeployBranch(b.ctx, bad); err == nil {
			t.Errorf("branch %q accepted", bad)
		}
	}
}

func TestTheGlobalDeployBranchReachesOnlyAppsWithoutTheirOwn(t *testing.T) {
	b := newBed(t)
	b.apps.put(&platform.App{Name: "pinned", DeployBranch: "master"})
	b.must(b.settings.SetGlobalDeployBranch(b.ctx, "prod"))
	if s := b.of("blog"); s.DeployBranch != "prod" || s.GlobalDeployBranch != "prod" {
		t.Fatalf("blog %+v", s)
	}
	if s := b.of("pinned"); s.DeployBranch != "master" {
		t.Fatalf("pinned %+v", s)
	}
	own, err := b.settings.OwnDeployBranches(b.ctx)
	b.must(err)
	if len(own) != 1 || own["pinned"] != "master" {
		t.Fatalf("own %v", own)
	}
}

func TestAGlobalChangeKeepsTheOtherPackagesFields(t *testing.T) {
	b := newBed(t)
	b.must(b.store.Put(b.ctx, globalKey, []byte(`{"restart_policy":"always","hsts":{"max_age":5}}`)))
	b.must(b.settings.SetGlobalBuilder(b.ctx, "pack"))
	doc := globalDoc(t, b.store)
	if string(doc["restart_policy"]) != `"always"` || string(doc["hsts"]) != `{"max_age":5}` || string(doc["builder"]) != `"pack"` {
		t.Fatalf("document %s", doc)
	}
}

func TestAClearedGlobalSettingLeavesTheDocument(t *testing.T) {
	b := newBed(t)
	b.must(b.settings.SetGlobalBuildDir(b.ctx, "web"))
	b.must(b.settings.SetGlobalBuildDir(b.ctx, ""))
	if doc := globalDoc(t, b.store); doc["build_dir"] != nil {
		t.Fatalf("document %s", doc)
	}
}

func TestAGlobalChangeIsRefusedWhileTheGlobalSettingsAreBusy(t *testing.T) {
	b := newBed(t)
	b.apps.globalBusy = true
	if err := b.settings.SetGlobalDeployBranch(b.ctx, "prod"); err == nil {
		t.Fatal("changed the global settings while they were busy")
	}
	if s := b.of("blog"); s.GlobalDeployBranch != "" {
		t.Fatalf("global branch %q", s.GlobalDeployBranch)
	}
}

func globalDoc(t *testing.T, s store.Store) map[string]json.RawMessage {
	t.Helper()
	raw, err := s.Get(context.Background(), globalKey)
	if err != nil {
		t.Fatal(err)
	}
	var compact bytes.Buffer
	if err := json.Compact(&compact, raw); err != nil {
		t.Fatal(err)
	}
	doc := map[string]json.RawMessage{}
	if err := json.Unmarshal(compact.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}
