package platform

import (
	"context"
	"fmt"
	"regexp"

	"github.com/berth-paas/berth/builder"
)

// BuildSettings is where the deploy pipeline reads an app's build
// settings (builder:set, builder-dockerfile:set, buildpacks:*, builds:set
// retention, git:set deploy-branch and rev-env-var): package buildconfig
// owns them and implements this. The platform never reads those settings
// off the record itself, so that a new setting of a build is one change in
// buildconfig and one field here.
type BuildSettings interface {
	// Of resolves the settings a build of a uses: its own, else the
	// global ones, else the defaults. On an error (the global settings
	// could not be read) it still returns a's own settings over the
	// defaults, for the callers that can go on with them.
	Of(ctx context.Context, a *App) (AppBuildSettings, error)
	// RevEnvVar is the variable that carries the deployed commit into
	// a's containers; "" for none. It reads nothing but a.
	RevEnvVar(a *App) string
}

// AppBuildSettings are an app's build settings as a build uses them.
type AppBuildSettings struct {
	// Builder is the builder chosen for the app ("" : detection), and
	// GlobalBuilder says the choice is builder:set --global's.
	Builder       string
	GlobalBuilder bool
	// BuildDir is the directory of the repository the app builds ("":
	// the root).
	BuildDir string
	// DockerfilePath is the Dockerfile the dockerfile builder uses (""
	// : the root's), and GlobalDockerfilePath says it is the global
	// setting's, used only by sources that have that file.
	DockerfilePath       string
	GlobalDockerfilePath bool
	// Buildpacks are the app's buildpacks, in order.
	Buildpacks []string
	// Stack is the image buildpack builds run in ("": the builder's
	// default); builder.StackImage says which builder it is for.
	Stack string
	// Retention is how many builds of the app Berth keeps.
	Retention int
	// DeployBranch is the branch whose pushes deploy ("": the first push
	// of main or master chooses), and GlobalDeployBranch git:set
	// --global's.
	DeployBranch, GlobalDeployBranch string
}

// DefaultBuildSettings is the seam of a platform (or deployer) made
// without one (unit tests of the pipeline): every app builds with the defaults, and its deploy
// branch is the one its first push pinned on the record.
type DefaultBuildSettings struct{}

func (DefaultBuildSettings) Of(_ context.Context, a *App) (AppBuildSettings, error) {
	return AppBuildSettings{Retention: KeepBuilds, DeployBranch: a.DeployBranch}, nil
}

func (DefaultBuildSettings) RevEnvVar(*App) string { return DefaultGitRevEnvVar }

// DefaultGitRevEnvVar is the variable that carries the deployed commit
// unless git:set APP rev-env-var names another (Dokku's default).
const DefaultGitRevEnvVar = "GIT_REV"

// buildSettingsOf resolves a's build settings (see BuildSettings.Of).
func (p *Platform) buildSettingsOf(ctx context.Context, a *App) (AppBuildSettings, error) {
	return p.buildSettings.Of(ctx, a)
}

// deployBranchOf is the branch whose pushes deploy a, "" when its first
// push of main or master chooses. A failure to read the global settings
// leaves the app's own (or none), as it always did.
func (p *Platform) deployBranchOf(ctx context.Context, a *App) string {
	// The app's own branch wins and is the core's record (a first push
	// writes it): no settings documents need reading for it, and a push
	// asks this several times.
	if a.DeployBranch != "" {
		return a.DeployBranch
	}
	s, _ := p.buildSettingsOf(ctx, a)
	return s.DeployBranch
}

// CommitSource is the source of the commit rev of app's repository, for
// a package that looks at what a build would see (builder:report's
// detection).
func (p *Platform) CommitSource(app, rev string) builder.Source {
	return p.gitRepos.Commit(app, rev, nil)
}

// ValidImageRef checks an image reference's form (git:from-image, and
// buildconfig's buildpacks stack).
func ValidImageRef(ref string) error { return validImageRef(ref) }

var imageRefPattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._/:@+-]*$`)

func validImageRef(ref string) error {
	if !imageRefPattern.MatchString(ref) || len(ref) > 512 {
		return fmt.Errorf("%q is not an image reference; give one like myimage:1.0 or registry.example.com/team/app:latest", ref)
	}
	return nil
}
