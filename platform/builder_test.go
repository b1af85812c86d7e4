package platform_test

// Unit tests of the builder seam: the deploy of a source asks the
// platform's builder.Selector, and records and logs the builder that ran.
// The fake engine does not build; a fake builder "builds" by tagging one
// of its images, which is all the pipeline sees of a build.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

// tagBuilder detects a source by one file at its root and builds it by
// tagging the fake engine's image.
type tagBuilder struct {
	name, file, image string
	processes         map[string]string
	launch            map[string][]string
	engine            *fakeengine.Engine
	ran               *int
}

func (b tagBuilder) Name() string { return b.name }

func (b tagBuilder) Detect(ctx context.Context, src builder.Source, _ map[string]string) (bool, string, error) {
	if _, ok, err := src.ReadFile(ctx, b.file); err != nil || !ok {
		return false, "a " + b.file, err
	}
	return true, "found " + b.file, nil
}

func (b tagBuilder) Build(ctx context.Context, req builder.Request) (builder.Result, error) {
	*b.ran++
	fmt.Fprintf(req.Log, "%s builds %s\n", b.name, req.Source.Describe())
	if err := b.engine.Tag(ctx, b.image, req.Tag); err != nil {
		return builder.Result{}, err
	}
	id, err := b.engine.ImageID(ctx, req.Tag)
	return builder.Result{ImageID: id, Processes: b.processes, Launch: b.launch}, err
}

// newBuilderBed is newBed with builders: the given ones, made over its
// engine, in order, with fallback as the default.
func newBuilderBed(t *testing.T, fallback string, make func(*fakeengine.Engine) []builder.Builder) *bed {
	t.Helper()
	return newBedWith(t, func(e *fakeengine.Engine) *builder.Selector {
		sel, err := builder.NewSelector(fallback, make(e)...)
		if err != nil {
			t.Fatal(err)
		}
		return sel
	})
}

// twoBuilders is a "toml" builder (detects app.toml, builds app:v1)
// before an "other" one (detects Otherfile, builds app:v2); ran counts
// their builds.
func twoBuilders(ran *int) func(*fakeengine.Engine) []builder.Builder {
	return func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{
			tagBuilder{name: "toml", file: "app.toml", image: "app:v1", engine: e, ran: ran},
			tagBuilder{name: "other", file: "Otherfile", image: "app:v2", engine: e, ran: ran},
		}
	}
}

// deploySource deploys src to app, creating the app first if need be,
// and returns the release and what the deployer saw.
func (b *bed) deploySource(app string, src builder.Source) (platform.Release, string, error) {
	b.t.Helper()
	if ok, _ := b.p.Exists(b.ctx, app); !ok {
		if err := b.p.Create(b.ctx, app); err != nil {
			b.t.Fatal(err)
		}
	}
	var log strings.Builder
	rel, err := b.d.Deploy(b.ctx, deploy.DeployRequest{App: app, Source: src, Reason: "test", Log: &log})
	return rel, log.String(), err
}

func TestDeployOfASourceServesWhatTheDetectedBuilderMade(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	rel, log, err := b.deploySource("blog", builder.Files{"Otherfile": "x", "index.html": "hi"})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if ran != 1 || rel.Builder != "other" {
		t.Fatalf("%d builds, release built by %q; want one, by other", ran, rel.Builder)
	}
	for _, line := range []string{
		"-----> Building blog (files) as release v1 (",
		"-----> Using builder other (found Otherfile)\nother builds files\n",
	} {
		if !strings.Contains(log, line) {
			t.Errorf("the build log lacks %q:\n%s", line, log)
		}
	}
	web := b.running("blog", "web")
	if len(web) != 1 || web[0].Image != "berth/blog:v1" {
		t.Fatalf("running %v, want one web container of berth/blog:v1", web)
	}
	if got := b.targets("blog"); len(got) != 1 || !strings.HasPrefix(b.get(got[0]), "blog.web.1") {
		t.Fatalf("targets %v, want the new container serving", got)
	}
	a, _ := b.p.App(b.ctx, "blog")
	if cur, _ := a.CurrentRelease(); cur.Builder != "other" {
		t.Fatalf("the current release records builder %q, want other", cur.Builder)
	}
	builds, err := b.d.Builds(b.ctx, "blog")
	if err != nil || len(builds) != 1 || builds[0].Builder != "other" || builds[0].Status != "succeeded" {
		t.Fatalf("builds %+v (%v), want one succeeded build by other", builds, err)
	}
}

