package deploy

import (
	"bytes"
	"context"
	"fmt"
	"io"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/repo"
)

// DefaultBranch is the deploy branch of an app that has none yet when it
// is deployed by git:sync.
const DefaultBranch = "main"

// Rebuild builds the head of the app's deploy branch again, from its
// repository, and deploys it like a push (Dokku's ps:rebuild).
func (d *Deployer) Rebuild(ctx context.Context, app string, log io.Writer) (platform.Release, error) {
	return d.withApp(ctx, app, "a rebuild", func(a *platform.App, save func() error) (platform.Release, error) {
		branch := d.deployBranchOf(ctx, a)
		if branch == "" {
			return platform.Release{}, fmt.Errorf("%s has no deploy branch yet: push to it (git push berth main) or run git:sync %s URL first", app, app)
		}
		rev, err := d.repos.BranchHead(ctx, app, branch)
		if err != nil {
			return platform.Release{}, err
		}
		if rev == "" {
			return platform.Release{}, fmt.Errorf("the repository of %s has no branch %s: push it (git push berth %s) or run git:sync %s URL", app, branch, branch, app)
		}
		var shown bytes.Buffer
		fmt.Fprintf(io.MultiWriter(logWriter(log), &shown), "-----> Rebuilding %s from %s (%s)\n", app, branch, shortRev(rev))
		return d.deployLocked(ctx, a, save, DeployRequest{
			App:    app,
			Source: d.repos.Commit(app, rev, nil),
			GitRev: rev,
			Reason: "rebuild",
			Log:    log,
			shown:  shown.Bytes(),
		})
	})
}

// DeployImage deploys a local image as the app's next release, with no
// build (Dokku's git:from-image). The image keeps its own name; the
// release tags it berth/APP:vN.
func (d *Deployer) DeployImage(ctx context.Context, app, image string, log io.Writer) (platform.Release, error) {
	if err := platform.ValidImageRef(image); err != nil {
		return platform.Release{}, err
	}
	return d.withApp(ctx, app, "a git:from-image", func(a *platform.App, save func() error) (platform.Release, error) {
		return d.deployLocked(ctx, a, save, DeployRequest{App: a.Name, Image: image, Reason: "image", Log: log})
	})
}

// Sync fetches ref (a branch, a tag or a commit; "" for the remote's
// default branch) from the repository at url into the app's repository
// and deploys it (Dokku's git:sync, always with a build). The deploy
// branch moves to the fetched commit only once it serves: a failed sync
// leaves the repository's branch, like the running release, as it was.
func (d *Deployer) Sync(ctx context.Context, app, url, ref string, log io.Writer) (platform.Release, error) {
	client := logWriter(log)
	var shown bytes.Buffer
	log = io.MultiWriter(client, &shown)
	if err := repo.ValidRemote(url); err != nil {
		return platform.Release{}, err
	}
	return d.withApp(ctx, app, "a git:sync", func(a *platform.App, save func() error) (platform.Release, error) {
		if a.Locked {
			return platform.Release{}, fmt.Errorf("%s is locked and refuses deploys; run apps:unlock %s first", app, app)
		}
		branch := d.deployBranchOf(ctx, a)
		if branch == "" {
			branch = DefaultBranch
		}
		if err := d.repos.Create(app, branch); err != nil {
			return platform.Release{}, fmt.Errorf("preparing the repository of %s: %w", app, err)
		}
		what := ref
		if what == "" {
			what = "its default branch"
		}
		// What is shown and kept (the deploy's output, its build log, which
		// the app's deploy keys read) names the URL without its credentials.
		fmt.Fprintf(log, "-----> Fetching %s (%s) into %s\n", repo.RedactURL(url), what, app)
		rev, err := d.repos.Fetch(ctx, app, url, ref)
		if err != nil {
			return platform.Release{}, err
		}
		fmt.Fprintf(log, "-----> Fetched %s; deploying it as %s's branch %s\n", shortRev(rev), app, branch)
		return d.deployLocked(ctx, a, save, DeployRequest{
			App:        app,
			Source:     d.repos.Commit(app, rev, nil),
			GitRev:     rev,
			Reason:     "sync",
			Branch:     branch,
			MoveBranch: true,
			Log:        client,
			shown:      shown.Bytes(),
		})
	})
}

// withApp runs f on app's record under its lock, busy with what (as
// "a rebuild"); save writes the record.
func (d *Deployer) withApp(ctx context.Context, app, what string, f func(a *platform.App, save func() error) (platform.Release, error)) (rel platform.Release, err error) {
	err = d.apps.ChangeApp(ctx, app, what, func(a *platform.App, save func() error) (err error) {
		rel, err = f(a, save)
		return err
	})
	return rel, err
}

// GitReport describes the app's repository and what of it runs (Dokku's
// git:report).
type GitReport struct {
	App          string `json:"app"`
	DeployBranch string `json:"deploy_branch"`
	// ComputedDeployBranch is the one that applies (DeployBranch, else
	// GlobalDeployBranch); GlobalDeployBranch is git:set --global's.
	ComputedDeployBranch string `json:"computed_deploy_branch"`
	GlobalDeployBranch   string `json:"global_deploy_branch"`
	// DeployedRev is the commit of the release that serves; "" when it
	// was deployed from an image, or nothing serves.
	DeployedRev string `json:"deployed_rev"`
	// SourceImage is the image the serving release came from, if
	// git:from-image deployed it.
	SourceImage string `json:"source_image,omitempty"`
	// BranchRev is the commit the deploy branch names in the repository.
	BranchRev      string `json:"branch_rev"`
	Repository     string `json:"repository"`
	RepositorySize int64  `json:"repository_size_bytes"`
	// RevEnvVar is the variable that carries the deployed commit
	// (git:set rev-env-var); "" for none.
	RevEnvVar string `json:"rev_env_var"`
}

// GitReport returns the app's git report.
func (d *Deployer) GitReport(ctx context.Context, app string) (GitReport, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return GitReport{}, err
	}
	// Unreadable global settings leave the app's own, as they always
	// did: a report shows what it can.
	s, _ := d.buildSettingsOf(ctx, a)
	r := GitReport{App: app, DeployBranch: a.DeployBranch, ComputedDeployBranch: s.DeployBranch, GlobalDeployBranch: s.GlobalDeployBranch, Repository: d.repos.Path(app), RevEnvVar: d.buildSettings.RevEnvVar(a)}
	if rel, ok := a.CurrentRelease(); ok {
		r.DeployedRev, r.SourceImage = rel.GitRev, rel.SourceImage
	}
	if ok, err := d.repos.Exists(app); err != nil || !ok {
		return r, err
	}
	if r.ComputedDeployBranch != "" {
		if r.BranchRev, err = d.repos.BranchHead(ctx, app, r.ComputedDeployBranch); err != nil {
			return r, err
		}
	}
	r.RepositorySize, err = d.repos.Size(app)
	return r, err
}

func shortRev(rev string) string {
	if len(rev) > 7 {
		return rev[:7]
	}
	return rev
}

// retentionOf is how many builds of a Berth keeps.
func (d *Deployer) retentionOf(ctx context.Context, a *platform.App) int {
	s, _ := d.buildSettingsOf(ctx, a)
	return s.Retention
}
