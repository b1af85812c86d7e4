package platform

import (
	"context"
	"io"
)

// What package deploy, which runs the apps' releases (rollback, restart,
// ps:scale), needs of the core beyond the app record and its lock: the
// rollout with the deployed report, and the config release. The core
// keeps them because its own changes use them too (rename, proxy:disable
// roll out; config:set makes a config release).

// Rollout runs rel as a's formation (the scheduler's rollout) and ends the
// log with the app's URLs. a must be locked (ChangeApp).
func (p *Platform) Rollout(ctx context.Context, a *App, rel Release, log io.Writer) error {
	return p.rollout(ctx, a, rel, logWriter(log))
}

// ConfigRelease rolls out a copy of rel with a's current config as a new
// release, reusing rel's image. a must be locked (ChangeApp).
func (p *Platform) ConfigRelease(ctx context.Context, a *App, rel Release, log io.Writer) error {
	return p.configRelease(ctx, a, rel, logWriter(log))
}

// ProcessTypes returns the types a release runs, web first: the
// Procfile's types but release, or just web without a Procfile.
func ProcessTypes(procfile map[string]string) []string { return processTypes(procfile) }