func TestDeployBuildsWithTheAppsChosenBuilder(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := b.build.SetBuilder(b.ctx, "blog", "other"); err != nil {
		t.Fatal(err)
	}
	rel, log, err := b.deploySource("blog", builder.Files{"app.toml": "x"})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if rel.Builder != "other" || !strings.Contains(log, "-----> Using builder other (chosen for blog)\n") {
		t.Fatalf("built by %q, log:\n%s\nwant other, chosen for blog", rel.Builder, log)
	}
	// Clearing the choice returns the app to detection.
	if err := b.build.SetBuilder(b.ctx, "blog", ""); err != nil {
		t.Fatal(err)
	}
	if rel, _, err = b.deploySource("blog", builder.Files{"app.toml": "x"}); err != nil || rel.Builder != "toml" {
		t.Fatalf("built by %q (%v), want toml once the choice is cleared", rel.Builder, err)
	}
}

func TestSetBuilderRefusesABuilderThereIsNot(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	err := b.build.SetBuilder(b.ctx, "blog", "herokuish")
	if err == nil || err.Error() != `there is no builder "herokuish"; this Berth has toml, other` {
		t.Fatalf("error %v, want the builders there are", err)
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Builder != "" {
		t.Fatalf("the app's builder became %q", a.Builder)
	}
}

func TestSourceNoBuilderFitsIsRefusedAndThePreviousReleaseServes(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	b.mustDeploy("blog", "app:v1")
	before := b.targets("blog")
	_, log, err := b.deploySource("blog", builder.Files{"index.php": "<?php"})
	want := "build of blog failed: nothing in files says how to build it: add a app.toml (toml builder) or a Otherfile (other builder) and push again"
	var nb *builder.NoBuilderError
	if err == nil || err.Error() != want || !errors.As(err, &nb) {
		t.Fatalf("error %v, want %q", err, want)
	}
	if ran != 0 || strings.Contains(log, "-----> Building") {
		t.Fatalf("%d builds ran; log:\n%s", ran, log)
	}
	if got := b.targets("blog"); len(got) != 1 || got[0] != before[0] {
		t.Fatalf("targets %v, want the previous %v", got, before)
	}
	builds, _ := b.d.Builds(b.ctx, "blog")
	if len(builds) != 2 || builds[0].Status != "failed" || builds[0].Builder != "" {
		t.Fatalf("builds %+v, want the refused one failed, without a builder", builds)
	}
}

// Berth's own setup, the Dockerfile builder alone and the default, on a
// source without a Dockerfile: the message users have always had.
func TestSourceWithoutDockerfileFailsWithTheDockerfileBuildersMessage(t *testing.T) {
	b := newBuilderBed(t, builder.DockerfileName, func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{builder.Dockerfile{Engine: e}}
	})
	_, log, err := b.deploySource("blog", builder.Files{"index.html": "hi"})
	if !errors.Is(err, builder.ErrNoDockerfile) || err.Error() != "build of blog failed: "+builder.ErrNoDockerfile.Error() {
		t.Fatalf("error %v, want ErrNoDockerfile", err)
	}
	if !strings.Contains(log, "-----> Using builder dockerfile (the default; no builder recognised files)\n") {
		t.Fatalf("the build log does not say the default builder ran:\n%s", log)
	}
}

func TestBuildersProcessTypesStandInForAMissingProcfile(t *testing.T) {
	ran := 0
	procs := map[string]string{"web": "serve", "worker": "work"}
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{tagBuilder{name: "toml", file: "app.toml", image: "app:v1", processes: procs, engine: e, ran: &ran}}
	})
	rel, log, err := b.deploySource("blog", builder.Files{"app.toml": "x"})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if !maps.Equal(rel.Processes, procs) {
		t.Fatalf("processes %v, want the builder's %v", rel.Processes, procs)
	}
	// A Procfile wins over what the builder found.
	rel, log, err = b.deploySource("blog", builder.Files{"app.toml": "x", "Procfile": "web: mine\n"})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if !maps.Equal(rel.Processes, map[string]string{"web": "mine"}) {
		t.Fatalf("processes %v, want the Procfile's", rel.Processes)
	}
}

