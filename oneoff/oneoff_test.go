package oneoff

import (
	"bytes"
	"context"
	"errors"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

const image = "berth/blog:v1"

// fakeApps is an app core of deployed apps: each has one release of
// image, and its one-offs start from base (env, host options).
type fakeApps struct {
	apps     map[string]*platform.App
	env      []string
	maxScale int
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	a, ok := f.apps[name]
	if !ok {
		return nil, platform.Errorf(platform.ErrAppNotFound, "app %s does not exist", name)
	}
	return a, nil
}

func (f *fakeApps) RunBase(ctx context.Context, app string) (platform.RunBase, error) {
	a, err := f.App(ctx, app)
	if err != nil {
		return platform.RunBase{}, err
	}
	rel, ok := a.CurrentRelease()
	if !ok {
		return platform.RunBase{}, platform.Errorf(platform.ErrNotDeployed, "%s has no release yet", app)
	}
	return platform.RunBase{App: a, Release: rel, Env: slices.Clone(f.env)}, nil
}

func (f *fakeApps) ProcessGlobals() platform.ProcessGlobals { return platform.ProcessGlobals{} }
func (f *fakeApps) Limits() platform.Limits                 { return platform.Limits{MaxScale: f.maxScale} }

// newRunner returns a Runner of the apps named (each deployed with rel)
// on a fake engine whose containers run silently.
func newRunner(t *testing.T, rel platform.Release, apps ...string) (*Runner, *fakeengine.Engine, *fakeApps) {
	t.Helper()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	engine.AddImage(image, fakeengine.Image{})
	engine.BehaviorOf = func(fakeengine.Container) fakeengine.Behavior { return fakeengine.Behavior{Silent: true} }
	rel.Version, rel.Image = 1, image
	f := &fakeApps{apps: map[string]*platform.App{}, env: []string{"A=1", "B=2", "PORT=5000", "DYNO=run.1"}, maxScale: 10}
	for _, name := range apps {
		f.apps[name] = &platform.App{Name: name, Current: 1, Generation: 1, Releases: []platform.Release{rel}}
	}
	return New(Config{Engine: engine, Apps: f}), engine, f
}

// attached runs cmd attached and returns the one-off's spec as the
// engine saw it.
func attached(t *testing.T, r *Runner, engine *fakeengine.Engine, cmd []string, opts Options) docker.OneOff {
	t.Helper()
	var got docker.OneOff
	engine.OneOffExit = func(spec docker.OneOff) (int, string) { got = spec; return 0, "" }
	if _, err := r.Run(context.Background(), "blog", cmd, opts, docker.Streams{}); err != nil {
		t.Fatal(err)
	}
	return got
}

func TestRunEnvOverridesConfig(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	spec := attached(t, r, engine, []string{"env"}, Options{Env: map[string]string{"B": "x", "C": "y"}})
	if want := []string{"A=1", "PORT=5000", "DYNO=run.1", "B=x", "C=y"}; !reflect.DeepEqual(spec.Env, want) {
		t.Fatalf("env %q, want %q", spec.Env, want)
	}
}

func TestRunProcessTypeRunsItsCommandWithTheArguments(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{Processes: map[string]string{"console": "bin/console --env prod"}}, "blog")
	var notes bytes.Buffer
	spec := attached(t, r, engine, []string{"console", "a b", "$HOME"}, Options{Notes: &notes})
	if want := []string{"/bin/sh", "-c", `bin/console --env prod "$@"`, "sh", "a b", "$HOME"}; !reflect.DeepEqual(spec.Cmd, want) {
		t.Fatalf("cmd %q, want %q", spec.Cmd, want)
	}
	if !strings.Contains(notes.String(), "Found 'console' in Procfile") {
		t.Fatalf("notes %q", notes.String())
	}
}

func TestRunLaunchEntryRunsItsArgv(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{Launch: map[string][]string{"worker": {"/cnb/process/worker", "--fast"}}}, "blog")
	spec := attached(t, r, engine, []string{"worker", "1"}, Options{})
	if want := []string{"/cnb/process/worker", "--fast", "1"}; !reflect.DeepEqual(spec.Cmd, want) {
		t.Fatalf("cmd %q, want %q", spec.Cmd, want)
	}
}

func TestRunOtherCommandRunsAsGiven(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{Processes: map[string]string{"web": "serve"}}, "blog")
	spec := attached(t, r, engine, []string{"ls", "-l"}, Options{})
	if want := []string{"ls", "-l"}; !reflect.DeepEqual(spec.Cmd, want) {
		t.Fatalf("cmd %q, want %q", spec.Cmd, want)
	}
}

func TestRunWithoutCommandRunsAShell(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	spec := attached(t, r, engine, nil, Options{})
	if want := []string{"/bin/sh"}; !reflect.DeepEqual(spec.Cmd, want) {
		t.Fatalf("cmd %q, want %q", spec.Cmd, want)
	}
}

