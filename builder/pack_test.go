package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/berth-paas/berth/docker"
)

// fakePackEngine records what the pack builder asks of the engine.
type fakePackEngine struct {
	images  map[string]docker.ImageConfig
	socket  string
	runs    []docker.BuildContainer
	files   map[string]*tar.Header
	content map[string]string
	volumes map[string]map[string]string
	exit    int
	// entrypoint is what SetEntrypoint gave the built image.
	entrypoint []string
	// built is the config the creator "exports" as the run's last
	// argument.
	built docker.ImageConfig
}

func (f *fakePackEngine) ImageConfig(_ context.Context, ref string) (docker.ImageConfig, bool, error) {
	c, ok := f.images[ref]
	return c, ok, nil
}

func (f *fakePackEngine) Pull(_ context.Context, image string, _ io.Writer) error {
	return errors.New("no registry here")
}

func (f *fakePackEngine) EnsureVolume(_ context.Context, name string, labels map[string]string) (bool, error) {
	if f.volumes == nil {
		f.volumes = map[string]map[string]string{}
	}
	_, existed := f.volumes[name]
	f.volumes[name] = labels
	return existed, nil
}

func (f *fakePackEngine) RunBuildContainer(_ context.Context, spec docker.BuildContainer) (int, error) {
	f.runs = append(f.runs, spec)
	f.files, f.content = map[string]*tar.Header{}, map[string]string{}
	tr := tar.NewReader(spec.Files)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return 0, err
		}
		data, _ := io.ReadAll(tr)
		f.files[h.Name], f.content[h.Name] = h, string(data)
	}
	if f.exit == 0 {
		f.images[spec.Cmd[len(spec.Cmd)-1]] = f.built
	}
	return f.exit, nil
}

func (f *fakePackEngine) LocalSocket() (string, error) {
	if f.socket == "" {
		return "", errors.New("the Docker engine is at tcp://10.0.0.1:2376, not at a local unix socket")
	}
	return f.socket, nil
}

func (f *fakePackEngine) SetEntrypoint(_ context.Context, ref string, entrypoint []string) (string, error) {
	f.entrypoint = entrypoint
	return "sha256:" + ref, nil
}

const testBuilderMetadata = `{"buildpacks":[{"id":"berth-test/shell","version":"0.1.0"},{"id":"heroku/nodejs","version":"3.0.0"}],"stack":{"runImage":{"image":"old/run"}},"runImages":[{"image":"berth-test/run:latest"}]}`

// fakeSocket stands for the engine's socket: a file only root may write,
// as dockerd makes it (root:docker, 0660), of a group the CNB user is not in.
var fakeSocket = func() string {
	f, err := os.CreateTemp("", "fake-docker-sock-")
	if err != nil {
		panic(err)
	}
	f.Close()
	os.Chmod(f.Name(), 0o660)
	return f.Name()
}()

func newFakePack() *fakePackEngine {
	return &fakePackEngine{
		socket: fakeSocket,
		images: map[string]docker.ImageConfig{
			"berth-test/builder:latest": {
				Env:    []string{"PATH=/bin", "CNB_USER_ID=1000", "CNB_GROUP_ID=1001"},
				Labels: map[string]string{"io.buildpacks.builder.metadata": testBuilderMetadata},
			},
			"berth-test/run:latest": {},
		},
		built: docker.ImageConfig{Labels: map[string]string{
			"io.buildpacks.build.metadata": `{"processes":[{"type":"web","command":["serve"],"args":null},{"type":"worker","command":["/bin/sh","-c","echo hi"],"args":["x"]}]}`,
		}},
	}
}

