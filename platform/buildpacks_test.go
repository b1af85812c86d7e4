package platform_test

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/internal/fakeengine"
)

// requestBuilder builds every source by tagging app:v1, and keeps the
// last request; its result has a buildpack image's processes and launch.
type requestBuilder struct {
	engine *fakeengine.Engine
	last   *builder.Request
}

func (requestBuilder) Name() string { return "cnb" }

func (requestBuilder) Detect(context.Context, builder.Source, map[string]string) (bool, string, error) {
	return true, "always", nil
}

func (b requestBuilder) Build(ctx context.Context, req builder.Request) (builder.Result, error) {
	*b.last = req
	if err := b.engine.Tag(ctx, "app:v1", req.Tag); err != nil {
		return builder.Result{}, err
	}
	id, err := b.engine.ImageID(ctx, req.Tag)
	return builder.Result{
		ImageID:   id,
		Processes: map[string]string{"web": "serve", "worker": "/bin/sh -c from-image"},
		Launch:    map[string][]string{"web": {"/cnb/process/web"}, "worker": {"/cnb/process/worker"}},
	}, err
}

func TestBuildpacksSettingsReachTheBuild(t *testing.T) {
	var last builder.Request
	b := newBuilderBed(t, "", func(e *fakeengine.Engine) []builder.Builder {
		return []builder.Builder{requestBuilder{engine: e, last: &last}}
	})
	if err := b.p.Create(b.ctx, "bp"); err != nil {
		t.Fatal(err)
	}
	steps := []struct {
		action, url string
		index       int
		want        []string
		err         string
	}{
		{"add", "heroku/nodejs", 0, []string{"heroku/nodejs"}, ""},
		{"add", "heroku/procfile", 0, []string{"heroku/nodejs", "heroku/procfile"}, ""},
		{"add", "heroku/python", 1, []string{"heroku/python", "heroku/nodejs", "heroku/procfile"}, ""},
		{"add", "heroku/python", 0, nil, "heroku/python is already among the buildpacks of bp"},
		{"set", "heroku/go", 2, []string{"heroku/python", "heroku/go", "heroku/procfile"}, ""},
		{"remove", "heroku/python", 0, []string{"heroku/go", "heroku/procfile"}, ""},
		{"remove", "heroku/ruby", 0, nil, "heroku/ruby is not among the buildpacks of bp"},
		{"add", "two words", 0, nil, "is not a buildpack"},
	}
	for _, s := range steps {
		err := b.build.ChangeBuildpacks(b.ctx, "bp", s.action, s.url, s.index)
		if s.err != "" {
			if err == nil || !strings.Contains(err.Error(), s.err) {
				t.Fatalf("%s %s: error %v, want %q", s.action, s.url, err, s.err)
			}
			continue
		}
		if err != nil {
			t.Fatalf("%s %s: %v", s.action, s.url, err)
		}
		r, err := b.build.BuildpacksInfo(b.ctx, "bp")
		if err != nil || !slices.Equal(r.List, s.want) {
			t.Fatalf("%s %s: list %v (%v), want %v", s.action, s.url, r.List, err, s.want)
		}
	}

	// The stack: the global one, unless the app has its own.
	if err := b.build.SetBuildpacksProperty(b.ctx, "", "stack", "example/builder:1"); err != nil {
		t.Fatal(err)
	}
	if _, log, err := b.deploySource("bp", builder.Files{"Procfile": "worker: from-procfile"}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if last.BuilderImage != "example/builder:1" || !slices.Equal(last.Buildpacks, []string{"heroku/go", "heroku/procfile"}) || last.App != "bp" {
		t.Errorf("request: image %q, buildpacks %v, app %q", last.BuilderImage, last.Buildpacks, last.App)
	}
	// The image's web joins the Procfile's worker, whose command stays the
	// Procfile's; both start as the builder said.
	a, err := b.p.App(b.ctx, "bp")
	if err != nil {
		t.Fatal(err)
	}
	rel, _ := a.CurrentRelease()
	if rel.Processes["web"] != "serve" || rel.Processes["worker"] != "from-procfile" || !slices.Equal(rel.Launch["worker"], []string{"/cnb/process/worker"}) {
		t.Errorf("release processes %v, launch %v", rel.Processes, rel.Launch)
	}
	if err := b.build.SetBuildpacksProperty(b.ctx, "bp", "stack", "example/own:2"); err != nil {
		t.Fatal(err)
	}
	r, err := b.build.BuildpacksInfo(b.ctx, "bp")
	if err != nil || r.Stack != "example/own:2" || r.GlobalStack != "example/builder:1" || r.ComputedStack != "example/own:2" {
		t.Errorf("report %+v, %v", r, err)
	}
	if _, log, err := b.deploySource("bp", builder.Files{"index.html": "x"}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if last.BuilderImage != "example/own:2" {
		t.Errorf("builder image %q, want the app's", last.BuilderImage)
	}
	for _, bad := range [][2]string{{"stack", "-rf"}, {"stack", "a b"}, {"colour", "x"}} {
		if err := b.build.SetBuildpacksProperty(b.ctx, "bp", bad[0], bad[1]); err == nil {
			t.Errorf("%s %q accepted", bad[0], bad[1])
		}
	}
	// Clearing returns to detection and to the global stack.
	if err := b.build.ChangeBuildpacks(b.ctx, "bp", "clear", "", 0); err != nil {
		t.Fatal(err)
	}
	if err := b.build.SetBuildpacksProperty(b.ctx, "bp", "stack", ""); err != nil {
		t.Fatal(err)
	}
	r, _ = b.build.BuildpacksInfo(b.ctx, "bp")
	if len(r.List) != 0 || r.Stack != "" || r.ComputedStack != "example/builder:1" {
		t.Errorf("after clearing: %+v", r)
	}
	// A herokuish stack is for the herokuish builder only (Dokku 0.39's
	// forwarding): this builder gets its own default.
	if err := b.build.SetBuildpacksProperty(b.ctx, "", "stack", "gliderlabs/herokuish:latest-24"); err != nil {
		t.Fatal(err)
	}
	if _, log, err := b.deploySource("bp", builder.Files{"index.html": "y"}); err != nil {
		t.Fatalf("deploy: %v\n%s", err, log)
	}
	if last.BuilderImage != "" {
		t.Errorf("builder image %q for a CNB build, want none (the stack is a herokuish image)", last.BuilderImage)
	}
}
