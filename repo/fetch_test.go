package repo

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// gitIn runs git in dir and returns its trimmed output.
func gitIn(t *testing.T, dir string, args ...string) string {
	t.Helper()
	out, err := gitOut(dir, args...)
	if err != nil {
		t.Fatalf("git %s: %v\n%s", strings.Join(args, " "), err, out)
	}
	return out
}

// gitOut runs git in dir, with no configuration of the machine's, and
// returns its trimmed output.
func gitOut(dir string, args ...string) (string, error) {
	cmd := exec.Command("git", args...)
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GIT_CONFIG_NOSYSTEM=1", "HOME="+dir,
		"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
	out, err := cmd.CombinedOutput()
	return strings.TrimSpace(string(out)), err
}

func commit(t *testing.T, dir, msg string) string {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "file"), []byte(msg), 0o644); err != nil {
		t.Fatal(err)
	}
	gitIn(t, dir, "add", "file")
	gitIn(t, dir, "commit", "-q", "-m", msg)
	return gitIn(t, dir, "rev-parse", "HEAD")
}

func TestFetchCommit(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	up := filepath.Join(root, "upstream")
	gitIn(t, root, "init", "-q", "-b", "trunk", up)
	first := commit(t, up, "first")
	gitIn(t, up, "tag", "-a", "-m", "release one", "v1")
	second := commit(t, up, "second")
	gitIn(t, up, "checkout", "-q", "-b", "feature")
	feature := commit(t, up, "feature")
	gitIn(t, up, "checkout", "-q", "trunk")
	hidden := func() string { // a commit no ref of upstream reaches
		gitIn(t, up, "checkout", "-q", "-b", "scratch")
		c := commit(t, up, "scratch")
		gitIn(t, up, "checkout", "-q", "trunk")
		gitIn(t, up, "branch", "-q", "-D", "scratch")
		return c
	}()

	s := New(filepath.Join(root, "repos"), nil)
	if err := s.Create("app", "main"); err != nil {
		t.Fatal(err)
	}
	repo := s.Path("app")
	if head := gitIn(t, root, "--git-dir", repo, "symbolic-ref", "HEAD"); head != "refs/heads/main" {
		t.Fatalf("HEAD of a new repository: %s", head)
	}
	for _, tc := range []struct{ url, ref, want string }{
		{up, "", second},                     // the default branch (trunk)
		{"file://" + up, "feature", feature}, // a branch
		{up, "v1", first},                    // an annotated tag, peeled
		{up, "refs/heads/feature", feature},
		{up, first[:10], first}, // a commit by hash
	} {
		got, err := fetchCommit(ctx, repo, tc.url, tc.ref)
		if err != nil {
			t.Fatalf("fetch %s %q: %v", tc.url, tc.ref, err)
		}
		if got != tc.want {
			t.Errorf("fetch %s %q = %s, want %s", tc.url, tc.ref, got, tc.want)
		}
	}
	// Fetching moves no branch and leaves no temporary ref behind.
	if refs := gitIn(t, root, "--git-dir", repo, "for-each-ref"); refs != "" {
		t.Fatalf("refs after fetches:\n%s", refs)
	}

	for _, tc := range []struct{ url, ref, want string }{
		{up, "nope", `has no branch or tag "nope" (its branches: feature, trunk)`},
		{up, hidden, "no branch or tag of " + up + " contains a commit " + hidden},
		{filepath.Join(root, "missing"), "", "cannot read the repository at"},
	} {
		_, err := fetchCommit(ctx, repo, tc.url, tc.ref)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("fetch %s %q: error %v, want it to say %q", tc.url, tc.ref, err, tc.want)
		}
	}
	empty := filepath.Join(root, "empty")
	gitIn(t, root, "init", "-q", "--bare", empty)
	if _, err := fetchCommit(ctx, repo, empty, ""); err == nil || !strings.Contains(err.Error(), "is empty") {
		t.Errorf("fetch from an empty repository: %v", err)
	}

	// Once deployed, the branch names the commit and HEAD the branch.
	if err := s.SetBranch("app", "main", feature); err != nil {
		t.Fatal(err)
	}
	got, err := s.BranchHead(ctx, "app", "main")
	if err != nil || got != feature {
		t.Fatalf("main after SetBranch: %s, %v", got, err)
	}
	if head := gitIn(t, root, "--git-dir", repo, "symbolic-ref", "HEAD"); head != "refs/heads/main" {
		t.Fatalf("HEAD after SetBranch: %s", head)
	}
	if got, err := s.BranchHead(ctx, "app", "gone"); err != nil || got != "" {
		t.Fatalf("a missing branch resolves to %q, %v", got, err)
	}
}

func TestValidRemote(t *testing.T) {
	for _, ok := range []string{"/srv/git/app", "file:///srv/git/app", "https://example.com/a.git", "ssh://git@example.com/a", "git@example.com:team/app.git"} {
		if err := validRemote(ok); err != nil {
			t.Errorf("validRemote(%q): %v", ok, err)
		}
	}
	for _, bad := range []string{"", "relative/path", "--upload-pack=evil", "app"} {
		if err := validRemote(bad); err == nil {
			t.Errorf("validRemote(%q) accepted it", bad)
		}
	}
}
