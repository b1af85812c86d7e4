package builder

import (
	"archive/tar"
	"context"
	"errors"
	"io"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
)

// fakeHerokuishEngine records what a herokuish build asks of the engine.
type fakeHerokuishEngine struct {
	hasImage  bool
	pulled    []string
	volumes   map[string]map[string]string
	spec      docker.BuildRun
	files     map[string]string // the source's tar, as read by RunBuild
	exitCode  int
	runErr    error
	committed []string
	removed   []string
}

func (f *fakeHerokuishEngine) HasImage(context.Context, string) (bool, error) { return f.hasImage, nil }
func (f *fakeHerokuishEngine) Pull(_ context.Context, image string, _ io.Writer) error {
	f.pulled = append(f.pulled, image)
	return nil
}
func (f *fakeHerokuishEngine) EnsureVolume(_ context.Context, name string, labels map[string]string) (bool, error) {
	if f.volumes == nil {
		f.volumes = map[string]map[string]string{}
	}
	_, ok := f.volumes[name]
	f.volumes[name] = labels
	return ok, nil
}
func (f *fakeHerokuishEngine) RemoveOwnVolume(_ context.Context, name string) error {
	delete(f.volumes, name)
	return nil
}
func (f *fakeHerokuishEngine) RunBuild(ctx context.Context, spec docker.BuildRun) (int, string, error) {
	f.spec = spec
	f.files = map[string]string{}
	tr := tar.NewReader(spec.Source)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, "c1", err
		}
		data, _ := io.ReadAll(tr)
		f.files[hdr.Name] = string(data)
	}
	io.WriteString(spec.Output, "-----> fake build\n")
	if err := ctx.Err(); err != nil {
		return 0, "c1", err
	}
	return f.exitCode, "c1", f.runErr
}
func (f *fakeHerokuishEngine) Commit(_ context.Context, id, ref string, cmd []string) (string, error) {
	f.committed = append(f.committed, id+" "+ref+" "+strings.Join(cmd, " "))
	return "sha256:built", nil
}
func (f *fakeHerokuishEngine) RemoveOneOff(_ context.Context, id string) error {
	f.removed = append(f.removed, id)
	return nil
}

func TestHerokuishDetect(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		files  Files
		config map[string]string
		ok     bool
	}{
		{"buildpacks file", Files{".buildpacks": "https://example.test/bp.git\n", "Dockerfile": "FROM x"}, nil, true},
		{"config var", Files{"index.html": "hi"}, map[string]string{"BUILDPACK_URL": "https://example.test/bp.git"}, true},
		{"dotenv", Files{".env": "FOO=1\nexport BUILDPACK_URL=https://example.test/bp.git\n"}, nil, true},
		{"dotenv without it", Files{".env": "FOO=1\n# BUILDPACK_URL=x\n"}, nil, false},
		{"Dockerfile only", Files{"Dockerfile": "FROM x"}, nil, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ok, why, err := Herokuish{}.Detect(ctx, tc.files, tc.config)
			if err != nil || ok != tc.ok || why == "" {
				t.Fatalf("Detect = %v, %q, %v; want %v with a reason", ok, why, err, tc.ok)
			}
		})
	}
}