func TestRunIsLabelledAttachedOneOffOfItsApp(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	spec := attached(t, r, engine, []string{"true"}, Options{})
	if spec.Labels[docker.LabelOneOff] != "blog" || spec.Labels[docker.LabelRun] != "attached" || spec.Labels[docker.LabelApp] != "" {
		t.Fatalf("labels %v", spec.Labels)
	}
}

func TestRunOfUndeployedAppFails(t *testing.T) {
	r, _, f := newRunner(t, platform.Release{}, "blog")
	f.apps["blog"].Current, f.apps["blog"].Releases = 0, nil
	if _, err := r.Run(context.Background(), "blog", []string{"true"}, Options{}, docker.Streams{}); !errors.Is(err, platform.ErrNotDeployed) {
		t.Fatalf("err %v, want ErrNotDeployed", err)
	}
}

// An attached one-off lasts as long as its session: when the session's
// context ends (the SSH channel closed), Run returns and the container
// is gone.
func TestRunRemovedWhenSessionEnds(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	ctx, cancel := context.WithCancel(context.Background())
	engine.OneOffExit = func(docker.OneOff) (int, string) {
		if n := len(engine.Containers()); n != 1 {
			t.Errorf("%d containers while the run runs, want 1", n)
		}
		cancel()
		<-ctx.Done()
		return 137, ""
	}
	done := make(chan error, 1)
	go func() {
		_, err := r.Run(ctx, "blog", []string{"sleep", "1000"}, Options{}, docker.Streams{})
		done <- err
	}()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if cs := engine.Containers(); len(cs) != 0 {
		t.Fatalf("containers left after the session ended: %+v", cs)
	}
}

