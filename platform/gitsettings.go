package platform

import (
	"context"
	"fmt"
	"os/exec"
	"regexp"
)

// DefaultGitRevEnvVar is the variable that carries the deployed commit
// unless git:set APP rev-env-var names another (Dokku's default).
const DefaultGitRevEnvVar = "GIT_REV"

func (a *App) revEnvVar() string {
	if a == nil || a.GitRevEnvVar == nil {
		return DefaultGitRevEnvVar
	}
	return *a.GitRevEnvVar
}

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// SetGitRevEnvVar names the variable that carries the deployed commit
// (Dokku's git:set APP rev-env-var NAME): "" turns it off, and unset
// goes back to GIT_REV. It applies to containers started from now on
// (the next deploy, ps:restart, run).
func (p *Platform) SetGitRevEnvVar(ctx context.Context, app, name string, unset bool) error {
	if !unset && name != "" {
		if !envName.MatchString(name) {
			return fmt.Errorf("rev-env-var %q is not a variable name: letters, digits and _, not starting with a digit", name)
		}
		if name == "PORT" || name == "DYNO" {
			return fmt.Errorf("rev-env-var cannot be %s: Berth sets %s itself", name, name)
		}
	}
	return p.update(ctx, app, func(a *App) {
		if unset {
			a.GitRevEnvVar = nil
		} else {
			a.GitRevEnvVar = &name
		}
	})
}

// SetDeployBranch makes branch the app's deploy branch (Dokku's git:set
// APP deploy-branch BRANCH): pushes to it deploy, pushes to others are
// stored. "" goes back to the default: the first push of main or master
// chooses. Nothing is deployed by the change itself (ps:rebuild builds
// the branch's head).
func (p *Platform) SetDeployBranch(ctx context.Context, app, branch string) error {
	if err := checkBranchName(ctx, branch); err != nil {
		return err
	}
	if err := p.update(ctx, app, func(a *App) { a.DeployBranch = branch }); err != nil {
		return err
	}
	p.pointHead(ctx, app)
	return nil
}

// deployBranchOf is the branch whose pushes deploy a: its own, else the
// global one (git:set --global deploy-branch), else "" (the first push of
// main or master chooses, and becomes its own).
func (p *Platform) deployBranchOf(ctx context.Context, a *App) string {
	if a.DeployBranch != "" {
		return a.DeployBranch
	}
	return p.GlobalDeployBranch(ctx)
}

// GlobalDeployBranch is git:set --global deploy-branch, or "".
func (p *Platform) GlobalDeployBranch(ctx context.Context) string {
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return ""
	}
	return g.DeployBranch
}

// SetGlobalDeployBranch sets the deploy branch of the apps that set none
// (Dokku's git:set --global deploy-branch BRANCH); "" goes back to the
// first push of main or master choosing. Nothing is deployed by the
// change itself.
func (p *Platform) SetGlobalDeployBranch(ctx context.Context, branch string) error {
	if err := checkBranchName(ctx, branch); err != nil {
		return err
	}
	return p.changeGlobal(ctx, "a global settings change", func(g *Global) { g.DeployBranch = branch }, nil)
}

// OwnDeployBranches are the apps with a deploy branch of their own (set
// with git:set APP deploy-branch, or pinned by their first push of main
// or master), app name to branch: git:set --global deploy-branch does not
// reach them, and says so.
func (p *Platform) OwnDeployBranches(ctx context.Context) (map[string]string, error) {
	names, err := p.store.List(ctx, "apps")
	if err != nil {
		return nil, err
	}
	own := map[string]string{}
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
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
