package platform

import (
	"context"

	"github.com/berth-paas/berth/repo"
)

// Repos is the store of the apps' repositories, which follows the apps'
// life through the platform's hooks; the git door receives pushes into it.
func (p *Platform) Repos() *repo.Store { return p.gitRepos }

// PointHead makes the repository's HEAD name the app's deploy branch, if
// it has one.
func (p *Platform) PointHead(ctx context.Context, app string) {
	a, err := p.App(ctx, app)
	if err != nil {
		return
	}
	branch := p.deployBranchOf(ctx, a)
	if branch == "" {
		return
	}
	if err := p.gitRepos.PointHead(app, branch); err != nil {
		p.log.Warn("set HEAD", "app", app, "error", err)
	}
}
