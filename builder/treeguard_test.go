package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"os/exec"
	"strings"
	"testing"
)

// tarSource is a source whose archive is a given tar: the entries git
// accepts in a crafted tree but never writes itself.
type tarSource []*tar.Header

func (tarSource) Describe() string { return "a crafted tar" }
func (tarSource) ReadFile(context.Context, string) ([]byte, bool, error) {
	return nil, false, nil
}
func (s tarSource) Archive(context.Context) (io.ReadCloser, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range s {
		h := *h
		if h.Typeflag == tar.TypeReg {
			h.Size = int64(len(h.Name))
		}
		if err := tw.WriteHeader(&h); err != nil {
			return nil, err
		}
		if h.Typeflag == tar.TypeReg {
			io.WriteString(tw, h.Name)
		}
	}
	tw.Close()
	return io.NopCloser(&buf), nil
}

func reg(name string) *tar.Header { return &tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644} }
func dir(name string) *tar.Header { return &tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755} }
func sym(name, target string) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}
}

// packEntries runs writePackFiles on src and returns the names it wrote,
// or its error.
func packEntries(t *testing.T, src Source) ([]string, error) {
	t.Helper()
	var out bytes.Buffer
	if err := writePackFiles(context.Background(), &out, src, nil, nil, 1000, 1000); err != nil {
		return nil, err
	}
	var names []string
	tr := tar.NewReader(&out)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names, nil
		}
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, h.Name)
	}
}

func TestPackFilesRefuseCraftedTrees(t *testing.T) {
	for _, tc := range []struct {
		name    string
		entries tarSource
		want    string
	}{
		{"file below an absolute symlink", tarSource{sym("x", "/cnb/lifecycle"), reg("x/creator")}, `x is a symlink to "/cnb/lifecycle", an absolute path`},
		{"file below a relative symlink", tarSource{sym("x", "sub"), dir("sub/"), reg("x/creator")}, "x/creator lies below x, which is a symlink, not a directory"},
		{"directory below a symlink", tarSource{sym("x", "."), dir("x/"), reg("x/y")}, "x appears twice"},
		{"file below a file", tarSource{reg("x"), reg("x/y")}, "x/y lies below x, which is a file"},
		{"duplicate file", tarSource{reg("a"), reg("a")}, "a appears twice"},
		{"symlink over an implied directory", tarSource{reg("x/creator"), sym("x", "sub")}, "x appears twice"},
		{"symlink leaving the source", tarSource{dir("d/"), sym("d/up", "../../etc")}, `d/up is a symlink to "../../etc", which leads out of the source`},
		{"symlink leaving through another", tarSource{sym("s", "."), sym("a", "s/..")}, `a is a symlink to "s/..", which leads out of the source`},
		{"symlink loop", tarSource{sym("a", "b"), sym("b", "a")}, "too many symlinks"},
		{"device", tarSource{{Typeflag: tar.TypeChar, Name: "dev", Mode: 0o666}}, `dev is of tar type`},
		{"hard link out", tarSource{{Typeflag: tar.TypeLink, Name: "h", Linkname: "../../etc/shadow"}}, "h is a hard link"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			names, err := packEntries(t, tc.entries)
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "push") {
				t.Fatalf("wrote %v, error %v; want an error with %q", names, err, tc.want)
			}
		})
	}
	// A plain tree with symlinks inside the source still builds.
	names, err := packEntries(t, tarSource{dir("app/"), reg("app/main.go"), sym("link", "app/main.go"), sym("app/up", "../link"), sym("d", "app")})
	if err != nil {
		t.Fatalf("a plain tree: %v", err)
	}
	if !strings.Contains(strings.Join(names, " "), "workspace/app/up") {
		t.Errorf("a plain tree's entries: %v", names)
	}
}

// TestPackFilesRefuseCraftedCommit makes the attack's tree with git
// itself (git mktree takes a symlink x and a directory x/ with a file
// creator; receive-pack without fsck takes it) and builds that commit.
func TestPackFilesRefuseCraftedCommit(t *testing.T) {
	repo := t.TempDir()
	git := func(stdin string, args ...string) string {
		t.Helper()
		cmd := exec.Command("git", append([]string{"-C", repo}, args...)...)
		cmd.Stdin = strings.NewReader(stdin)
		cmd.Env = append(cmd.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@t", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@t")
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("git %v: %v", args, err)
		}
		return strings.TrimSpace(string(out))
	}
	git("", "init", "-q", "--bare")
	link := git("/cnb/lifecycle", "hash-object", "-w", "--stdin")
	creator := git("#!/bin/sh\nid > /proc/1/root/tmp/pwned\n", "hash-object", "-w", "--stdin")
	sub := git("100755 blob "+creator+"\tcreator\n", "mktree")
	root := git("120000 blob "+link+"\tx\n040000 tree "+sub+"\tx\n", "mktree")
	commit := git("", "commit-tree", "-m", "crafted", root)
	names, err := packEntries(t, GitCommit{RepoDir: repo, Rev: commit})
	if err == nil || !strings.Contains(err.Error(), `x is a symlink to "/cnb/lifecycle"`) {
		t.Fatalf("wrote %v, error %v; want the symlink refused", names, err)
	}
}

// TestHerokuishRefusesCraftedTrees: the herokuish builder's copy of the
// source is checked the same way, with or without the app's buildpacks.
func TestHerokuishRefusesCraftedTrees(t *testing.T) {
	for _, buildpacks := range [][]string{nil, {"https://example.test/bp.git"}} {
		eng := &fakeHerokuishEngine{hasImage: true}
		src := tarSource{reg(".buildpacks"), sym("x", "/etc"), reg("x/passwd")}
		_, err := Herokuish{Engine: eng}.Build(context.Background(), Request{Source: src, Tag: "t", App: "blog", Buildpacks: buildpacks})
		if err == nil || !strings.Contains(err.Error(), `x is a symlink to "/etc", an absolute path`) {
			t.Errorf("buildpacks %v: error %v, want the symlink refused", buildpacks, err)
		}
		if len(eng.committed) != 0 {
			t.Errorf("buildpacks %v: committed %v", buildpacks, eng.committed)
		}
	}
	eng := &fakeHerokuishEngine{hasImage: true}
	src := tarSource{reg(".buildpacks"), dir("app/"), reg("app/main.go"), sym("link", "app/main.go")}
	if _, err := (Herokuish{Engine: eng}).Build(context.Background(), Request{Source: src, Tag: "t", App: "blog"}); err != nil {
		t.Errorf("a plain tree: %v", err)
	}
}

// TestCacheVolumesAreEachApps: no two apps share a cache volume name, of
// either builder (berth-pack-cache-a was also where app pack-cache-a's
// herokuish cache's name began, and a-herokuish-cache's pack cache was
// pack-cache-a's herokuish cache).
func TestCacheVolumesAreEachApps(t *testing.T) {
	apps := []string{"a", "pack-cache-a", "a-herokuish-cache", "herokuish-cache", "pack-cache", "a-pack-cache", "b"}
	owner := map[string]string{}
	for _, app := range apps {
		for _, name := range []string{PackCacheVolume(app), CacheVolume(app)} {
			if other, ok := owner[name]; ok {
				t.Errorf("the volume %s is both %s's and %s's", name, other, app)
			}
			owner[name] = app
		}
	}
}
