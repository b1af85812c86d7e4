package deploy

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"

	"github.com/berth-paas/berth/platform"
)

// Restart replaces every container of the app with a fresh one of the
// same release, with no downtime (Dokku's ps:restart).
func (d *Deployer) Restart(ctx context.Context, app string, log io.Writer) error {
	return d.apps.ChangeApp(ctx, app, "a restart", func(a *platform.App, _ func() error) error {
		rel, ok := a.CurrentRelease()
		if !ok {
			return platform.Errorf(platform.ErrNotDeployed, "%s has no release yet; push to it first", a.Name)
		}
		// Config set with --no-restart takes effect now, as a release of
		// its own, so the release list says what runs.
		if !maps.Equal(rel.Config, a.Config) && (len(rel.Config) > 0 || len(a.Config) > 0) {
			return d.configRelease(ctx, a, rel, logWriter(log))
		}
		return d.rollout(ctx, a, rel, logWriter(log))
	})
}

// Scale sets how many containers of each process type run, starting new
// ones (checked before they take traffic) and draining surplus ones
// before they stop. The release does not change.
func (d *Deployer) Scale(ctx context.Context, app string, want map[string]int, log io.Writer) error {
	log = logWriter(log)
	return d.apps.ChangeApp(ctx, app, "a scale", func(a *platform.App, save func() error) error {
		next := maps.Clone(a.Formation)
		if next == nil {
			next = map[string]int{}
		}
		maps.Copy(next, want)
		if err := d.apps.CheckFormation(app, next, "ps:scale"); err != nil {
			return err
		}
		rel, deployed := a.CurrentRelease()
		if !deployed {
			// Set up before the first deploy (Dokku allows it): the
			// formation is recorded, and the first deploy runs it for the
			// types its release has.
			a.Formation = next
			return save()
		}
		// An image without a Procfile runs its command as any type
		// (Dokku's rule); with one, only the Procfile's types exist.
		if types := platform.ProcessTypes(rel.Processes); len(rel.Processes) > 0 || len(rel.Launch) > 0 {
			for typ := range want {
				if !slices.Contains(types, typ) {
					return fmt.Errorf("%s has no process type %q; its types are %s (from its Procfile)", app, typ, strings.Join(types, ", "))
				}
			}
		}
		return d.sched.Scale(ctx, a, rel, want, log)
	})
}

// Formation returns how many containers of each type the app runs.
func (d *Deployer) Formation(ctx context.Context, app string) (map[string]int, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return nil, err
	}
	return maps.Clone(a.Formation), nil
}

// StopApp stops every container of the app and keeps them, stopped, with
// the app's formation (Dokku's ps:stop). The route empties first, so
// requests are held and then answered 503; requests in flight may finish,
// up to wait-to-retire. The app stays stopped, across restarts of Berth,
// until StartApp or the next rollout (a deploy, ps:restart, a config
// change).
func (d *Deployer) StopApp(ctx context.Context, app string, log io.Writer) error {
	log = logWriter(log)
	return d.apps.ChangeApp(ctx, app, "a stop", func(a *platform.App, _ func() error) error {
		if _, ok := a.CurrentRelease(); !ok {
			return platform.Errorf(platform.ErrNotDeployed, "%s has no release yet; push to it first", a.Name)
		}
		return d.sched.Stop(ctx, a, log)
	})
}

// StartApp starts the app's stopped containers again, and creates those
// of its formation that are missing; each must pass its checks before it
// takes traffic (Dokku's ps:start). It reports whether anything had to
// start.
func (d *Deployer) StartApp(ctx context.Context, app string, log io.Writer) (started bool, err error) {
	log = logWriter(log)
	err = d.apps.ChangeApp(ctx, app, "a start", func(a *platform.App, _ func() error) (err error) {
		rel, ok := a.CurrentRelease()
		if !ok {
			return platform.Errorf(platform.ErrNotDeployed, "%s has no release yet; push to it first", a.Name)
		}
		started, err = d.sched.Start(ctx, a, rel, log)
		return err
	})
	return started, err
}
