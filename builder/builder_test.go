package builder

import (
	"archive/tar"
	"context"
	"errors"
	"github.com/moby/moby/api/types/build"
	"io"
	"maps"
	"slices"
	"strings"
	"testing"

	"github.com/moby/moby/client"
)

// fileBuilder is a fake builder that detects a source by one file at its
// root (or, for herokuish, a config variable), as Dokku's builders do.
type fileBuilder struct {
	name, file, env string
}

func (f fileBuilder) Name() string { return f.name }

func (f fileBuilder) Detect(ctx context.Context, src Source, config map[string]string) (bool, string, error) {
	if f.env != "" && config[f.env] != "" {
		return true, "found " + f.env, nil
	}
	if _, ok, err := src.ReadFile(ctx, f.file); err != nil || !ok {
		return false, "a " + f.file, err
	}
	return true, "found " + f.file, nil
}

func (f fileBuilder) Build(context.Context, Request) (Result, error) {
	return Result{}, errors.New("fake builders do not build")
}

// dokkuOrder is Dokku's detection order, as fakes.
func dokkuOrder() []Builder {
	return []Builder{
		fileBuilder{name: "herokuish", file: ".buildpacks", env: "BUILDPACK_URL"},
		fileBuilder{name: "pack", file: "project.toml"},
		fileBuilder{name: "dockerfile", file: "Dockerfile"},
	}
}

func mustSelector(t *testing.T, fallback string, builders ...Builder) *Selector {
	t.Helper()
	s, err := NewSelector(fallback, builders...)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func selected(t *testing.T, s *Selector, chosen string, src Source, config map[string]string) Choice {
	t.Helper()
	c, err := s.Select(context.Background(), "blog", chosen, src, config)
	if err != nil {
		t.Fatalf("select: %v", err)
	}
	return c
}

func TestSelectDetectsInTheOrderGiven(t *testing.T) {
	s := mustSelector(t, "", dokkuOrder()...)
	all := Files{".buildpacks": "x", "project.toml": "x", "Dockerfile": "FROM x"}
	for _, tc := range []struct {
		src    Files
		config map[string]string
		want   string
	}{
		{all, nil, "herokuish"},
		{Files{"project.toml": "x", "Dockerfile": "FROM x"}, nil, "pack"},
		{Files{"Dockerfile": "FROM x"}, map[string]string{"BUILDPACK_URL": "https://example.test/bp"}, "herokuish"},
		{Files{"Dockerfile": "FROM x"}, nil, "dockerfile"},
	} {
		c := selected(t, s, "", tc.src, tc.config)
		if c.Builder.Name() != tc.want {
			t.Errorf("source %v, config %v: selected %s, want %s", slices.Sorted(maps.Keys(tc.src)), tc.config, c.Builder.Name(), tc.want)
		}
		if !strings.HasPrefix(c.Why, "found ") {
			t.Errorf("why %q, want what detection found", c.Why)
		}
	}
}

func TestSelectTakesTheAppsChosenBuilderWithoutDetecting(t *testing.T) {
	s := mustSelector(t, "", dokkuOrder()...)
	c := selected(t, s, "dockerfile", Files{".buildpacks": "x"}, nil)
	if c.Builder.Name() != "dockerfile" || c.Why != "chosen for blog" {
		t.Fatalf("selected %s (%s), want dockerfile, chosen for blog", c.Builder.Name(), c.Why)
	}
}

func TestSelectRefusesAChosenBuilderItDoesNotHave(t *testing.T) {
	s := mustSelector(t, "", dokkuOrder()...)
	_, err := s.Select(context.Background(), "blog", "nixpacks", Files{}, nil)
	if err == nil || err.Error() != `blog is set to build with "nixpacks", which this Berth does not have (it has herokuish, pack, dockerfile); choose one of those for blog` {
		t.Fatalf("error %v, want the builders there are", err)
	}
}

func TestSelectFallsBackToTheDefault(t *testing.T) {
	s := mustSelector(t, "herokuish", dokkuOrder()...)
	c := selected(t, s, "", Files{"index.php": "<?php"}, nil)
	if c.Builder.Name() != "herokuish" || c.Why != "the default; no builder recognised files" {
		t.Fatalf("selected %s (%s), want the default herokuish", c.Builder.Name(), c.Why)
	}
}

func TestSelectWithoutDefaultSaysWhatToAdd(t *testing.T) {
	s := mustSelector(t, "", dokkuOrder()...)
	_, err := s.Select(context.Background(), "blog", "", Files{"index.php": "<?php"}, nil)
	var nb *NoBuilderError
	if !errors.As(err, &nb) {
		t.Fatalf("error %v, want a NoBuilderError", err)
	}
	want := "nothing in files says how to build it: add a .buildpacks (herokuish builder), a project.toml (pack builder) or a Dockerfile (dockerfile builder) and push again"
	if err.Error() != want {
		t.Fatalf("error\n%s\nwant\n%s", err, want)
	}
}

func TestSelectStopsAtADetectionError(t *testing.T) {
	s := mustSelector(t, "dockerfile", Dockerfile{})
	_, err := s.Select(context.Background(), "blog", "", brokenSource{}, nil)
	if err == nil || !strings.Contains(err.Error(), "detecting the builder of blog (dockerfile): disk on fire") {
		t.Fatalf("error %v, want the detection's failure", err)
	}
}

type brokenSource struct{ Files }

func (brokenSource) ReadFile(context.Context, string) ([]byte, bool, error) {
	return nil, false, errors.New("disk on fire")
}

func TestNewSelectorRefusesDuplicateNamesAndAnUnknownDefault(t *testing.T) {
	if _, err := NewSelector("", Dockerfile{}, Dockerfile{}); err == nil {
		t.Error("two builders named dockerfile were accepted")
	}
	if _, err := NewSelector("pack", Dockerfile{}); err == nil || !strings.Contains(err.Error(), `"pack" is not one of the builders (dockerfile)`) {
		t.Errorf("error %v, want the unknown default named", err)
	}
}

func TestDockerfileDetectsARootDockerfile(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		src Files
		ok  bool
		why string
	}{
		{Files{"Dockerfile": "FROM x"}, true, "found a Dockerfile at the root"},
		{Files{"app/Dockerfile": "FROM x", "Procfile": "web: x"}, false, "a Dockerfile at the root"},
		{Files{"dockerfile": "FROM x"}, false, "a Dockerfile at the root"},
	} {
		ok, why, err := Dockerfile{}.Detect(ctx, tc.src, nil)
		if err != nil || ok != tc.ok || why != tc.why {
			t.Errorf("Detect(%v) = %v, %q, %v; want %v, %q", tc.src, ok, why, err, tc.ok, tc.why)
		}
	}
}

