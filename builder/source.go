// Package builder turns an app's source into a Docker image: today a git
// commit with a Dockerfile at its root, built through the Docker API from a
// tar stream of the commit's tree.
package builder

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os/exec"
	"path"
	"strings"
)

// Source is a build context: a tree of files.
type Source interface {
	// ReadFile returns the content of a file at the tree's root, or
	// (nil, false, nil) when there is none.
	ReadFile(ctx context.Context, name string) ([]byte, bool, error)
	// Archive streams the whole tree as an uncompressed tar.
	Archive(ctx context.Context) (io.ReadCloser, error)
	// Describe names the source in logs and errors.
	Describe() string
}

// GitCommit is the tree of one commit in a local repository, read with the
// git binary; package repo makes them (repo.Store.Commit) and resolves
// revisions. Env is added to git's environment; a pre-receive hook passes
// its quarantine variables (GIT_OBJECT_DIRECTORY and
// GIT_ALTERNATE_OBJECT_DIRECTORIES) here, because a pushed commit's objects
// are not in the repository proper until the push is accepted.
type GitCommit struct {
	RepoDir string
	Rev     string
	Env     []string
	// Dir, when set, makes the source the commit's directory Dir only
	// (builder:set APP build-dir DIR; see Subdir).
	Dir string
}

var _ Source = GitCommit{}

// Describe returns the commit's short form, and its directory if any.
func (g GitCommit) Describe() string {
	if g.Dir != "" {
		return "commit " + shortRev(g.Rev) + " (directory " + g.Dir + ")"
	}
	return "commit " + shortRev(g.Rev)
}

// tree names the source's tree for git: the commit, or its directory.
func (g GitCommit) tree() string {
	if g.Dir != "" {
		return g.Rev + ":" + g.Dir
	}
	return g.Rev
}

func (g GitCommit) command(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "git", append([]string{"--git-dir", g.RepoDir}, args...)...)
	cmd.Env = append(cmd.Environ(), g.Env...)
	return cmd
}

// ReadFile reads name from the commit's root tree.
func (g GitCommit) ReadFile(ctx context.Context, name string) ([]byte, bool, error) {
	// ls-tree tells "absent" apart from "git failed"; cat-file alone does not.
	// Its line is "<mode> SP <type> SP <object> TAB <path>".
	out, err := g.command(ctx, "ls-tree", g.tree(), "--", name).Output()
	if err != nil {
		return nil, false, fmt.Errorf("read %s of %s: %w", name, g.Describe(), gitError(err))
	}
	meta, _, _ := strings.Cut(string(out), "\t")
	fields := strings.Fields(meta)
	if len(fields) != 3 || fields[1] != "blob" {
		return nil, false, nil
	}
	oid := fields[2]
	blob, err := g.command(ctx, "cat-file", "blob", oid).Output()
	if err != nil {
		return nil, false, fmt.Errorf("read %s of %s: %w", name, g.Describe(), gitError(err))
	}
	return blob, true, nil
}

// Archive streams `git archive` of the commit.
func (g GitCommit) Archive(ctx context.Context) (io.ReadCloser, error) {
	cmd := g.command(ctx, "archive", "--format=tar", g.tree())
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("git archive: %w", err)
	}
	return &commandReader{ReadCloser: out, cmd: cmd, stderr: &stderr}, nil
}

// ValidBuildDir checks a build directory (builder:set APP build-dir DIR):
// a relative path inside the repository, in its clean form.
func ValidBuildDir(dir string) error {
	bad := dir == "" || dir == "." || strings.HasPrefix(dir, "/") || path.Clean(dir) != dir ||
		dir == ".." || strings.HasPrefix(dir, "../") || strings.ContainsFunc(dir, func(r rune) bool { return r < ' ' || r == 0x7f })
	if bad {
		return fmt.Errorf("the build directory %q is not a directory of the repository: give a relative path such as apps/web, without .. or a trailing slash", dir)
	}
	return nil
}

// Subdir returns the part of src under dir, as a source of its own: the
// build sees only dir, as its root (Dokku's build-dir, for monorepos).
// A dir the source lacks is an error that says so.
func Subdir(ctx context.Context, src Source, dir string) (Source, error) {
	if err := ValidBuildDir(dir); err != nil {
		return nil, err
	}
	missing := func() error {
		return fmt.Errorf("%s has no directory %s, which is the app's build directory: push a commit that has it, or change it (builder:set APP build-dir DIR, or an empty DIR for the whole repository)", src.Describe(), dir)
	}
	switch s := src.(type) {
	case GitCommit:
		sub := s
		sub.Dir = path.Join(s.Dir, dir)
		out, err := s.command(ctx, "cat-file", "-t", s.Rev+":"+sub.Dir).Output()
		if err != nil || strings.TrimSpace(string(out)) != "tree" {
			return nil, missing()
		}
		return sub, nil
	case Files:
		sub := Files{}
		for name, content := range s {
			if rest, ok := strings.CutPrefix(name, dir+"/"); ok && rest != "" {
				sub[rest] = content
			}
		}
		if len(sub) == 0 {
			return nil, missing()
		}
		return sub, nil
	}
	return nil, fmt.Errorf("a build directory applies to a git commit, not to %s", src.Describe())
}

// commandReader reports the command's failure at the end of its output,
// so a truncated archive is an error and not a short build context.
type commandReader struct {
	io.ReadCloser
	cmd    *exec.Cmd
	stderr *bytes.Buffer
	done   bool
}

func (r *commandReader) Read(p []byte) (int, error) {
	n, err := r.ReadCloser.Read(p)
	if err == io.EOF && !r.done {
		r.done = true
		if werr := r.cmd.Wait(); werr != nil {
			return n, fmt.Errorf("git archive: %v: %s", werr, strings.TrimSpace(r.stderr.String()))
		}
	}
	return n, err
}

func (r *commandReader) Close() error {
	err := r.ReadCloser.Close()
	if !r.done {
		r.done = true
		r.cmd.Process.Kill()
		r.cmd.Wait()
	}
	return err
}

func gitError(err error) error {
	if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
	}
	return err
}

func shortRev(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}
