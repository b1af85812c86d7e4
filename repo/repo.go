// Package repo owns the apps' bare git repositories: where they live,
// making one (with Berth's pre-receive hook), reading and moving its refs,
// fetching into it for git:sync, and the build source of one of its
// commits. It follows the apps' life through the platform's hooks (Follow),
// so a destroyed app's repository goes with it and a renamed or cloned
// app's comes along, without the platform touching repositories.
//
// It knows nothing of SSH or of deploys: gitrecv runs `git receive-pack`
// into Path(app), and the platform's Push decides what a push deploys.
package repo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"

	"github.com/berth-paas/berth/builder"
)

// EnvHookBin is the environment variable through which the server that
// runs `git receive-pack` tells the pre-receive hook which binary to run
// (gitrecv sets it, with the rest of the hook's way back).
const EnvHookBin = "BERTH_HOOK_BIN"

// HookCommand is the argument the hook binary is run with; the binary
// must dispatch it to gitrecv.RunHook.
const HookCommand = "berth-hook"

// preReceiveScript is installed in every app repository. It carries no
// paths: the server tells git where its binary and socket are through the
// environment of each push, so a moved binary never breaks old repos, and
// a push that does not come through Berth is refused.
const preReceiveScript = `#!/bin/sh
# Installed by Berth. Pushes go through Berth's SSH server, which builds and
# deploys the pushed commit before git accepts it.
if [ -z "$` + EnvHookBin + `" ]; then
	echo "berth: push through Berth's SSH server to deploy this app" >&2
	exit 1
fi
exec "$` + EnvHookBin + `" ` + HookCommand + `
`

// Store is the directory of the apps' repositories, one APP.git each.
// Its methods are safe for concurrent use as far as git's own locking
// goes; the platform serialises the changes of one app.
type Store struct {
	dir string
	log *slog.Logger
}

// New returns the store of the repositories under dir; log receives what
// it cannot do while following an app (nil discards).
func New(dir string, log *slog.Logger) *Store {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Store{dir: dir, log: log}
}

// Path is where the app's bare repository lives.
func (s *Store) Path(app string) string {
	return filepath.Join(s.dir, app+".git")
}

// Exists reports whether the app has a repository.
func (s *Store) Exists(app string) (bool, error) {
	_, err := os.Stat(s.Path(app))
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	return err == nil, err
}

// Create makes the app's bare repository unless it exists, with HEAD
// naming branch (so a clone checks out the right branch until a deploy
// says otherwise), and (re)installs its pre-receive hook, so a repository
// made by an older Berth gets the current one.
func (s *Store) Create(app, branch string) error {
	path := s.Path(app)
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return err
		}
		r, err := git.PlainInit(path, true)
		if err != nil {
			return err
		}
		if err := r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch))); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	hooks := filepath.Join(path, "hooks")
	if err := os.MkdirAll(hooks, 0o755); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(hooks, "pre-receive"), []byte(preReceiveScript), 0o755)
}

// Remove deletes the app's repository; a missing one is nothing to do.
func (s *Store) Remove(app string) error {
	return os.RemoveAll(s.Path(app))
}

// Rename moves the repository of from to to. A missing one is nothing to
// move.
func (s *Store) Rename(from, to string) error {
	if ok, err := s.Exists(from); err != nil || !ok {
		return err
	}
	if err := s.clearFor(to); err != nil {
		return err
	}
	return os.Rename(s.Path(from), s.Path(to))
}

// Copy copies the repository of from to to (cp -a, so its hook and
// modes come along). A missing one is nothing to copy.
func (s *Store) Copy(ctx context.Context, from, to string) error {
	if ok, err := s.Exists(from); err != nil || !ok {
		return err
	}
	if err := s.clearFor(to); err != nil {
		return err
	}
	out, err := exec.CommandContext(ctx, "cp", "-a", s.Path(from), s.Path(to)).CombinedOutput()
	if err != nil {
		return fmt.Errorf("%v: %s", err, strings.TrimSpace(string(out)))
	}
	return nil
}

// clearFor makes room for a repository of app. A push that reached the
// app while it was being renamed or cloned into may have made it an empty
// repository (its deploy was refused: the app was busy), which goes; one
// that holds refs is someone's work and is never overwritten.
func (s *Store) clearFor(app string) error {
	ok, err := s.Exists(app)
	if err != nil || !ok {
		return err
	}
	refs, err := s.hasRefs(app)
	if err != nil {
		return err
	}
	if refs {
		return fmt.Errorf("%s already holds a repository with branches; move it away first", s.Path(app))
	}
	return s.Remove(app)
}

func (s *Store) hasRefs(app string) (bool, error) {
	r, err := git.PlainOpen(s.Path(app))
	if err != nil {
		return false, err
	}
	iter, err := r.Storer.IterReferences()
	if err != nil {
		return false, err
	}
	found := errors.New("found")
	err = iter.ForEach(func(ref *plumbing.Reference) error {
		if ref.Name() != plumbing.HEAD {
			return found
		}
		return nil
	})
	if err == found {
		return true, nil
	}
	return false, err
}

