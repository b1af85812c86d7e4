package buildconfig

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"

	"github.com/berth-paas/berth/platform"
)

// The git settings of a deploy (Dokku's git:set): which branch deploys,
// and which variable carries the deployed commit. keep-git-dir has no
// setting: Berth keeps no .git (the commands say so).

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SetGitRevEnvVar names the variable that carries the deployed commit
// (Dokku's git:set APP rev-env-var NAME): "" turns it off, and unset
// goes back to GIT_REV. It applies to containers started from now on
// (the next deploy, ps:restart, run).
func (s *Settings) SetGitRevEnvVar(ctx context.Context, app, name string, unset bool) error {
	if !unset && name != "" {
		if !envName.MatchString(name) {
			return fmt.Errorf("rev-env-var %q is not a variable name: letters, digits and _, not starting with a digit", name)
		}
		if name == "PORT" || name == "DYNO" {
			return fmt.Errorf("rev-env-var cannot be %s: Berth sets %s itself", name, name)
		}
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		if unset {
			a.GitRevEnvVar = nil
		} else {
			a.GitRevEnvVar = &name
		}
		return nil
	})
}

// SetDeployBranch makes branch the app's deploy branch (Dokku's git:set
// APP deploy-branch BRANCH): pushes to it deploy, pushes to others are
// stored. "" goes back to the default: the global one, else the first
// push of main or master chooses. Nothing is deployed by the change
// itself (ps:rebuild builds the branch's head).
func (s *Settings) SetDeployBranch(ctx context.Context, app, branch string) error {
	if err := checkBranchName(ctx, branch); err != nil {
		return err
	}
	if err := s.apps.UpdateApp(ctx, app, func(a *platform.App) error { a.DeployBranch = branch; return nil }); err != nil {
		return err
	}
	s.repos.PointHead(ctx, app)
	return nil
}

// GlobalDeployBranch is git:set --global deploy-branch, or "".
func (s *Settings) GlobalDeployBranch(ctx context.Context) string {
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return ""
	}
	return g.DeployBranch
}

// SetGlobalDeployBranch sets the deploy branch of the apps that set none
// (Dokku's git:set --global deploy-branch BRANCH); "" goes back to the
// first push of main or master choosing. Nothing is deployed by the
// change itself.
func (s *Settings) SetGlobalDeployBranch(ctx context.Context, branch string) error {
	if err := checkBranchName(ctx, branch); err != nil {
		return err
	}
	return s.changeGlobal(ctx, "a global settings change", func(g *global) { g.DeployBranch = branch })
}

// OwnDeployBranches are the apps with a deploy branch of their own (set
// with git:set APP deploy-branch, or pinned by their first push of main
// or master), app name to branch: git:set --global deploy-branch does not
// reach them, and says so.
func (s *Settings) OwnDeployBranches(ctx context.Context) (map[string]string, error) {
	// The app records' keys: the store is the core's too.
	names, err := s.store.List(ctx, "apps")
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	for _, name := range names {
		a, err := s.apps.App(ctx, name)
		if err != nil {
			return nil, err
		}
		if a.DeployBranch != "" {
			own[name] = a.DeployBranch
		}
	}
	return own, nil
}

func checkBranchName(ctx context.Context, branch string) error {
	if branch != "" && (branch[0] == '-' || exec.CommandContext(ctx, "git", "check-ref-format", "--branch", branch).Run() != nil) {
		return fmt.Errorf("%q is not a valid branch name (git check-ref-format --branch refuses it)", branch)
	}
	return nil
}
