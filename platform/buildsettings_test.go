package platform

import (
	"context"
	"errors"
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

func TestCheckRetention(t *testing.T) {
	deployKey := AsDeployKey(context.Background())
	for _, c := range []struct {
		ctx context.Context
		n   int
		ok  bool
	}{
		{context.Background(), 1, true},
		{context.Background(), MaxBuildRetention, true},
		{context.Background(), MaxBuildRetention + 1, false},
		{context.Background(), 0, false},
		{context.Background(), -1, false},
		{deployKey, KeepBuilds, true},
		{deployKey, KeepBuilds + 1, false},
	} {
		if err := checkRetention(c.ctx, c.n); (err == nil) != c.ok {
			t.Errorf("checkRetention(%d) = %v, want ok %t", c.n, err, c.ok)
		}
	}
}

// The global settings of this round: each app's own wins, then the
// global one, then the default; and each clears back.
func TestGlobalSettingsOfThisRound(t *testing.T) {
	ctx := context.Background()
	p := &Platform{store: &store.Files{Dir: t.TempDir()}}
	none, own := &App{}, &App{DeployBranch: "main", DockerfilePath: "own.Dockerfile", BuildRetention: 3}
	check := func(what string, got, want any) {
		t.Helper()
		if got != want {
			t.Errorf("%s = %v, want %v", what, got, want)
		}
	}
	check("default branch", p.deployBranchOf(ctx, none), "")
	check("default dockerfile", p.dockerfilePathOf(ctx, none), "")
	check("default retention", p.buildRetention(ctx, none), KeepBuilds)
	if err := p.SetGlobalDeployBranch(ctx, "prod"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetGlobalDockerfilePath(ctx, "./g/Dockerfile"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetGlobalBuildRetention(ctx, 7); err != nil {
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
	check("global branch", p.deployBranchOf(ctx, none), "prod")
	check("global dockerfile", p.dockerfilePathOf(ctx, none), "g/Dockerfile")
	check("global retention", p.buildRetention(ctx, none), 7)
	check("own branch", p.deployBranchOf(ctx, own), "main")
	check("own dockerfile", p.dockerfilePathOf(ctx, own), "own.Dockerfile")
	check("own retention", p.buildRetention(ctx, own), 3)
	for _, bad := range []error{
		p.SetGlobalDeployBranch(ctx, "bad..name"),
		p.SetGlobalDockerfilePath(ctx, "../x"),
		p.SetGlobalBuildRetention(ctx, MaxBuildRetention+1),
	} {
		if bad == nil {
			t.Error("a bad global value was taken")
		}
	}
	check("branch kept", p.deployBranchOf(ctx, none), "prod")
	p.SetGlobalDeployBranch(ctx, "")
	p.SetGlobalDockerfilePath(ctx, "")
	p.SetGlobalBuildRetention(ctx, 0)
	p.SetDisableAutocreation(ctx, false)
	check("cleared branch", p.deployBranchOf(ctx, none), "")
	check("cleared dockerfile", p.dockerfilePathOf(ctx, none), "")
	check("cleared retention", p.buildRetention(ctx, none), KeepBuilds)
	off, _ = p.AutocreationDisabled(ctx)
	check("autocreation cleared", off, false)
}

// A global dockerfile-path is used only by sources that have that file;
// the others keep their root Dockerfile. An app's own path is used
// whether or not it is there (its build then fails naming the setting).
func TestGlobalDockerfilePathOnlyWhereTheFileIs(t *testing.T) {
	ctx := context.Background()
	p := &Platform{store: &store.Files{Dir: t.TempDir()}}
	if err := p.SetGlobalDockerfilePath(ctx, "docker/web.Dockerfile"); err != nil {
		t.Fatal(err)
	}
	root := builder.Files{"Dockerfile": "FROM x"}
	both := builder.Files{"Dockerfile": "FROM x", "docker/web.Dockerfile": "FROM y"}
	for _, c := range []struct {
		a          *App
		src        builder.Files
		want, note string
	}{
		{&App{}, root, "", "the global dockerfile-path docker/web.Dockerfile is not in this source: building its root Dockerfile"},
		{&App{}, both, "docker/web.Dockerfile", "building docker/web.Dockerfile, the global dockerfile-path"},
		{&App{DockerfilePath: "own.Dockerfile"}, root, "own.Dockerfile", ""},
	} {
		file, note, err := p.dockerfileFor(ctx, c.a, c.src)
		if err != nil || file != c.want || note != c.note {
			t.Errorf("%v with %q: got %q, %q, %v; want %q, %q", c.a.DockerfilePath, c.src, file, note, err, c.want, c.note)
		}
	}
}

// OwnDeployBranches names the apps git:set --global deploy-branch does
// not reach.
func TestOwnDeployBranches(t *testing.T) {
	ctx := context.Background()
	p := &Platform{store: &store.Files{Dir: t.TempDir()}}
	for _, a := range []*App{{Name: "a", DeployBranch: "main"}, {Name: "b"}, {Name: "c", DeployBranch: "master"}} {
		if err := saveApp(ctx, p.store, a); err != nil {
			t.Fatal(err)
		}
	}
	own, err := p.OwnDeployBranches(ctx)
	if err != nil || len(own) != 2 || own["a"] != "main" || own["c"] != "master" {
		t.Fatalf("own = %v, %v", own, err)
	}
}
