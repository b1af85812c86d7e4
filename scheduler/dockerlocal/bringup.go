package dockerlocal

// Bringing stopped or missing containers of the current generation back
// (ps:start, the restore at start, the drift check), each hidden from
// routes until it passes its checks.

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// containerGoneError is a container that went away (docker rm) while
// bringUp started it: a race with whoever removed it, not the app's
// failure.
type containerGoneError struct{ err error }

func (e *containerGoneError) Error() string { return e.err.Error() }
func (e *containerGoneError) Unwrap() error { return e.err }

// bringUp starts the stopped containers among toStart and creates the
// missing ones (id empty), each hidden from routes until it passes its
// checks; then the app is marked running. A container that runs but does
// not pass, or is not checked (bringUp failed or was cancelled first), is
// stopped and never routed: a failing container must not take traffic,
// and a check pre-empted by a user command leaves nothing half-done. One
// that crashed is left to Docker's restart policy. a must be locked.
func (d *Scheduler) bringUp(ctx context.Context, a *platform.App, rel platform.Release, toStart []started, log io.Writer) error {
	app := a.Name
	cleanup := context.WithoutCancel(ctx)
	var news []started
	passed := map[string]bool{}
	defer func() {
		for _, s := range news {
			if !passed[s.id] {
				if err := d.engine.Stop(cleanup, s.id, platform.StopTimeoutOf(a, d.apps.ProcessGlobals())); err != nil && !docker.IsNotFound(err) {
					d.log.Warn("could not stop a container that did not pass its checks", "app", app, "container", s.name(app), "error", err)
				}
			}
			d.routes.Unhide(s.id)
		}
		d.routes.Refresh(cleanup, app)
	}()
	for _, s := range toStart {
		if s.id == "" {
			fmt.Fprintf(log, "-----> Creating %s.%d (it was missing)\n", s.typ, s.index)
			spec, err := d.containerSpec(a, rel, a.Generation, s.typ, s.index, s.name(app))
			if err != nil {
				return err
			}
			if s.id, err = d.engine.Create(ctx, spec); err != nil {
				return d.createError(ctx, a, rel, s, err)
			}
		} else {
			fmt.Fprintf(log, "-----> Starting %s.%d\n", s.typ, s.index)
		}
		// Hidden until it passes its checks, so no event routes it early.
		d.routes.Hide(s.id)
		news = append(news, s)
		if err := d.engine.Start(ctx, s.id); err != nil {
			if docker.IsNotFound(err) || strings.Contains(err.Error(), "marked for removal") {
				return &containerGoneError{err}
			}
			return err
		}
	}
	a.Stopped = false
	if err := d.save(cleanup, a); err != nil {
		return err
	}
	errs := d.checkEach(ctx, a, rel, news, log)
	if err := ctx.Err(); err != nil {
		return err
	}
	var ok []started
	var failed []string
	stopped := false
	for i, s := range news {
		if errs[i] != nil {
			failed = append(failed, fmt.Sprintf("%s.%d: %v", s.typ, s.index, errs[i]))
			// One that crashed is its restart policy's: Docker starts it
			// again or gives up (and the route follows it, as any
			// container Docker restarts). One that runs and failed
			// anyway (never listened, failed a check) is stopped below:
			// routed, it would take traffic it cannot serve.
			if c, err := d.engine.Inspect(cleanup, s.id); err == nil && (c.Restarting || !c.Running || c.RestartCount > 0) {
				passed[s.id] = true
			} else {
				stopped = true
			}
			continue
		}
		passed[s.id] = true
		ok = append(ok, s)
	}
	if len(failed) > 0 {
		what := "it crashed and is left to its restart policy"
		if stopped {
			fmt.Fprintf(log, "       stopped what runs but did not pass its checks; it takes no traffic\n")
			what = "what runs but failed its checks was stopped and takes no traffic"
		}
		err := fmt.Errorf("%s started, but %s; %s: see logs %s, fix and deploy, or ps:start %s", app, strings.Join(failed, "; "), what, app, app)
		if aerr := d.specs.PostDeploy(ctx, a, deployed(ok)); aerr != nil {
			err = fmt.Errorf("%w; and %w", err, aerr)
		}
		return err
	}
	if err := d.specs.PostDeploy(ctx, a, deployed(ok)); err != nil {
		return fmt.Errorf("%s started, but %w", app, err)
	}
	return nil
}

// createError says what to do when bringUp cannot create a container
// again: its image or a network it needs is gone (docker rmi, docker
// network rm), which no number of tries mends.
func (d *Scheduler) createError(ctx context.Context, a *platform.App, rel platform.Release, s started, err error) error {
	if !docker.IsNotFound(err) {
		return fmt.Errorf("creating %s.%d: %w", s.typ, s.index, err)
	}
	if _, ierr := d.engine.ImageID(ctx, rel.Image); docker.IsNotFound(ierr) {
		return fmt.Errorf("creating %s.%d: image %s is gone; redeploy with ps:rebuild %s", s.typ, s.index, rel.Image, a.Name)
	}
	return fmt.Errorf("creating %s.%d: %w; something it needs (a network?) is gone: recreate it or redeploy with ps:rebuild %s", s.typ, s.index, err, a.Name)
}

// checkEach checks every container of news on its own (checkAll stops at
// the first failure): each result says whether that container may take
// traffic.
func (d *Scheduler) checkEach(ctx context.Context, a *platform.App, rel platform.Release, news []started, log io.Writer) []error {
	errs := make([]error, len(news))
	var wg sync.WaitGroup
	lockedLog := &syncWriter{W: log}
	for i, s := range news {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.check(ctx, a, rel, s, lockedLog)
		}()
	}
	wg.Wait()
	return errs
}
