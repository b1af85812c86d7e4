package deploy

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/platform"
)

// A build cancelled with builds:cancel is recorded canceled (Dokku's
// status), and the retention it is given is what finish keeps.
func TestBuildFinishCanceledAndRetention(t *testing.T) {
	s := Builds{dir: t.TempDir()}
	for i := range 4 {
		b, err := s.begin(platform.Build{App: "blog", Reason: "push", Started: time.Now().UTC()})
		if err != nil {
			t.Fatal(err)
		}
		var deployErr error
		if i == 3 {
			deployErr = platform.CancelledError(platform.ErrBuildCanceled, "the build")
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
	if builds[0].Status != platform.BuildCanceled || builds[1].Status != "succeeded" {
		t.Fatalf("statuses %q %q", builds[0].Status, builds[1].Status)
	}
}

// CancelDeploy cancels the registered deploy with platform.ErrBuildCanceled and
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
	d.cancel(platform.ErrBuildCanceled)
	<-d.done
	if !errors.Is(context.Cause(ctx), platform.ErrBuildCanceled) {
		t.Fatalf("cause %v", context.Cause(ctx))
	}
	if r.get("blog") != nil {
		t.Fatal("the ended deploy is still registered")
	}
	err := platform.CancelledError(context.Cause(ctx), "the port wait")
	if !errors.Is(err, platform.ErrBuildCanceled) || err.Error() != "cancelled with builds:cancel during the port wait; nothing of the cancelled deploy is left, and the previous release keeps serving" {
		t.Fatalf("error %q", err)
	}
}

// A global dockerfile-path is used only by sources that have that file;
// the others keep their root Dockerfile. An app's own path is used
// whether or not it is there (its build then fails naming the setting).
func TestGlobalDockerfilePathOnlyWhereTheFileIs(t *testing.T) {
	ctx := context.Background()
	global := platform.AppBuildSettings{DockerfilePath: "docker/web.Dockerfile", GlobalDockerfilePath: true}
	root := builder.Files{"Dockerfile": "FROM x"}
	both := builder.Files{"Dockerfile": "FROM x", "docker/web.Dockerfile": "FROM y"}
	for _, c := range []struct {
		s          platform.AppBuildSettings
		src        builder.Files
		want, note string
	}{
		{global, root, "", "the global dockerfile-path docker/web.Dockerfile is not in this source: building its root Dockerfile"},
		{global, both, "docker/web.Dockerfile", "building docker/web.Dockerfile, the global dockerfile-path"},
		{platform.AppBuildSettings{DockerfilePath: "own.Dockerfile"}, root, "own.Dockerfile", ""},
	} {
		file, note, err := dockerfileFor(ctx, c.s, c.src)
		if err != nil || file != c.want || note != c.note {
			t.Errorf("%+v with %q: got %q, %q, %v; want %q, %q", c.s, c.src, file, note, err, c.want, c.note)
		}
	}
}
