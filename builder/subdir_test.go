package builder

import (
	"archive/tar"
	"context"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func TestValidBuildDir(t *testing.T) {
	for _, ok := range []string{"app", "apps/web", "a.b", "-x"} {
		if err := ValidBuildDir(ok); err != nil {
			t.Errorf("ValidBuildDir(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", ".", "/etc", "..", "../x", "a/../b", "a/", "a//b", "a\nb"} {
		if err := ValidBuildDir(bad); err == nil {
			t.Errorf("ValidBuildDir(%q) accepted it", bad)
		}
	}
}

func TestSubdirFiles(t *testing.T) {
	ctx := context.Background()
	src := Files{"Dockerfile": "root", "web/Dockerfile": "web", "web/index.html": "hi", "webx/other": "x"}
	sub, err := Subdir(ctx, src, "web")
	if err != nil {
		t.Fatal(err)
	}
	if data, ok, _ := sub.ReadFile(ctx, "Dockerfile"); !ok || string(data) != "web" {
		t.Errorf("Dockerfile = %q, %v; want the directory's", data, ok)
	}
	if len(sub.(Files)) != 2 {
		t.Errorf("sub = %v; want web's two files only", sub)
	}
	if _, err := Subdir(ctx, src, "api"); err == nil || !strings.Contains(err.Error(), "has no directory api") {
		t.Errorf("missing dir: err = %v", err)
	}
}

// TestSubdirGitCommit builds a real repository: the directory's archive
// and files are the build's root, and a directory the commit lacks is
// refused.
func TestSubdirGitCommit(t *testing.T) {
	if _, err := exec.LookPath("git"); err != nil {
		t.Fatal("git is required")
	}
	ctx := context.Background()
	work := t.TempDir()
	for name, content := range map[string]string{"Dockerfile": "root", "apps/web/Dockerfile": "web", "apps/web/src/main.go": "package main"} {
		p := filepath.Join(work, name)
		os.MkdirAll(filepath.Dir(p), 0o755)
		os.WriteFile(p, []byte(content), 0o644)
	}
	run := func(args ...string) string {
		cmd := exec.Command("git", args...)
		cmd.Dir = work
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.CombinedOutput()
		if err != nil {
			t.Fatalf("git %v: %v\n%s", args, err, out)
		}
		return strings.TrimSpace(string(out))
	}
	run("init", "-q")
	run("add", ".")
	run("commit", "-q", "-m", "monorepo")
	src := GitCommit{RepoDir: filepath.Join(work, ".git"), Rev: run("rev-parse", "HEAD")}
	sub, err := Subdir(ctx, src, "apps/web")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(sub.Describe(), "(directory apps/web)") {
		t.Errorf("Describe = %q", sub.Describe())
	}
	if data, ok, err := sub.ReadFile(ctx, "Dockerfile"); err != nil || !ok || string(data) != "web" {
		t.Errorf("Dockerfile = %q, %v, %v; want the directory's", data, ok, err)
	}
	rc, err := sub.Archive(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	var names []string
	tr := tar.NewReader(rc)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if hdr.Typeflag != tar.TypeXGlobalHeader {
			names = append(names, hdr.Name)
		}
	}
	slices.Sort(names)
	if want := []string{"Dockerfile", "src/", "src/main.go"}; !slices.Equal(names, want) {
		t.Errorf("archive has %v; want %v", names, want)
	}
	for _, missing := range []string{"apps/api", "Dockerfile"} {
		if _, err := Subdir(ctx, src, missing); err == nil || !strings.Contains(err.Error(), "has no directory "+missing) {
			t.Errorf("Subdir(%s): err = %v", missing, err)
		}
	}
}