func TestPackBuild(t *testing.T) {
	f := newFakePack()
	src := Files{"index.html": "hi", "sub/a.txt": "a", "project.toml": `
[[build.env]]
name = "FROM_PROJECT"
value = "p"
[[build.env]]
name = "GREETING"
value = "project loses to config"
`}
	var log bytes.Buffer
	res, err := Pack{Engine: f}.Build(context.Background(), Request{
		Source: src, Tag: "berth/app:v1", App: "app", Log: &log,
		Env:          map[string]string{"GREETING": "hello", "../bad": "x"},
		BuilderImage: "berth-test/builder:latest",
		Memory:       1 << 30,
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(f.runs) != 1 {
		t.Fatalf("%d runs", len(f.runs))
	}
	run := f.runs[0]
	cmd := strings.Join(run.Cmd, " ")
	for _, want := range []string{"/cnb/lifecycle/creator -daemon", "-run-image berth-test/run:latest", "-uid 1000 -gid 1001", "-cache-dir /cache", " berth/app:v1"} {
		if !strings.Contains(cmd, want) {
			t.Errorf("creator command %q lacks %q", cmd, want)
		}
	}
	if strings.Contains(cmd, "-order") {
		t.Errorf("no explicit buildpacks, but the command has -order: %s", cmd)
	}
	if run.User != "root" || !slices.Equal(run.Binds, []string{fakeSocket + ":/var/run/docker.sock"}) || run.Volumes["berth-app_pack-cache"] != "/cache" || run.Memory != 1<<30 {
		t.Errorf("container spec: %+v", run)
	}
	if run.Labels[docker.LabelOneOff] != "app" || f.volumes["berth-app_pack-cache"][docker.LabelOneOff] != "app" || f.volumes["berth-app_pack-cache"][docker.LabelApp] != "app" {
		t.Errorf("labels: container %v, volume %v", run.Labels, f.volumes)
	}
	for name, want := range map[string]string{
		"workspace/index.html":       "hi",
		"workspace/sub/a.txt":        "a",
		"platform/env/GREETING":      "hello",
		"platform/env/FROM_PROJECT":  "p",
		"workspace/project.toml":     src["project.toml"],
		"platform/env/../bad":        "",
		"workspace/../platform/x":    "",
		"layers/order.toml":          "",
		"platform/env/GREETING/../x": "",
	} {
		h, ok := f.files[name]
		if want == "" {
			if ok {
				t.Errorf("%s is in the build's files", name)
			}
			continue
		}
		if !ok || f.content[name] != want {
			t.Errorf("%s: %q, want %q", name, f.content[name], want)
			continue
		}
		if h.Uid != 1000 || h.Gid != 1001 {
			t.Errorf("%s is owned by %d:%d, want the builder's CNB user 1000:1001", name, h.Uid, h.Gid)
		}
	}
	if !slices.Equal(f.entrypoint, []string{"/cnb/lifecycle/launcher", "--"}) {
		t.Errorf("the built image's entrypoint is %v, want the launcher", f.entrypoint)
	}
	if res.ImageID != "sha256:berth/app:v1" {
		t.Errorf("image ID %q", res.ImageID)
	}
	if res.Processes["web"] != "serve" || res.Processes["worker"] != "/bin/sh -c echo hi x" {
		t.Errorf("processes %v", res.Processes)
	}
	if !slices.Equal(res.Launch["web"], []string{"/cnb/process/web"}) || !slices.Equal(res.Launch["worker"], []string{"/cnb/process/worker"}) {
		t.Errorf("launch %v", res.Launch)
	}
}

func TestPackExplicitBuildpacks(t *testing.T) {
	for _, tc := range []struct {
		name       string
		app        []string
		project    string
		wantGroup  string
		wantErr    string
		wantNoRuns bool
	}{
		{name: "app's by ID", app: []string{"heroku/nodejs", "berth-test/shell@0.1.0"},
			wantGroup: `id = "heroku/nodejs"` + "\n    version = \"3.0.0\"\n  [[order.group]]\n    id = \"berth-test/shell\""},
		{name: "urn form", app: []string{"urn:cnb:builder:heroku/nodejs"}, wantGroup: `id = "heroku/nodejs"`},
		{name: "project.toml's group", project: "[[io.buildpacks.group]]\nid = \"berth-test/shell\"\n", wantGroup: `id = "berth-test/shell"`},
		{name: "the app's win over project.toml's", app: []string{"heroku/nodejs"}, project: "[[io.buildpacks.group]]\nid = \"nope/nope\"\n", wantGroup: `id = "heroku/nodejs"`},
		{name: "URL", app: []string{"https://github.com/heroku/heroku-buildpack-nodejs.git"}, wantErr: "cannot be fetched: the pack builder uses the buildpacks of its builder image berth-test/builder:latest only", wantNoRuns: true},
		{name: "project.toml URI", project: "[[build.buildpacks]]\nuri = \"docker://example/bp\"\n", wantErr: "docker://example/bp (from project.toml) cannot be fetched", wantNoRuns: true},
		{name: "unknown ID", app: []string{"heroku/ruby"}, wantErr: "has no buildpack heroku/ruby (from buildpacks:list app); it has berth-test/shell@0.1.0, heroku/nodejs@3.0.0", wantNoRuns: true},
		{name: "unknown version", app: []string{"heroku/nodejs@9"}, wantErr: "has no buildpack heroku/nodejs@9", wantNoRuns: true},
		{name: "bad project.toml", project: "[[", wantErr: "project.toml is not valid TOML", wantNoRuns: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFakePack()
			src := Files{"index.html": "hi"}
			if tc.project != "" {
				src["project.toml"] = tc.project
			}
			_, err := Pack{Engine: f}.Build(context.Background(), Request{
				Source: src, Tag: "berth/app:v1", App: "app", Buildpacks: tc.app, BuilderImage: "berth-test/builder:latest",
			})
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("error %v, want one with %q", err, tc.wantErr)
				}
				if tc.wantNoRuns && len(f.runs) > 0 {
					t.Errorf("the creator ran despite the error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(strings.Join(f.runs[0].Cmd, " "), "-order /layers/order.toml") {
				t.Errorf("no -order in %v", f.runs[0].Cmd)
			}
			if !strings.Contains(f.content["layers/order.toml"], tc.wantGroup) {
				t.Errorf("order.toml:\n%s\nwant it to have %q", f.content["layers/order.toml"], tc.wantGroup)
			}
		})
	}
}

func TestPackRefusals(t *testing.T) {
	build := func(f *fakePackEngine, image string) error {
		_, err := Pack{Engine: f}.Build(context.Background(), Request{Source: Files{"index.html": "x"}, Tag: "berth/app:v1", App: "app", BuilderImage: image})
		return err
	}
	f := newFakePack()
	f.socket = ""
	if err := build(f, "berth-test/builder:latest"); err == nil || !strings.Contains(err.Error(), "the pack builder cannot run here: the Docker engine is at tcp://10.0.0.1:2376, not at a local unix socket") || !strings.Contains(err.Error(), "set Berth's docker_host") {
		t.Errorf("remote engine: %v", err)
	}
	f = newFakePack()
	if err := build(f, ""); err == nil || !strings.Contains(err.Error(), "the builder image heroku/builder:24 is not on this host and cannot be pulled") || !strings.Contains(err.Error(), "add a Dockerfile") {
		t.Errorf("default builder missing: %v", err)
	}
	f = newFakePack()
	f.images["plain"] = docker.ImageConfig{Env: []string{"CNB_USER_ID=1", "CNB_GROUP_ID=1"}}
	if err := build(f, "plain"); err == nil || !strings.Contains(err.Error(), "plain is not a CNB builder image: it has no io.buildpacks.builder.metadata label") {
		t.Errorf("not a builder: %v", err)
	}
	f = newFakePack()
	f.exit = 51
	if err := build(f, "berth-test/builder:latest"); err == nil || !strings.Contains(err.Error(), "a buildpack failed (creator exit code 51)") {
		t.Errorf("failed build: %v", err)
	}
	f = newFakePack()
	f.exit = 20
	if err := build(f, "berth-test/builder:latest"); err == nil || !strings.Contains(err.Error(), "no buildpack of the builder berth-test/builder:latest recognised the app") {
		t.Errorf("failed detect: %v", err)
	}
}

func TestPackSocketMustBeClosedToTheCNBUser(t *testing.T) {
	sock := filepath.Join(t.TempDir(), "docker.sock")
	if err := os.WriteFile(sock, nil, 0o660); err != nil {
		t.Fatal(err)
	}
	// Owned by a user and group that are not root (the test may run as
	// root, and a root CNB user is refused before the owner is read).
	if os.Getuid() == 0 {
		if err := os.Chown(sock, 4242, 4343); err != nil {
			t.Fatal(err)
		}
	}
	fi, err := os.Stat(sock)
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	uid, gid := int(st.Uid), int(st.Gid)
	if err := socketClosedTo(sock, uid+1000, gid+1000); err != nil {
		t.Errorf("a socket of another user and group: %v", err)
	}
	for _, c := range []struct {
		name     string
		mode     os.FileMode
		uid, gid int
		want     string
	}{
		{"the CNB user is root", 0o660, 0, 1000, "CNB user is root"},
		{"the CNB group is root", 0o660, 1000, 0, "CNB user is root"},
		{"writable by all", 0o666, uid + 1000, gid + 1000, "writable by every user"},
		{"owned by the CNB user", 0o600, uid, gid + 1000, "belongs to uid"},
		{"writable by the CNB group", 0o660, uid + 1000, gid, "writable by group"},
	} {
		t.Run(c.name, func(t *testing.T) {
			if err := os.Chmod(sock, c.mode); err != nil {
				t.Fatal(err)
			}
			err := socketClosedTo(sock, c.uid, c.gid)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("got %v, want an error saying %q", err, c.want)
			}
		})
	}
	if err := os.Chmod(sock, 0o640); err != nil {
		t.Fatal(err)
	}
	if err := socketClosedTo(sock, uid+1000, gid); err != nil {
		t.Errorf("a socket its group may only read is closed to that group: %v", err)
	}
}

func TestPackDetect(t *testing.T) {
	ok, why, err := Pack{}.Detect(context.Background(), Files{"project.toml": ""}, nil)
	if err != nil || !ok || why != "found a project.toml at the root" {
		t.Errorf("with project.toml: %v %q %v", ok, why, err)
	}
	ok, why, err = Pack{}.Detect(context.Background(), Files{"Procfile": "web: x"}, nil)
	if err != nil || ok || why != "a project.toml at the root" {
		t.Errorf("without: %v %q %v", ok, why, err)
	}
}
