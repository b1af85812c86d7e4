package platform_test

// The platform's side of a push and of the repositories following the
// apps (package repo), against the fake engine and real git on a temp
// dir. A push that deploys builds an image, which the fake engine does
// not; tests/ covers it end to end (push.txtar, builds_git.txtar).

import (
	"bytes"
	"context"
	"errors"
	"os"
	"os/exec"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/repo"
)

const (
	zeroRev = "0000000000000000000000000000000000000000"
	someRev = "1111111111111111111111111111111111111111"
)

// gitDir runs git on the bare repository dir and returns its output.
func gitDir(t *testing.T, dir string, args ...string) string {
	t.Helper()
	cmd := exec.Command("git", append([]string{"--git-dir", dir}, args...)...)
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+t.TempDir(),
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return strings.TrimSpace(string(out))
}

// withBranch gives app a repository whose branch main holds one commit,
// and returns the commit.
func (b *bed) withBranch(app string) string {
	b.t.Helper()
	repos := b.p.Repos()
	if err := repos.Create(app, "main"); err != nil {
		b.t.Fatal(err)
	}
	dir := repos.Path(app)
	tree := gitDir(b.t, dir, "mktree")
	rev := gitDir(b.t, dir, "commit-tree", "-m", "one", tree)
	gitDir(b.t, dir, "update-ref", "refs/heads/main", rev)
	return rev
}

func TestPushOfAnotherBranchIsStoredNotDeployed(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.d.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Image: "app:v1", Branch: "master", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	b.withBranch("blog") // HEAD names main
	var out bytes.Buffer
	err := b.d.Push(b.ctx, "blog", []repo.RefUpdate{{Old: zeroRev, New: someRev, Ref: "refs/heads/feature"}}, nil, &out)
	if err != nil {
		t.Fatal(err)
	}
	if want := "-----> refs/heads/feature stored; pushes to master deploy blog\n"; out.String() != want {
		t.Fatalf("push said %q, want %q", out.String(), want)
	}
	a, _ := b.p.App(b.ctx, "blog")
	if len(a.Releases) != 1 {
		t.Fatalf("the push of a feature branch made %d releases", len(a.Releases))
	}
	// Whatever it did, a push leaves HEAD naming the deploy branch.
	if head := gitDir(t, b.p.Repos().Path("blog"), "symbolic-ref", "HEAD"); head != "refs/heads/master" {
		t.Fatalf("HEAD after the push: %s", head)
	}
}

func TestPushThatDeletesTheDeployBranchIsRefused(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.d.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Image: "app:v1", Branch: "main", Reason: "test"}); err != nil {
		t.Fatal(err)
	}
	rev := b.withBranch("blog")
	var out bytes.Buffer
	err := b.d.Push(b.ctx, "blog", []repo.RefUpdate{{Old: rev, New: zeroRev, Ref: "refs/heads/main"}}, nil, &out)
	if err == nil || !strings.Contains(err.Error(), "it is the deploy branch") {
		t.Fatalf("deleting the deploy branch: %v", err)
	}
}

func TestPushToAnAppThatDoesNotExistIsAnError(t *testing.T) {
	b := newBed(t)
	err := b.d.Push(b.ctx, "ghost", []repo.RefUpdate{{Old: zeroRev, New: someRev, Ref: "refs/heads/main"}}, nil, &bytes.Buffer{})
	if err == nil {
		t.Fatal("a push to an app with no record was accepted")
	}
}

func TestRepositoryFollowsRenameCloneAndDestroy(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	rev := b.withBranch("blog")
	repos := b.p.Repos()
	if err := platform.NewRenamer(b.p).Clone(b.ctx, "blog", "copy", nil); err != nil {
		t.Fatal(err)
	}
	if err := platform.NewRenamer(b.p).Rename(b.ctx, "blog", "journal", nil); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"copy", "journal"} {
		if got, err := repos.BranchHead(b.ctx, app, "main"); got != rev || err != nil {
			t.Fatalf("main of %s: %q, %v", app, got, err)
		}
	}
	if ok, _ := repos.Exists("blog"); ok {
		t.Fatal("the renamed app's old repository is still there")
	}
	if err := b.p.Destroy(b.ctx, "journal"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := repos.Exists("journal"); ok {
		t.Fatal("the destroyed app's repository is still there")
	}
	if ok, _ := repos.Exists("copy"); !ok {
		t.Fatal("destroying journal took its clone's repository")
	}
}

// A rename takes the app's build history along; an app created later
// under the old name starts with none (its deploy keys must not read the
// renamed app's build logs).
func TestBuildsFollowARenameAndANewAppOfTheOldNameHasNone(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	before, err := b.d.Builds(b.ctx, "blog")
	if err != nil || len(before) == 0 {
		t.Fatalf("builds of blog: %v, %v", before, err)
	}
	if err := platform.NewRenamer(b.p).Rename(b.ctx, "blog", "journal", nil); err != nil {
		t.Fatal(err)
	}
	after, err := b.d.Builds(b.ctx, "journal")
	if err != nil || len(after) != len(before) {
		t.Fatalf("builds of journal after the rename: %v, %v (blog had %d)", after, err, len(before))
	}
	for _, bd := range after {
		if bd.App != "journal" {
			t.Errorf("build %d still names app %q", bd.ID, bd.App)
		}
	}
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if bs, err := b.d.Builds(b.ctx, "blog"); err != nil || len(bs) != 0 {
		t.Fatalf("the new blog has builds: %v, %v", bs, err)
	}
}

// A clone or rename that fails drops its new app as a destroy does: what
// must not outlive an app (the OnAppDestroying hooks: a deploy key added
// for the new name meanwhile) goes with it.
func TestAFailedCloneDropsItsNewAppAsADestroyDoes(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	var destroying []string
	b.p.Hooks().OnAppDestroying(func(_ context.Context, app string) error {
		destroying = append(destroying, app)
		return nil
	})
	b.p.Hooks().OnAppCloneSetup(func(context.Context, string, string) error { return errors.New("setup failed") })
	if err := platform.NewRenamer(b.p).Clone(b.ctx, "blog", "copy", nil); err == nil {
		t.Fatal("the clone succeeded although its setup failed")
	}
	if !slices.Equal(destroying, []string{"copy"}) {
		t.Fatalf("OnAppDestroying ran for %v, want [copy]", destroying)
	}
	if ok, _ := b.p.Exists(b.ctx, "copy"); ok {
		t.Fatal("the failed clone's app is still there")
	}
}

// A rename keeps who set the app's resource limits: limits its deploy key
// set stay the key's to change (an empty SetBy would count as an admin's).
func TestRenameKeepsWhoSetTheResourceLimits(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.p.UpdateApp(b.ctx, "blog", func(a *platform.App) error {
		a.Resources = platform.ResourceSettings{Limits: map[string]platform.Resources{"web": {Memory: "256m"}}, SetBy: "deploy key"}
		return nil
	}); err != nil {
		t.Fatal(err)
	}
	if err := platform.NewRenamer(b.p).Rename(b.ctx, "blog", "journal", nil); err != nil {
		t.Fatal(err)
	}
	a, err := b.p.App(b.ctx, "journal")
	if err != nil {
		t.Fatal(err)
	}
	if a.Resources.SetBy != "deploy key" || a.Resources.Limits["web"].Memory != "256m" {
		t.Errorf("resources after the rename: %+v", a.Resources)
	}
}
