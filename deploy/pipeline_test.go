package deploy

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/repo"
)

// newPipeline is a deployer with repositories and build records under a
// temporary directory, over the fake core and engine.
func newPipeline(t *testing.T, apps *fakeApps) (*Deployer, *Builds) {
	t.Helper()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	dir := t.TempDir()
	builds := NewBuilds(dir + "/builds")
	return New(Config{Apps: apps, Globals: fakeGlobals{}, Engine: engine, Scheduler: fakeScheduler{apps: apps},
		Repos: repo.New(dir+"/repos", nil), Builds: builds}), builds
}

const rev = "0123456789abcdef0123456789abcdef01234567"

// A push of a branch that is not the deploy branch is stored and says
// so; nothing is built or rolled out, and no build is recorded.
func TestPushOfAnotherBranchIsOnlyStored(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog", DeployBranch: "main"})
	d, builds := newPipeline(t, apps)
	var out strings.Builder
	err := d.Push(context.Background(), "blog", []repo.RefUpdate{{Old: strings.Repeat("0", 40), New: rev, Ref: "refs/heads/feature"}}, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "-----> refs/heads/feature stored; pushes to main deploy blog\n"; out.String() != want {
		t.Fatalf("push said %q, want %q", out.String(), want)
	}
	if len(apps.rollouts) != 0 {
		t.Fatalf("rolled out %v", apps.rollouts)
	}
	if bs, err := builds.list("blog"); err != nil || len(bs) != 0 {
		t.Fatalf("builds %v, %v", bs, err)
	}
}

// A push that deletes the deploy branch is refused, with the reason.
func TestPushDeletingTheDeployBranchIsRefused(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog", DeployBranch: "main"})
	d, _ := newPipeline(t, apps)
	err := d.Push(context.Background(), "blog", []repo.RefUpdate{{Old: rev, New: strings.Repeat("0", 40), Ref: "refs/heads/main"}}, nil, io.Discard)
	if err == nil || !strings.Contains(err.Error(), "it is the deploy branch") {
		t.Fatalf("deleting the deploy branch: %v", err)
	}
}

// A locked app (apps:lock) refuses a deploy before anything is recorded:
// no attempt on the record, no build.
func TestDeployRefusesALockedApp(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog", Locked: true})
	d, builds := newPipeline(t, apps)
	_, err := d.DeployImage(context.Background(), "blog", "busybox", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "apps:unlock blog") {
		t.Fatalf("deploy of a locked app: %v", err)
	}
	if apps.saves != 0 {
		t.Fatalf("%d saves of the record", apps.saves)
	}
	if bs, _ := builds.list("blog"); len(bs) != 0 {
		t.Fatalf("builds %v", bs)
	}
}

// git:from-image refuses what is not an image reference before it takes
// the app's lock: a running deploy does not hide the mistake.
func TestDeployImageRefusesABadReferenceFirst(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog"})
	apps.busy["blog"] = "a deploy"
	d, _ := newPipeline(t, apps)
	_, err := d.DeployImage(context.Background(), "blog", "a;b", io.Discard)
	if err == nil || errors.Is(err, platform.ErrBusy) || !strings.Contains(err.Error(), "not an image reference") {
		t.Fatalf("a bad reference: %v", err)
	}
}

// builds:cancel with no deploy under way says so and waits for nothing.
func TestCancelWithNoDeployUnderWay(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog"})
	d, _ := newPipeline(t, apps)
	if d.Deploying("blog") {
		t.Fatal("blog is deploying")
	}
	if _, running, err := d.CancelDeploy(context.Background(), "blog"); running || err != nil {
		t.Fatalf("cancel: running %v, %v", running, err)
	}
}

// A deploy that fails records its outcome on the app's record through the
// core's save (the one writer of app records), on a fresh copy of the
// record: what the failed rollout had changed of its copy (a release
// appended, the deploy branch) is not written.
func TestFailedDeployRecordsItsOutcomeThroughTheCore(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog", Config: map[string]string{"K": "v"}})
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	engine.AddImage("example.test/app:1", fakeengine.Image{ID: "sha256:one", Port: 5000})
	dir := t.TempDir()
	d := New(Config{Apps: apps, Globals: fakeGlobals{}, Engine: engine, Scheduler: failingScheduler{},
		Repos: repo.New(dir+"/repos", nil), Builds: NewBuilds(dir + "/builds")})
	_, err := d.DeployImage(context.Background(), "blog", "example.test/app:1", io.Discard)
	if err == nil || !strings.Contains(err.Error(), "the rollout failed on purpose") {
		t.Fatalf("the deploy whose rollout fails: %v", err)
	}
	a, _ := apps.App(context.Background(), "blog")
	if a.LastDeploy == nil || a.LastDeploy.Status != "failed" || a.LastDeploy.Error == "" || a.LastDeploy.Finished.IsZero() {
		t.Fatalf("last deploy %+v", a.LastDeploy)
	}
	if a.Config["K"] != "v" || len(a.Releases) != 0 || a.DeployBranch != "" {
		t.Fatalf("record after the failed deploy: config %v, releases %v, deploy branch %q", a.Config, a.Releases, a.DeployBranch)
	}
}

// failingScheduler's rollout changes the app's copy, as a rollout does
// before it saves, and then fails without saving.
type failingScheduler struct{ platform.Scheduler }

func (failingScheduler) Rollout(_ context.Context, a *platform.App, rel platform.Release, _ io.Writer) error {
	a.Releases = append(a.Releases, rel)
	a.DeployBranch = "changed-by-the-failed-rollout"
	return errors.New("the rollout failed on purpose")
}
