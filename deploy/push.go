package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/repo"
)

// Push does what a git push into the app's repository does, called from
// its pre-receive hook before git records anything: it decides from the
// ref updates what deploys and what is only stored (repo.PlanPush: the
// first push of main or master makes that branch the deploy branch;
// other branches are stored; deleting the deploy branch is refused),
// builds and rolls out the deploy branch's new commit, and streams the
// log to out. quarantine is the hook's environment (only git's
// quarantine variables are kept), without which the pushed objects cannot
// be read yet. An error rejects the whole push; the running release
// keeps serving. ctx ends the deploy when the pusher goes away.
func (d *Deployer) Push(ctx context.Context, app string, updates []repo.RefUpdate, quarantine []string, out io.Writer) error {
	// Whatever the push did, HEAD names the deploy branch afterwards, so
	// `git clone` of the app checks out what is deployed (a first push
	// chooses it).
	defer d.PointHead(context.WithoutCancel(ctx), app)
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return err
	}
	plan, err := repo.PlanPush(d.deployBranchOf(ctx, a), updates)
	if err != nil {
		return err
	}
	branch := plan.Branch
	if branch == "" {
		branch = strings.Join(repo.DeployableBranches, " or ")
	}
	for _, u := range plan.Stored {
		what := "stored"
		if u.Deletes() {
			what = "deleted"
		}
		fmt.Fprintf(out, "-----> %s %s; pushes to %s deploy %s\n", u.Ref, what, branch, app)
	}
	if plan.Deploy == nil {
		return nil
	}
	_, err = d.Deploy(ctx, DeployRequest{
		App:    app,
		Source: d.repos.Commit(app, plan.Deploy.New, repo.QuarantineEnv(quarantine)),
		GitRev: plan.Deploy.New,
		Reason: "push",
		Branch: plan.Branch,
		Log:    out,
	})
	return err
}

// PointHead makes the repository's HEAD name the app's deploy branch, if
// it has one (after a push; buildconfig's git:set deploy-branch).
func (d *Deployer) PointHead(ctx context.Context, app string) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return
	}
	branch := d.deployBranchOf(ctx, a)
	if branch == "" {
		return
	}
	if err := d.repos.PointHead(app, branch); err != nil {
		d.log.Warn("set HEAD", "app", app, "error", err)
	}
}

// CommitSource is the source of the commit rev of app's repository, for
// a package that looks at what a build would see (builder:report's
// detection).
func (d *Deployer) CommitSource(app, rev string) builder.Source {
	return d.repos.Commit(app, rev, nil)
}
