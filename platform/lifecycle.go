package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"sync"

	"github.com/berth-paas/berth/docker"
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
	cleanup := context.WithoutCancel(ctx)
	cs, err := p.containers(ctx, app)
	if err != nil {
		return err
	}
	// Recorded first: the containers' exits that follow are the app
	// stopping, not failing.
	a.Stopped = true
	if err := saveApp(ctx, p.store, a); err != nil {
		return err
	}
	var running []docker.Container
	var targets []string
	for _, c := range cs {
		if c.Running || c.Restarting {
			running = append(running, c)
			p.routes.Hide(c.ID)
			if c.IP.IsValid() && c.Labels[docker.LabelPort] != "" {
				targets = append(targets, net.JoinHostPort(c.IP.String(), c.Labels[docker.LabelPort]))
			}
		}
	}
	defer func() {
		for _, c := range running {
			p.routes.Unhide(c.ID)
		}
		p.routes.Refresh(cleanup, app)
	}()
	if err := p.routes.Refresh(cleanup, app); err != nil {
		return err
	}
	if len(running) == 0 {
		fmt.Fprintf(log, "-----> %s runs no container; it stays stopped\n", app)
		return nil
	}
	fmt.Fprintf(log, "-----> Stopping %d container(s) of %s\n", len(running), app)
	if !p.drain(cleanup, targets, WaitToRetireOf(a, p.ProcessGlobals()), log) {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", WaitToRetireOf(a, p.ProcessGlobals()))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(running))
	for i, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = p.docker.Stop(cleanup, c.ID, StopTimeoutOf(a, p.ProcessGlobals()))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping %s: %w; run ps:stop %s again", app, err, app)
	}
	return nil
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
	cs, err := p.containers(ctx, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return false, err
	}
	var toStart []started
	for _, g := range formationGaps(a, rel, cs) {
		toStart = append(toStart, g.started)
	}
	if len(toStart) == 0 && !a.Stopped {
		return false, nil
	}
	// An explicit start gives every container new tries of the
	// formation check (restore.go).
	p.forgetRevivals(app)
	if err := p.bringUp(ctx, a, rel, toStart, log); err != nil {
		return true, err
	}
	return true, nil
}