func TestDeployOfASourceWithoutBuildersSaysSo(t *testing.T) {
	b := newBed(t)
	_, _, err := b.deploySource("blog", builder.Files{"Dockerfile": "FROM x"})
	if err == nil || !strings.Contains(err.Error(), "this Berth has no builders configured") {
		t.Fatalf("error %v, want no builders", err)
	}
	// Image deploys need no builder.
	b.mustDeploy("blog", "app:v1")
}

func TestBuildersProcessTypesAreHeldToTheFormationLimits(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{tagBuilder{name: "toml", file: "app.toml", image: "app:v2", processes: map[string]string{"web": "serve", "worker": "work"}, engine: e, ran: &ran}}
	})
	b.p.SetLimits(platform.Limits{MaxScale: 2})
	b.mustDeploy("blog", "app:v1")
	before := b.targets("blog")
	_, log, err := b.deploySource("blog", builder.Files{"app.toml": "x", "app.json": `{"formation": {"worker": {"quantity": 3}}}`})
	if err == nil || !strings.Contains(err.Error(), "the image's process types asks for worker=3") {
		t.Fatalf("deploy error %v, want the formation refused\n%s", err, log)
	}
	if ran != 1 {
		t.Fatalf("%d builds, want 1", ran)
	}
	if _, err := b.engine.ImageID(b.ctx, "berth/blog:v2"); err == nil {
		t.Fatal("the refused release's image was left behind")
	}
	if got := b.targets("blog"); len(got) != 1 || got[0] != before[0] {
		t.Fatalf("targets %v, want the previous %v", got, before)
	}
}

