package repo

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// storeWithCommit returns a store whose app "blog" has a branch main
// holding one commit with a Dockerfile, and that commit.
func storeWithCommit(t *testing.T) (*Store, string) {
	t.Helper()
	root := t.TempDir()
	work := filepath.Join(root, "work")
	gitIn(t, root, "init", "-q", "-b", "main", work)
	if err := os.WriteFile(filepath.Join(work, "Dockerfile"), []byte("FROM scratch\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, work, "add", "Dockerfile")
	gitIn(t, work, "commit", "-q", "-m", "one")
	rev := gitIn(t, work, "rev-parse", "HEAD")
	s := New(filepath.Join(root, "repos"), nil)
	if err := s.Create("blog", "main"); err != nil {
		t.Fatal(err)
	}
	// Fetched into, not pushed to: the hook refuses pushes that do not
	// come through Berth (TestHookRefuses...).
	gitIn(t, root, "--git-dir", s.Path("blog"), "fetch", "-q", work, "main:main")
	return s, rev
}

func TestCreateInstallsTheHookAndNamesTheBranch(t *testing.T) {
	s := New(t.TempDir(), nil)
	if err := s.Create("blog", "master"); err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, s.dir, "--git-dir", s.Path("blog"), "symbolic-ref", "HEAD"); got != "refs/heads/master" {
		t.Fatalf("HEAD of a new repository: %s", got)
	}
	hook := filepath.Join(s.Path("blog"), "hooks", "pre-receive")
	info, err := os.Stat(hook)
	if err != nil || info.Mode().Perm()&0o111 == 0 {
		t.Fatalf("pre-receive hook: %v, %v", info, err)
	}
	// A second Create keeps the repository and rewrites an old hook.
	os.WriteFile(hook, []byte("#!/bin/sh\nexit 0\n"), 0o755)
	if err := s.Create("blog", "main"); err != nil {
		t.Fatal(err)
	}
	if b, _ := os.ReadFile(hook); string(b) != preReceiveScript {
		t.Fatalf("the hook was not reinstalled:\n%s", b)
	}
	if got := gitIn(t, s.dir, "--git-dir", s.Path("blog"), "symbolic-ref", "HEAD"); got != "refs/heads/master" {
		t.Fatalf("Create of an existing repository moved HEAD to %s", got)
	}
}

func TestHookRefusesAPushThatDoesNotComeThroughBerth(t *testing.T) {
	s, _ := storeWithCommit(t)
	work := filepath.Join(filepath.Dir(s.dir), "work")
	commit(t, work, "two")
	out, err := gitOut(work, "push", s.Path("blog"), "main")
	if err == nil || !strings.Contains(out, "push through Berth's SSH server") {
		t.Fatalf("a plain push was accepted (%v):\n%s", err, out)
	}
}

func TestExistsAndRemove(t *testing.T) {
	s, _ := storeWithCommit(t)
	if ok, err := s.Exists("blog"); !ok || err != nil {
		t.Fatalf("Exists(blog) = %v, %v", ok, err)
	}
	if ok, err := s.Exists("shop"); ok || err != nil {
		t.Fatalf("Exists(shop) = %v, %v", ok, err)
	}
	if err := s.Remove("blog"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists("blog"); ok {
		t.Fatal("the repository is still there")
	}
	if err := s.Remove("blog"); err != nil {
		t.Fatalf("removing a missing repository: %v", err)
	}
}

func TestRenameMovesTheHistory(t *testing.T) {
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	if err := s.Rename("blog", "journal"); err != nil {
		t.Fatal(err)
	}
	if ok, _ := s.Exists("blog"); ok {
		t.Fatal("the old repository is still there")
	}
	if got, err := s.BranchHead(ctx, "journal", "main"); got != rev || err != nil {
		t.Fatalf("main of the renamed repository: %q, %v", got, err)
	}
	if err := s.Rename("nothing", "else"); err != nil {
		t.Fatalf("renaming a missing repository: %v", err)
	}
}

func TestCopyKeepsBothHistories(t *testing.T) {
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	if err := s.Copy(ctx, "blog", "blog2"); err != nil {
		t.Fatal(err)
	}
	for _, app := range []string{"blog", "blog2"} {
		if got, err := s.BranchHead(ctx, app, "main"); got != rev || err != nil {
			t.Fatalf("main of %s: %q, %v", app, got, err)
		}
	}
	if _, err := os.Stat(filepath.Join(s.Path("blog2"), "hooks", "pre-receive")); err != nil {
		t.Fatalf("the copy has no hook: %v", err)
	}
}

func TestAnEmptyRepositoryInTheWayIsReplaced(t *testing.T) {
	// A push that reached the new name while a rename was under way made
	// an empty repository there; the rename takes its place.
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	if err := s.Create("journal", "main"); err != nil {
		t.Fatal(err)
	}
	if err := s.Rename("blog", "journal"); err != nil {
		t.Fatal(err)
	}
	if got, _ := s.BranchHead(ctx, "journal", "main"); got != rev {
		t.Fatalf("main of journal: %q", got)
	}
}

func TestARepositoryWithBranchesIsNeverOverwritten(t *testing.T) {
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	if err := s.Copy(ctx, "blog", "shop"); err != nil {
		t.Fatal(err)
	}
	if err := s.SetBranch("blog", "main", strings.Repeat("0", 39)+"1"); err != nil {
		t.Fatal(err)
	}
	for name, move := range map[string]func() error{
		"Rename": func() error { return s.Rename("blog", "shop") },
		"Copy":   func() error { return s.Copy(ctx, "blog", "shop") },
	} {
		if err := move(); err == nil || !strings.Contains(err.Error(), "already holds a repository") {
			t.Fatalf("%s onto a repository with branches: %v", name, err)
		}
	}
	if got, _ := s.BranchHead(ctx, "shop", "main"); got != rev {
		t.Fatalf("main of shop changed to %q", got)
	}
}

// life records the hooks Follow registers, as the platform would hold them.
type life struct {
	destroyed []func(context.Context, string)
	renamed   []func(context.Context, string, string)
	cloned    []func(context.Context, string, string)
}

func (l *life) OnAppDestroyed(f func(context.Context, string)) { l.destroyed = append(l.destroyed, f) }
func (l *life) OnAppRenamed(f func(context.Context, string, string)) {
	l.renamed = append(l.renamed, f)
}
func (l *life) OnAppCloned(f func(context.Context, string, string)) { l.cloned = append(l.cloned, f) }

func TestFollowTracksTheAppsLife(t *testing.T) {
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	var l life
	s.Follow(&l)
	if len(l.destroyed) != 1 || len(l.renamed) != 1 || len(l.cloned) != 1 {
		t.Fatalf("Follow registered %d/%d/%d hooks", len(l.destroyed), len(l.renamed), len(l.cloned))
	}
	l.cloned[0](ctx, "blog", "copy")
	l.renamed[0](ctx, "blog", "journal")
	for _, app := range []string{"copy", "journal"} {
		if got, _ := s.BranchHead(ctx, app, "main"); got != rev {
			t.Fatalf("main of %s after clone and rename: %q", app, got)
		}
	}
	l.destroyed[0](ctx, "journal")
	for app, want := range map[string]bool{"blog": false, "journal": false, "copy": true} {
		if ok, _ := s.Exists(app); ok != want {
			t.Errorf("Exists(%s) = %v, want %v", app, ok, want)
		}
	}
}

func TestCommitIsTheBuildSourceOfARev(t *testing.T) {
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	src := s.Commit("blog", rev, nil)
	if b, ok, err := src.ReadFile(ctx, "Dockerfile"); !ok || err != nil || string(b) != "FROM scratch\n" {
		t.Fatalf("Dockerfile: %q, %v, %v", b, ok, err)
	}
	rc, err := src.Archive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
	if !slices.Contains(names, "Dockerfile") {
		t.Fatalf("archive holds %q", names)
	}
}

func TestResolve(t *testing.T) {
	ctx := context.Background()
	s, rev := storeWithCommit(t)
	for _, r := range []string{"main", "refs/heads/main", rev[:8], "HEAD"} {
		if got, err := s.Resolve(ctx, "blog", r); got != rev || err != nil {
			t.Errorf("Resolve(%q) = %q, %v", r, got, err)
		}
	}
	for _, r := range []string{"nope", "refs/heads/gone", strings.Repeat("e", 40), "--all"} {
		if got, err := s.Resolve(ctx, "blog", r); got != "" || err != nil {
			t.Errorf("Resolve(%q) = %q, %v; want nothing", r, got, err)
		}
	}
}

func TestPointHeadAndSize(t *testing.T) {
	s, _ := storeWithCommit(t)
	if err := s.PointHead("blog", "master"); err != nil {
		t.Fatal(err)
	}
	if got := gitIn(t, s.dir, "--git-dir", s.Path("blog"), "symbolic-ref", "HEAD"); got != "refs/heads/master" {
		t.Fatalf("HEAD: %s", got)
	}
	if n, err := s.Size("blog"); n <= 0 || err != nil {
		t.Fatalf("Size(blog) = %d, %v", n, err)
	}
	if n, err := s.Size("none"); n != 0 || err != nil {
		t.Fatalf("Size(none) = %d, %v", n, err)
	}
}

func TestQuarantineEnvKeepsOnlyGitsQuarantine(t *testing.T) {
	got := QuarantineEnv([]string{"GIT_OBJECT_DIRECTORY=/q/objects", "GIT_DIR=/etc", "LD_PRELOAD=/x.so", "GIT_QUARANTINE_PATH=/q", "GIT_ALTERNATE_OBJECT_DIRECTORIES=/r"})
	want := []string{"GIT_OBJECT_DIRECTORY=/q/objects", "GIT_QUARANTINE_PATH=/q", "GIT_ALTERNATE_OBJECT_DIRECTORIES=/r"}
	if !slices.Equal(got, want) {
		t.Fatalf("QuarantineEnv kept %q", got)
	}
}