// Life is how the store follows apps: the platform's hooks.
type Life interface {
	OnAppDestroyed(func(ctx context.Context, app string))
	OnAppRenamed(func(ctx context.Context, from, to string))
	OnAppCloned(func(ctx context.Context, from, to string))
}

// Follow makes the repositories follow the apps of life: a destroyed
// app's repository is removed (an app created later under the same name
// must not inherit its history), a renamed app's moves with it, and a
// clone gets a copy, so pushes to it continue from the original's
// history. The hooks run after the platform's change is done and cannot
// undo it, so what fails here is logged for the admin.
func (s *Store) Follow(life Life) {
	life.OnAppDestroyed(func(ctx context.Context, app string) {
		if err := s.Remove(app); err != nil {
			s.log.Error("remove the repository of a destroyed app; remove it by hand before an app of that name is created", "app", app, "path", s.Path(app), "error", err)
		}
	})
	life.OnAppRenamed(func(ctx context.Context, from, to string) {
		if err := s.Rename(from, to); err != nil {
			s.log.Error("move the repository of a renamed app; move it by hand", "from", s.Path(from), "to", s.Path(to), "error", err)
		}
	})
	life.OnAppCloned(func(ctx context.Context, from, to string) {
		if err := s.Copy(ctx, from, to); err != nil {
			s.log.Error("copy the repository of a cloned app; the clone's next push starts a new history", "from", s.Path(from), "to", s.Path(to), "error", err)
		}
	})
}

// Commit is the build source of rev in the app's repository. env is added
// to git's environment: a pre-receive hook passes git's quarantine
// variables (QuarantineEnv), without which a pushed commit's objects
// cannot be read before the push is accepted.
func (s *Store) Commit(app, rev string, env []string) builder.GitCommit {
	return builder.GitCommit{RepoDir: s.Path(app), Rev: rev, Env: env}
}

// QuarantineVars are the variables git sets for a pre-receive hook that
// point at the pushed objects.
var QuarantineVars = []string{"GIT_OBJECT_DIRECTORY", "GIT_ALTERNATE_OBJECT_DIRECTORIES", "GIT_QUARANTINE_PATH"}

// QuarantineEnv keeps of env (NAME=value) the quarantine variables, and
// nothing else a hook might send.
func QuarantineEnv(env []string) []string {
	var out []string
	for _, kv := range env {
		name, _, _ := strings.Cut(kv, "=")
		for _, allowed := range QuarantineVars {
			if name == allowed {
				out = append(out, kv)
			}
		}
	}
	return out
}

// Resolve returns the full hash of the commit rev names in the app's
// repository (a branch, a tag, a hash), or "" when it names no commit.
func (s *Store) Resolve(ctx context.Context, app, rev string) (string, error) {
	return resolve(ctx, s.Path(app), rev)
}

// BranchHead returns the commit the app's branch names, or "" when the
// repository has no such branch.
func (s *Store) BranchHead(ctx context.Context, app, branch string) (string, error) {
	return s.Resolve(ctx, app, "refs/heads/"+branch)
}

func resolve(ctx context.Context, repoDir, rev string) (string, error) {
	cmd := exec.CommandContext(ctx, "git", "--git-dir", repoDir, "rev-parse", "--verify", "--quiet", "--end-of-options", rev+"^{commit}")
	out, err := cmd.Output()
	if ee, ok := err.(*exec.ExitError); ok && ee.ExitCode() == 1 && len(bytes.TrimSpace(ee.Stderr)) == 0 {
		return "", nil // --quiet: a rev that names nothing exits 1 silently
	}
	if err != nil {
		if ee, ok := err.(*exec.ExitError); ok && len(ee.Stderr) > 0 {
			err = fmt.Errorf("%v: %s", err, strings.TrimSpace(string(ee.Stderr)))
		}
		return "", fmt.Errorf("resolve %s in %s: %w", rev, repoDir, err)
	}
	return strings.TrimSpace(string(out)), nil
}

// SetBranch points the app's branch at rev, and HEAD at the branch, so a
// clone checks out what is deployed.
func (s *Store) SetBranch(app, branch, rev string) error {
	r, err := git.PlainOpen(s.Path(app))
	if err != nil {
		return err
	}
	name := plumbing.NewBranchReferenceName(branch)
	if err := r.Storer.SetReference(plumbing.NewHashReference(name, plumbing.NewHash(rev))); err != nil {
		return err
	}
	return r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, name))
}

// PointHead makes the repository's HEAD name branch (the app's deploy
// branch), so `git clone` of the app checks out what is deployed.
func (s *Store) PointHead(app, branch string) error {
	r, err := git.PlainOpen(s.Path(app))
	if err != nil {
		return err
	}
	return r.Storer.SetReference(plumbing.NewSymbolicReference(plumbing.HEAD, plumbing.NewBranchReferenceName(branch)))
}

// Size is the bytes of the app's repository's files (0 when it has none).
func (s *Store) Size(app string) (int64, error) {
	var n int64
	if ok, err := s.Exists(app); err != nil || !ok {
		return 0, err
	}
	err := filepath.WalkDir(s.Path(app), func(_ string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if info, err := d.Info(); err == nil && info.Mode().IsRegular() {
			n += info.Size()
		}
		return nil
	})
	return n, err
}
