package platform

import (
	"context"
	"io"
)

// StopApp stops every container of the app and keeps them, stopped, with the
// app's formation (Dokku's ps:stop). The route empties first, so requests
// are held and then answered 503; requests in flight may finish, up to
// wait-to-retire. The app stays stopped, across restarts of Berth, until
// StartApp or the next rollout (a deploy, ps:restart, a config change).
func (p *Platform) StopApp(ctx context.Context, app string, log io.Writer) error {
	log = logWriter(log)
	a, unlock, err := p.lockedApp(ctx, app, "a stop")
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := currentRelease(a); err != nil {
		return err
	}
	return p.sched.Stop(ctx, a, log)
}

// StartApp starts the app's stopped containers again, and creates those of
// its formation that are missing; each must pass its checks before it
// takes traffic (Dokku's ps:start). It reports whether anything had to
// start.
func (p *Platform) StartApp(ctx context.Context, app string, log io.Writer) (bool, error) {
	log = logWriter(log)
	a, unlock, err := p.lockedApp(ctx, app, "a start")
	if err != nil {
		return false, err
	}
	defer unlock()
	rel, err := currentRelease(a)
	if err != nil {
		return false, err
	}
	return p.sched.Start(ctx, a, rel, log)
}