func TestGlobalBuilderAppliesUnlessTheAppChoosesOne(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	if err := b.build.SetGlobalBuilder(b.ctx, "other"); err != nil {
		t.Fatal(err)
	}
	rel, log, err := b.deploySource("blog", builder.Files{"app.toml": "x"})
	if err != nil || rel.Builder != "other" || !strings.Contains(log, "(chosen for every app with builder:set --global selected)") {
		t.Fatalf("built by %q (%v), log:\n%s\nwant other, chosen globally", rel.Builder, err, log)
	}
	if err := b.build.SetBuilder(b.ctx, "blog", "toml"); err != nil {
		t.Fatal(err)
	}
	if rel, _, err = b.deploySource("blog", builder.Files{"Otherfile": "x"}); err != nil || rel.Builder != "toml" {
		t.Fatalf("built by %q (%v), want the app's own choice over the global one", rel.Builder, err)
	}
	r, err := b.build.BuilderReport(b.ctx, "blog")
	if err != nil || r.Selected != "toml" || r.GlobalSelected != "other" || r.ComputedSelected != "toml" || r.LastBuilder != "toml" {
		t.Fatalf("report %+v (%v)", r, err)
	}
	// Unsetting the global choice leaves the other global settings.
	if err := b.build.SetGlobalBuildDir(b.ctx, "web"); err != nil {
		t.Fatal(err)
	}
	if err := b.build.SetGlobalBuilder(b.ctx, ""); err != nil {
		t.Fatal(err)
	}
	if g, err := b.build.GlobalBuilderReport(b.ctx); err != nil || g.GlobalSelected != "" || g.GlobalBuildDir != "web" {
		t.Fatalf("global report %+v (%v)", g, err)
	}
	if err := b.build.SetGlobalBuilder(b.ctx, "nope"); err == nil || !strings.Contains(err.Error(), `there is no builder "nope"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestBuildDirIsTheBuildsRoot(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := b.build.SetBuildDir(b.ctx, "blog", "../x"); err == nil {
		t.Fatal("a build dir outside the repository was accepted")
	}
	if err := b.build.SetBuildDir(b.ctx, "blog", "web"); err != nil {
		t.Fatal(err)
	}
	// The root's app.toml is not seen; web's Otherfile and Procfile are.
	rel, log, err := b.deploySource("blog", builder.Files{"app.toml": "x", "web/Otherfile": "x", "web/Procfile": "web: serve\nworker: work\n"})
	if err != nil || rel.Builder != "other" || rel.Processes["worker"] != "work" {
		t.Fatalf("built by %q with %v (%v), log:\n%s\nwant other, with web's Procfile", rel.Builder, rel.Processes, err, log)
	}
	_, _, err = b.deploySource("blog", builder.Files{"app.toml": "x"})
	if err == nil || !strings.Contains(err.Error(), "has no directory web") {
		t.Fatalf("err = %v; want the missing build directory named", err)
	}
	if a, _ := b.p.App(b.ctx, "blog"); a.Current != rel.Version {
		t.Fatalf("serving v%d, want v%d to keep serving", a.Current, rel.Version)
	}
}

// An app with a Procfile has only its types: ps:scale of another is
// refused, naming it.
func TestScaleToATypeTheProcfileLacksIsRefused(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", twoBuilders(&ran))
	if _, log, err := b.deploySource("blog", builder.Files{"app.toml": "x", "Procfile": "web: mine\n"}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	err := b.d.Scale(b.ctx, "blog", map[string]int{"worker": 1}, io.Discard)
	if err == nil || !strings.Contains(err.Error(), `no process type "worker"`) {
		t.Fatalf("error %v, want a refusal naming the type", err)
	}
}

// A release entry the builder says how to start (a buildpack image's
// /cnb/process/release) starts with that argv as its entrypoint, as the
// app's containers do, not under the image's own entrypoint.
func TestReleaseEntryStartsWithTheBuildersLaunchArgv(t *testing.T) {
	ran := 0
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{tagBuilder{name: "toml", file: "app.toml", image: "app:v1", engine: e, ran: &ran,
			processes: map[string]string{"web": "serve", "release": "migrate"},
			launch:    map[string][]string{"web": {"/cnb/process/web"}, "release": {"/cnb/process/release"}}}}
	})
	if _, log, err := b.deploySource("blog", builder.Files{"app.toml": "x"}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if !slices.Contains(b.engine.Calls(), "RunOnce entrypoint=/cnb/process/release") {
		t.Fatalf("calls %q; want the release run with /cnb/process/release as its entrypoint", b.engine.Calls())
	}
}

// hookBuilder builds every source by tagging app:v1, running during its
// build what a concurrent command would do.
type hookBuilder struct {
	engine *fakeengine.Engine
	during func()
}

func (hookBuilder) Name() string { return "hook" }

func (hookBuilder) Detect(context.Context, builder.Source, map[string]string) (bool, string, error) {
	return true, "always", nil
}

func (b hookBuilder) Build(ctx context.Context, req builder.Request) (builder.Result, error) {
	b.during()
	if err := b.engine.Tag(ctx, "app:v1", req.Tag); err != nil {
		return builder.Result{}, err
	}
	id, err := b.engine.ImageID(ctx, req.Tag)
	return builder.Result{ImageID: id}, err
}

// A git:sync deploy (MoveBranch) moves the branch it announced, req.Branch,
// even when the global deploy branch changes during its build. (The
// repository has no such commit here, so the move fails and its line in
// the log names the branch it tried.)
func TestSyncMovesTheBranchItAnnounced(t *testing.T) {
	var build *buildconfig.Settings
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{hookBuilder{engine: e, during: func() {
			if err := build.SetGlobalDeployBranch(context.Background(), "other"); err != nil {
				t.Error(err)
			}
		}}}
	})
	p, build := b.p, b.build
	if err := build.SetGlobalDeployBranch(b.ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	_, err := b.d.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Source: builder.Files{"x": "y"}, Reason: "sync",
		Branch: "prod", MoveBranch: true, GitRev: "0123456789abcdef0123456789abcdef01234567", Log: &log})
	if err != nil {
		t.Fatalf("deploy: %v\n%s", err, log.String())
	}
	if !strings.Contains(log.String(), "the branch prod of the repository") {
		t.Fatalf("the deploy did not move prod, the branch it announced:\n%s", log.String())
	}
}
