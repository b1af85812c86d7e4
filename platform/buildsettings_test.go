package platform

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/store"
)

// A build cancelled with builds:cancel is recorded canceled (Dokku's
// status), and the retention it is given is what finish keeps.
func TestBuildFinishCanceledAndRetention(t *testing.T) {
	s := buildStore{dir: t.TempDir()}
	for i := range 4 {
		b, err := s.begin(Build{App: "blog", Reason: "push", Started: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		var deployErr error
		if i == 3 {
			deployErr = cancelledError(ErrBuildCanceled, "the build")
		}
		if err := b.finish(0, deployErr, 2); err != nil {
			t.Fatal(err)
		}
	}
	builds, err := s.list("blog")
	if err != nil {
		t.Fatal(err)
	}
	if len(builds) != 2 || builds[0].ID != 4 || builds[1].ID != 3 {
		t.Fatalf("kept %+v, want builds 4 and 3", builds)
	}
	if builds[0].Status != BuildCanceled || builds[1].Status != "succeeded" {
		t.Fatalf("statuses %q %q", builds[0].Status, builds[1].Status)
	}
}

// CancelDeploy cancels the registered deploy with ErrBuildCanceled and
// waits for its end; with none registered it says so.
func TestRunningDeploysCancel(t *testing.T) {
	var r runningDeploys
	if r.get("blog") != nil {
		t.Fatal("a deploy with none registered")
	}
	ctx, cancel := context.WithCancelCause(context.Background())
	end := r.add("blog", 7, cancel)
	d := r.get("blog")
	if d == nil || d.build != 7 {
		t.Fatalf("registered %+v", d)
	}
	go func() {
		<-ctx.Done()
		end()
	}()
	d.cancel(ErrBuildCanceled)
	<-d.done
	if !errors.Is(context.Cause(ctx), ErrBuildCanceled) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	if r.get("blog") != nil {
		t.Fatal("the ended deploy is still registered")
	}
	err := cancelledError(context.Cause(ctx), "the port wait")
	if !errors.Is(err, ErrBuildCanceled) || err.Error() != "cancelled with builds:cancel during the port wait; nothing of the cancelled deploy is left, and the previous release keeps serving" {
		t.Fatalf("error %q", err)
	}
}

// Each network property applies the app's own, else the global one.
func TestComputedNetworks(t *testing.T) {
	global := NetworkSettings{InitialNetwork: "g-init", AttachPostCreate: []string{"g-c1", "g-c2"}, AttachPostDeploy: []string{"g-d"}}
	app := NetworkSettings{AttachPostCreate: []string{"a-c"}}
	c := app.computed(global)
	if c.InitialNetwork != "g-init" || !slices.Equal(c.AttachPostCreate, []string{"a-c"}) || !slices.Equal(c.AttachPostDeploy, []string{"g-d"}) {
		t.Fatalf("computed %+v", c)
	}
	c.AttachPostDeploy[0] = "changed"
	if global.AttachPostDeploy[0] != "g-d" {
		t.Fatal("computed shares the global settings' slice")
	}
	if got := (NetworkSettings{}).computed(NetworkSettings{}); fmt.Sprint(got) != fmt.Sprint(NetworkSettings{}) {
		t.Fatalf("empty computed %+v", got)
	}
}

// docker-options:add --process TYPE: the type's deploy options come after
// the app's, on that type's containers only.
func TestHostOptionsProcessOptions(t *testing.T) {
	a := &App{Name: "api", DockerOptions: map[string][]string{
		PhaseDeploy:            {"--label team=x"},
		ProcessPhase("worker"): {"--label only=worker"},
		PhaseRun:               {"--label one=off"},
	}}
	w, err := hostOptions(a, PhaseDeploy, "worker", 1)
	if err != nil {
		t.Fatal(err)
	}
	if w.Labels["team"] != "x" || w.Labels["only"] != "worker" {
		t.Fatalf("worker labels %q", w.Labels)
	}
	web, err := hostOptions(a, PhaseDeploy, "web", 1)
	if err != nil {
		t.Fatal(err)
	}
	if web.Labels["team"] != "x" || web.Labels["only"] != "" {
		t.Fatalf("web labels %q", web.Labels)
	}
	run, err := hostOptions(a, PhaseRun, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	if run.Labels["only"] != "" || run.Labels["one"] != "off" {
		t.Fatalf("run labels %q", run.Labels)
	}
	for _, ph := range []string{"deploy.web", "deploy.worker-2"} {
		if err := validPhases([]string{ph}); err != nil {
			t.Errorf("%s: %v", ph, err)
		}
	}
	for _, ph := range []string{"deploy._default_", "deploy.", "run.web", "deploy.a b"} {
		if err := validPhases([]string{ph}); err == nil {
			t.Errorf("%s was accepted", ph)
		}
	}
}

// The global settings of this round: each app's own wins, then the
// global one, then the default; and each clears back.
func TestGlobalSettingsOfThisRound(t *testing.T) {
	ctx := context.Background()
	p := &Platform{store: &store.Files{Dir: t.TempDir()}}
	none, own := &App{}, &App{StopTimeoutSeconds: 4}
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("default stop", p.stopTimeout(none), DefaultStopTimeoutSeconds*time.Second)
	if err := p.SetGlobalStopTimeout(ctx, 12); err != nil {
		t.Fatal(err)
	}
	off, err := p.AutocreationDisabled(ctx)
	check("autocreation off by default", off, false)
	if err != nil {
		t.Fatal(err)
	}
	if err := p.SetDisableAutocreation(ctx, true); err != nil {
		t.Fatal(err)
	}
	off, _ = p.AutocreationDisabled(ctx)
	check("autocreation off", off, true)
	check("global stop", p.stopTimeout(none), 12*time.Second)
	check("own stop", p.stopTimeout(own), 4*time.Second)
	for _, bad := range []error{
		p.SetGlobalStopTimeout(ctx, 3601),
	} {
		if bad == nil {
			t.Error("a bad global value was taken")
		}
	}
	p.SetGlobalStopTimeout(ctx, 0)
	p.SetDisableAutocreation(ctx, false)
	check("cleared stop", p.stopTimeout(none), DefaultStopTimeoutSeconds*time.Second)
	off, _ = p.AutocreationDisabled(ctx)
	check("autocreation cleared", off, false)
}

// A global dockerfile-path is used only by sources that have that file;
// the others keep their root Dockerfile. An app's own path is used
// whether or not it is there (its build then fails naming the setting).
func TestGlobalDockerfilePathOnlyWhereTheFileIs(t *testing.T) {
	ctx := context.Background()
	global := AppBuildSettings{DockerfilePath: "docker/web.Dockerfile", GlobalDockerfilePath: true}
	root := builder.Files{"Dockerfile": "FROM x"}
	both := builder.Files{"Dockerfile": "FROM x", "docker/web.Dockerfile": "FROM y"}
	for _, c := range []struct {
		s          AppBuildSettings
		src        builder.Files
		want, note string
	}{
		{global, root, "", "the global dockerfile-path docker/web.Dockerfile is not in this source: building its root Dockerfile"},
		{global, both, "docker/web.Dockerfile", "building docker/web.Dockerfile, the global dockerfile-path"},
		{AppBuildSettings{DockerfilePath: "own.Dockerfile"}, root, "own.Dockerfile", ""},
	} {
		file, note, err := dockerfileFor(ctx, c.s, c.src)
		if err != nil || file != c.want || note != c.note {
			t.Errorf("%+v with %q: got %q, %q, %v; want %q, %q", c.s, c.src, file, note, err, c.want, c.note)
		}
	}
}
