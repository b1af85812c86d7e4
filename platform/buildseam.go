package platform

import (
	"context"
	"fmt"
	"regexp"
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