func TestDetachedIsListedUnderItsApp(t *testing.T) {
	r, _, _ := newRunner(t, platform.Release{}, "blog", "shop")
	ctx := context.Background()
	name, err := r.Detached(ctx, "blog", []string{"sleep", "1000"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(name, "blog.run.") {
		t.Fatalf("name %q, want blog.run.NNNN", name)
	}
	if _, err := r.Detached(ctx, "shop", []string{"sleep", "1000"}, Options{}); err != nil {
		t.Fatal(err)
	}
	list, err := r.List(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != name || list[0].App != "blog" || list[0].State != "running" {
		t.Fatalf("blog's one-offs %+v, want only %s", list, name)
	}
	all, err := r.List(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if len(all) != 2 {
		t.Fatalf("every app's one-offs %+v, want 2", all)
	}
}

// specEngine is the fake engine, keeping the specs Run was given (the
// fake does not model AutoRemove).
type specEngine struct {
	*fakeengine.Engine
	runs []docker.RunSpec
}

func (e *specEngine) Run(ctx context.Context, spec docker.RunSpec) (string, error) {
	e.runs = append(e.runs, spec)
	return e.Engine.Run(ctx, spec)
}

func TestDetachedRemovedWhenItExits(t *testing.T) {
	_, engine, f := newRunner(t, platform.Release{}, "blog")
	e := &specEngine{Engine: engine}
	r := New(Config{Engine: e, Apps: f})
	name, err := r.Detached(context.Background(), "blog", []string{"true"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// Docker removes it when it exits (AutoRemove): nothing else would.
	if len(e.runs) != 1 || e.runs[0].Name != name || !e.runs[0].AutoRemove || e.runs[0].Labels[docker.LabelRun] != "detached" {
		t.Fatalf("runs %+v, want one auto-removed detached run %s", e.runs, name)
	}
}

func TestDetachedBoundedByMaxScale(t *testing.T) {
	r, _, f := newRunner(t, platform.Release{}, "blog")
	f.maxScale = 2
	ctx := context.Background()
	for range 2 {
		if _, err := r.Detached(ctx, "blog", []string{"sleep", "1000"}, Options{}); err != nil {
			t.Fatal(err)
		}
	}
	_, err := r.Detached(ctx, "blog", []string{"sleep", "1000"}, Options{})
	if !errors.Is(err, platform.ErrOverLimit) || !strings.Contains(err.Error(), "run:stop blog") {
		t.Fatalf("third detached run: %v, want ErrOverLimit saying run:stop", err)
	}
}

func TestStopStopsOnlyTheNamedOneOff(t *testing.T) {
	r, _, _ := newRunner(t, platform.Release{}, "blog")
	ctx := context.Background()
	first, err := r.Detached(ctx, "blog", []string{"sleep", "1000"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	second, err := r.Detached(ctx, "blog", []string{"sleep", "1000"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	stopped, err := r.Stop(ctx, "blog", first)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(stopped, []string{first}) {
		t.Fatalf("stopped %q, want %q", stopped, first)
	}
	list, err := r.List(ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if len(list) != 1 || list[0].Name != second {
		t.Fatalf("left %+v, want %s", list, second)
	}
}

func TestStopWithAppStopsOnlyThatAppsOneOffs(t *testing.T) {
	r, _, _ := newRunner(t, platform.Release{}, "blog", "shop")
	ctx := context.Background()
	shop, err := r.Detached(ctx, "shop", []string{"sleep", "1000"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	// A deploy key of blog names blog; shop's container is not blog's.
	if _, err := r.Stop(ctx, "blog", shop); err == nil || !strings.Contains(err.Error(), "no running run container of blog") {
		t.Fatalf("stopping shop's one-off as blog's: %v", err)
	}
	if list, _ := r.List(ctx, "shop"); len(list) != 1 {
		t.Fatalf("shop's one-offs %+v, want its one still running", list)
	}
}

func TestListOfUnknownAppFails(t *testing.T) {
	r, _, _ := newRunner(t, platform.Release{})
	if _, err := r.List(context.Background(), "ghost"); !errors.Is(err, platform.ErrAppNotFound) {
		t.Fatalf("err %v, want ErrAppNotFound", err)
	}
}

func TestLogsPrefixEachLineWithAppAndRun(t *testing.T) {
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	engine.BehaviorOf = func(fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: true, Output: "2026-01-01T00:00:00Z hello\n"}
	}
	name, err := r.Detached(context.Background(), "blog", []string{"echo", "hello"}, Options{})
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	if err := r.Logs(context.Background(), "blog", LogOptions{Lines: 100}, &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	if want := "2026-01-01T00:00:00Z blog[" + strings.TrimPrefix(name, "blog.") + "]: hello\n"; out.String() != want {
		t.Fatalf("logs %q, want %q", out.String(), want)
	}
}

func TestLogsCappedAtMaxLines(t *testing.T) {
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	engine.AddImage(image, fakeengine.Image{})
	var lines []string
	for i := range 5 {
		lines = append(lines, "2026-01-01T00:00:00Z line"+strconv.Itoa(i))
	}
	engine.BehaviorOf = func(fakeengine.Container) fakeengine.Behavior {
		// No newline after the last: the fake counts one as a line.
		return fakeengine.Behavior{Silent: true, Output: strings.Join(lines, "\n")}
	}
	f := &fakeApps{apps: map[string]*platform.App{"blog": {Name: "blog", Current: 1, Releases: []platform.Release{{Version: 1, Image: image}}}}, maxScale: 10}
	r := New(Config{Engine: engine, Apps: f, MaxLines: func() int { return 2 }})
	if _, err := r.Detached(context.Background(), "blog", []string{"x"}, Options{}); err != nil {
		t.Fatal(err)
	}
	var out, notes bytes.Buffer
	if err := r.Logs(context.Background(), "blog", LogOptions{Lines: -1, Raw: true}, &out, &notes); err != nil {
		t.Fatal(err)
	}
	if out.String() != "line3\nline4\n" || !strings.Contains(notes.String(), "last 2 lines") {
		t.Fatalf("logs %q, notes %q", out.String(), notes.String())
	}
}

func TestLogsOfAppWithoutOneOffsSaysHowToStartOne(t *testing.T) {
	r, _, _ := newRunner(t, platform.Release{}, "blog")
	err := r.Logs(context.Background(), "blog", LogOptions{Lines: 100}, &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "run:detached blog") {
		t.Fatalf("err %v", err)
	}
}

// enterTarget starts process containers of blog's generation 1 and
// returns the ID Enter executes in for process.
func enterTarget(t *testing.T, process string, dynos ...string) string {
	t.Helper()
	r, engine, _ := newRunner(t, platform.Release{}, "blog")
	ids := map[string]string{}
	for _, d := range dynos {
		typ, idx, _ := strings.Cut(d, ".")
		id, err := engine.Run(context.Background(), docker.RunSpec{Image: image, Name: "blog." + d, Labels: map[string]string{
			docker.LabelApp: "blog", docker.LabelProcess: typ, docker.LabelIndex: idx, docker.LabelGeneration: "1",
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids[id] = d
	}
	if _, err := r.Enter(context.Background(), "blog", process, nil, docker.Streams{}); err != nil {
		t.Fatal(err)
	}
	for _, c := range engine.Calls() {
		if rest, ok := strings.CutPrefix(c, "Exec "); ok {
			id, cmd, _ := strings.Cut(rest, " ")
			if cmd != "/bin/sh" {
				t.Fatalf("exec %q, want /bin/sh", cmd)
			}
			return ids[id]
		}
	}
	t.Fatal("no exec")
	return ""
}

func TestEnterDefaultsToTheFirstWebContainer(t *testing.T) {
	if got := enterTarget(t, "", "worker.1", "web.2", "web.1"); got != "web.1" {
		t.Fatalf("entered %s, want web.1", got)
	}
}

func TestEnterTakesOneContainerByNumber(t *testing.T) {
	if got := enterTarget(t, "web.2", "web.1", "web.2"); got != "web.2" {
		t.Fatalf("entered %s, want web.2", got)
	}
}

func TestEnterWithoutSuchProcessFails(t *testing.T) {
	r, _, _ := newRunner(t, platform.Release{}, "blog")
	if _, err := r.Enter(context.Background(), "blog", "worker", nil, docker.Streams{}); err == nil || !strings.Contains(err.Error(), "no running worker container") {
		t.Fatalf("err %v", err)
	}
}