func TestHerokuishBuild(t *testing.T) {
	eng := &fakeHerokuishEngine{}
	var log strings.Builder
	res, err := Herokuish{Engine: eng, Image: "berth-test/herokuish"}.Build(context.Background(), Request{
		Source: Files{".buildpacks": "https://example.test/theirs.git\n", "index.html": "hi",
			"Procfile": "# types\nweb: httpd\nworker: loop\nrelease: migrate\n"},
		Tag: "berth/blog:v3", App: "blog", Log: &log,
		Env:        map[string]string{"SECRET": "s3cret\n", "BUILDPACK_URL": "https://example.test/bp.git"},
		Buildpacks: []string{"https://example.test/a.git", "https://example.test/b.git"},
		Memory:     1 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	if eng.pulled[0] != "berth-test/herokuish" || eng.spec.Image != "berth-test/herokuish" {
		t.Errorf("pulled %v, ran %s; want the configured image", eng.pulled, eng.spec.Image)
	}
	if eng.spec.Volumes[CacheVolume("blog")] != "/tmp/cache" || eng.volumes[CacheVolume("blog")][docker.LabelApp] != "blog" {
		t.Errorf("volumes %v, made %v; want the app's cache at /tmp/cache", eng.spec.Volumes, eng.volumes)
	}
	// The config is in files, never in the container's environment.
	if len(eng.spec.Env) != 0 || eng.spec.FilesDir != "/tmp/env" || eng.spec.Files["SECRET"] != "s3cret\n" {
		t.Errorf("env %v, files %v in %s; want the config as files in /tmp/env only", eng.spec.Env, eng.spec.Files, eng.spec.FilesDir)
	}
	if eng.files[".buildpacks"] != "https://example.test/a.git\nhttps://example.test/b.git\n" || eng.files["index.html"] != "hi" {
		t.Errorf("source %v; want the app's buildpacks in .buildpacks and the rest as it was", eng.files)
	}
	if eng.spec.SourceDir != "/tmp/app" || eng.spec.Memory != 1<<30 || eng.spec.Labels[docker.LabelOneOff] != "blog" {
		t.Errorf("spec %+v", eng.spec)
	}
	want := map[string][]string{"web": {"/start", "web"}, "worker": {"/start", "worker"}, "release": {"/start", "release"}}
	if !reflect.DeepEqual(res.Launch, want) || res.ImageID != "sha256:built" {
		t.Errorf("result %+v; want launch %v", res, want)
	}
	if !reflect.DeepEqual(eng.committed, []string{"c1 berth/blog:v3 /start web"}) || !reflect.DeepEqual(eng.removed, []string{"c1"}) {
		t.Errorf("committed %v, removed %v", eng.committed, eng.removed)
	}
	if !strings.Contains(log.String(), "Creating the build cache volume berth-blog_herokuish-cache") || !strings.Contains(log.String(), "fake build") {
		t.Errorf("log:\n%s", log.String())
	}
	// The second build finds the cache.
	log.Reset()
	eng.hasImage = true
	if _, err := (Herokuish{Engine: eng}).Build(context.Background(), Request{Source: Files{".buildpacks": "x"}, Tag: "t", App: "blog", Log: &log}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "Restoring the build cache from volume") || eng.spec.Image != DefaultHerokuishImage {
		t.Errorf("second build ran %s, log:\n%s", eng.spec.Image, log.String())
	}
}

func TestHerokuishBuildFails(t *testing.T) {
	eng := &fakeHerokuishEngine{hasImage: true, exitCode: 1}
	_, err := Herokuish{Engine: eng}.Build(context.Background(), Request{Source: Files{".buildpacks": "x"}, Tag: "t", App: "blog"})
	if err == nil || !strings.Contains(err.Error(), "/build failed (exit code: 1)") {
		t.Fatalf("err = %v", err)
	}
	if len(eng.committed) != 0 || len(eng.removed) != 1 {
		t.Errorf("committed %v, removed %v; want nothing committed and the container removed", eng.committed, eng.removed)
	}

	// Cancelled: the container goes too, and the error is the cause.
	eng = &fakeHerokuishEngine{hasImage: true}
	ctx, cancel := context.WithCancelCause(context.Background())
	gone := errors.New("the pusher went away")
	cancel(gone)
	_, err = Herokuish{Engine: eng}.Build(ctx, Request{Source: Files{".buildpacks": "x"}, Tag: "t", App: "blog"})
	if !errors.Is(err, gone) || len(eng.removed) != 1 || len(eng.committed) != 0 {
		t.Errorf("err = %v, removed %v, committed %v", err, eng.removed, eng.committed)
	}
}

func TestHerokuishRefusesBadEnvNames(t *testing.T) {
	eng := &fakeHerokuishEngine{hasImage: true}
	_, err := Herokuish{Engine: eng}.Build(context.Background(), Request{Source: Files{}, Tag: "t", App: "blog", Env: map[string]string{"A-B": "1"}})
	if err == nil || !strings.Contains(err.Error(), `"A-B"`) {
		t.Fatalf("err = %v", err)
	}
}

// A source no builder recognises goes to the default, and the default's
// failure says what herokuish would have needed.
func TestDefaultChoiceNamesWhatHerokuishNeeds(t *testing.T) {
	sel, err := NewSelector(DockerfileName, Herokuish{}, Dockerfile{})
	if err != nil {
		t.Fatal(err)
	}
	c, err := sel.Select(context.Background(), "blog", "", Files{"index.html": "hi"}, nil)
	if err != nil || c.Builder.Name() != DockerfileName {
		t.Fatalf("Select = %+v, %v", c, err)
	}
	if alt := c.Alternatives(); !strings.Contains(alt, "add a .buildpacks file naming the buildpacks (or the config var BUILDPACK_URL) (herokuish builder)") || strings.Contains(alt, "Dockerfile") {
		t.Errorf("Alternatives = %q", alt)
	}
	if c, _ := sel.Select(context.Background(), "blog", "", Files{".buildpacks": "x"}, nil); c.Alternatives() != "" {
		t.Errorf("a detected builder has alternatives %q", c.Alternatives())
	}
}
