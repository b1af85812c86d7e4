package platform

import (
	"github.com/berth-paas/berth/repo"
)

// Repos is the store of the apps' repositories, which follows the apps'
// life through the platform's hooks; the git door receives pushes into it.
func (p *Platform) Repos() *repo.Store { return p.gitRepos }