// The only builder, and the default, keeps Berth's message for a push
// without a Dockerfile, word for word.
func TestOnlyDockerfileBuilderKeepsTheNoDockerfileMessage(t *testing.T) {
	engine := &recordingEngine{}
	s := mustSelector(t, DockerfileName, Dockerfile{Engine: engine})
	src := Files{"index.html": "hi"}
	c := selected(t, s, "", src, nil)
	if c.Builder.Name() != "dockerfile" {
		t.Fatalf("selected %s, want dockerfile", c.Builder.Name())
	}
	_, err := c.Builder.Build(context.Background(), Request{Source: src, Tag: "berth/blog:v1"})
	if !errors.Is(err, ErrNoDockerfile) || err.Error() != "no Dockerfile at the root of the pushed commit: Berth builds apps from a Dockerfile; add one and push again" {
		t.Fatalf("error %v, want ErrNoDockerfile's message", err)
	}
	if engine.calls != 0 {
		t.Fatal("the engine was asked to build a source without a Dockerfile")
	}
}

// recordingEngine answers a build with an image ID and keeps what it was
// sent.
type recordingEngine struct {
	calls   int
	opts    client.ImageBuildOptions
	context []string
}

func (e *recordingEngine) ImageBuild(ctx context.Context, buildContext io.Reader, opts client.ImageBuildOptions) (client.ImageBuildResult, error) {
	e.calls++
	e.opts = opts
	tr := tar.NewReader(buildContext)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return client.ImageBuildResult{}, err
		}
		e.context = append(e.context, h.Name)
	}
	body := `{"stream":"Step 1/1 : FROM x\n"}` + "\n" + `{"aux":{"ID":"sha256:abc"}}` + "\n"
	return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(body))}, nil
}

func TestDockerfileBuildSendsTheFilteredSourceWithItsLimits(t *testing.T) {
	engine := &recordingEngine{}
	var log strings.Builder
	res, err := Dockerfile{Engine: engine}.Build(context.Background(), Request{
		Source: Files{"Dockerfile": "FROM x", ".dockerignore": "secret.txt\n", "secret.txt": "s", "index.html": "hi"},
		Tag:    "berth/blog:v1", Labels: map[string]string{"k": "v"}, Log: &log,
		Memory: 256 << 20, MemorySwap: 256 << 20, NanoCPUs: 1.5e9,
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.ImageID != "sha256:abc" || res.Processes != nil {
		t.Fatalf("result %+v, want the image ID and no process types", res)
	}
	// An engine client that cannot use BuildKit gets the classic builder,
	// which applies the limits; the log says why.
	if !strings.HasPrefix(log.String(), "-----> Building with the classic builder: this engine client cannot use BuildKit") || !strings.HasSuffix(log.String(), "\nStep 1/1 : FROM x\n") {
		t.Fatalf("log %q, want the classic builder's reason and the engine's stream", log.String())
	}
	if engine.opts.Version != build.BuilderV1 {
		t.Fatalf("builder version %q, want the classic builder's", engine.opts.Version)
	}
	if want := []string{".dockerignore", "Dockerfile", "index.html"}; !slices.Equal(engine.context, want) {
		t.Fatalf("build context %v, want %v", engine.context, want)
	}
	o := engine.opts
	if !slices.Equal(o.Tags, []string{"berth/blog:v1"}) || o.Labels["k"] != "v" || o.Memory != 256<<20 || o.MemorySwap != 256<<20 || o.CPUPeriod != 100_000 || o.CPUQuota != 150_000 || o.Dockerfile != "Dockerfile" {
		t.Fatalf("build options %+v", o)
	}
}
