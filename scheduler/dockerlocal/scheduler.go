// Package dockerlocal is Berth's scheduler of apps on this host's Docker
// engine (Dokku's scheduler-docker-local): it implements
// platform.Scheduler with one container per process (APP.TYPE.INDEX,
// labelled with the app, type, release, generation, index and port).
// It owns the rollout (new generation beside the old one, checks, the
// switch, drain and retire: rollout.go), ps:scale, ps:stop and ps:start
// of the containers (this file), and the formation restore at start and
// the drift check with its tries and notes (formation.go). It knows the
// app core only through platform.SchedulerDeps: the engine, the routing
// table and route controller, the spec contributors, the record's save,
// the release environment, the hosts, the host's limits and the
// OnRolledOut hooks; it follows the apps' lives through OnAppDestroyed
// and OnAppRenamed.
//
// A second scheduler (Swarm, issue 18) is a package beside this one that
// implements platform.Scheduler's nine methods in its own terms: Rollout
// updates one service per process type (replicas = the formation,
// start-first) in a new generation and runs the same checks
// (platform.AppJSON.DeployChecks, platform.Healthcheck) against each new
// task's address before it saves the record (deps.Save) and moves the
// route (deps.Routes), then drains the old tasks (deps.Table's in-flight
// counts) and runs deps.RolledOut; Scale sets replicas; Stop and Start
// scale to zero and back; Remove removes the services; Run/Close follow
// the tasks (polling: Swarm sends no task events) and restore what drifted;
// Preempt and FormationNote are its background work's. The platform,
// ps:report's figures aside (they read containers today), does not change.
package dockerlocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"maps"
	"net"
	"slices"
	"sort"
	"strconv"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
)

// Scheduler runs apps as containers on one Docker engine. Make it with
// New, from the platform's SchedulerDeps.
type Scheduler struct {
	apps           platform.SchedulerApps
	engine         platform.Engine
	table          *routing.Table
	routes         *routes.Controller
	specs          platform.Specs
	log            *slog.Logger
	save           func(ctx context.Context, a *platform.App) error
	env            func(a *platform.App, rel platform.Release, dyno string) []string
	hosts          func(a *platform.App) []string
	checkHost      func(a *platform.App) string
	checkFormation func(app string, formation map[string]int, what string) error
	rolledOut      func(ctx context.Context, a *platform.App, save func() error, log io.Writer) []error

	// drift is the formation restore and drift check (formation.go).
	drift formationWatch
}

// Config is what a Scheduler needs beyond the platform's SchedulerDeps.
type Config struct {
	// FormationCheckInterval is how often the drift check looks (0:
	// never; negative: DefaultFormationCheckInterval).
	FormationCheckInterval time.Duration
	// MaxRevivals is how many times the drift check starts one container
	// again before it only reports it (negative: DefaultMaxRevivals).
	MaxRevivals int
}

// New returns the scheduler of the platform that gives it deps; it
// follows the apps' lives through deps.Apps's hooks (an app destroyed or
// renamed loses its formation check's tries and note).
func New(deps platform.SchedulerDeps, cfg Config) *Scheduler {
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	d := &Scheduler{
		apps: deps.Apps, engine: deps.Engine, table: deps.Table, routes: deps.Routes,
		specs: deps.Specs, log: log, save: deps.Save, env: deps.Env, hosts: deps.Hosts, checkHost: deps.CheckHost,
		checkFormation: deps.CheckFormation, rolledOut: deps.RolledOut,
	}
	d.drift = formationWatch{kick: make(chan struct{}, 1)}
	d.SetFormationCheck(cfg.FormationCheckInterval, cfg.MaxRevivals)
	// The formation check's tries and note of an app must not outlive it.
	deps.Hooks.OnAppDestroyed(func(_ context.Context, app string) { d.forgetRevivals(app) })
	deps.Hooks.OnAppRenamed(func(_ context.Context, from, to string) {
		d.forgetRevivals(from)
		d.forgetRevivals(to)
	})
	return d
}

var _ platform.Scheduler = (*Scheduler)(nil)

// Scale sets how many containers of each process type of want run in a's
// current generation: new ones are checked before they take traffic,
// surplus ones drained before they stop (ps:scale).
func (d *Scheduler) Scale(ctx context.Context, a *platform.App, rel platform.Release, want map[string]int, log io.Writer) error {
	app := a.Name
	cleanup := context.WithoutCancel(ctx)
	for _, typ := range slices.Sorted(maps.Keys(want)) {
		q := want[typ]
		running, err := d.containers(ctx, app, docker.LabelProcess+"="+typ, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
		if err != nil {
			return err
		}
		sort.Slice(running, func(i, j int) bool { return index(running[i]) < index(running[j]) })
		// By index, not by count: a container removed behind Berth's back
		// (docker rm) leaves a hole, which a scale-up fills (the next
		// index's name is taken) and a scale-down does not count as a
		// container to keep.
		present := map[int]bool{}
		var surplus []docker.Container
		for _, c := range running {
			if index(c) > q {
				surplus = append(surplus, c)
			} else {
				present[index(c)] = true
			}
		}
		var missing []int
		for i := 1; i <= q; i++ {
			if !present[i] {
				missing = append(missing, i)
			}
		}
		switch {
		case len(missing) > 0 && a.Stopped:
			// A stopped app starts nothing: the formation is recorded,
			// and ps:start runs it.
			fmt.Fprintf(log, "-----> %s is stopped: %s=%d takes effect at ps:start %s\n", app, typ, q, app)
		case len(missing) > 0:
			var news []started
			for _, i := range missing {
				s := started{typ: typ, index: i}
				var spec docker.RunSpec
				if spec, err = d.containerSpec(a, rel, a.Generation, typ, i, s.name(app)); err != nil {
					break
				}
				if s.id, err = d.engine.Create(ctx, spec); err != nil {
					break
				}
				// Hidden before it starts, so no event routes it early.
				d.routes.Hide(s.id)
				news = append(news, s)
				if err = d.engine.Start(ctx, s.id); err != nil {
					break
				}
				fmt.Fprintf(log, "-----> Starting %s.%d\n", typ, i)
			}
			if err == nil {
				err = d.checkAll(ctx, a, rel, news, log)
			}
			if err == nil {
				err = d.specs.PostDeploy(ctx, a, deployed(news))
			}
			for _, s := range news {
				if err != nil {
					d.removeForGood(cleanup, s.id)
				}
				d.routes.Unhide(s.id)
			}
			if err != nil {
				return fmt.Errorf("scaling %s to %d: %w", typ, q, err)
			}
		}
		if len(surplus) > 0 {
			for _, c := range surplus {
				d.routes.Hide(c.ID)
			}
			d.routes.Refresh(cleanup, app)
			fmt.Fprintf(log, "-----> Stopping %d %s container(s)\n", len(surplus), typ)
			d.retire(cleanup, a, surplus, log)
			for _, c := range surplus {
				d.routes.Unhide(c.ID)
			}
		}
		if a.Formation == nil {
			a.Formation = map[string]int{}
		}
		a.Formation[typ] = q
		if err := d.save(cleanup, a); err != nil {
			return err
		}
		if err := d.routes.Refresh(cleanup, app); err != nil {
			return err
		}
	}
	return nil
}

// Stop marks a stopped, then takes its running containers out of the
// route, drains and stops them; they stay, stopped, for Start (ps:stop).
func (d *Scheduler) Stop(ctx context.Context, a *platform.App, log io.Writer) error {
	app := a.Name
	cleanup := context.WithoutCancel(ctx)
	cs, err := d.containers(ctx, app)
	if err != nil {
		return err
	}
	// Recorded first: the containers' exits that follow are the app
	// stopping, not failing.
	a.Stopped = true
	if err := d.save(ctx, a); err != nil {
		return err
	}
	var running []docker.Container
	var targets []string
	for _, c := range cs {
		if c.Running || c.Restarting {
			running = append(running, c)
			d.routes.Hide(c.ID)
			if c.IP.IsValid() && c.Labels[docker.LabelPort] != "" {
				targets = append(targets, net.JoinHostPort(c.IP.String(), c.Labels[docker.LabelPort]))
			}
		}
	}
	defer func() {
		for _, c := range running {
			d.routes.Unhide(c.ID)
		}
		d.routes.Refresh(cleanup, app)
	}()
	if err := d.routes.Refresh(cleanup, app); err != nil {
		return err
	}
	if len(running) == 0 {
		fmt.Fprintf(log, "-----> %s runs no container; it stays stopped\n", app)
		return nil
	}
	fmt.Fprintf(log, "-----> Stopping %d container(s) of %s\n", len(running), app)
	if !d.drain(cleanup, targets, platform.WaitToRetireOf(a, d.apps.ProcessGlobals()), log) {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", platform.WaitToRetireOf(a, d.apps.ProcessGlobals()))
	}
	var wg sync.WaitGroup
	errs := make([]error, len(running))
	for i, c := range running {
		wg.Add(1)
		go func() {
			defer wg.Done()
			errs[i] = d.engine.Stop(cleanup, c.ID, platform.StopTimeoutOf(a, d.apps.ProcessGlobals()))
		}()
	}
	wg.Wait()
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping %s: %w; run ps:stop %s again", app, err, app)
	}
	return nil
}

// Start starts a's stopped containers again, and creates those of its
// formation that are missing; each must pass its checks before it takes
// traffic (ps:start). It reports whether anything had to start.
func (d *Scheduler) Start(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) (bool, error) {
	app := a.Name
	cs, err := d.containers(ctx, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return false, err
	}
	var toStart []started
	for _, g := range platform.FormationGaps(a, rel, cs) {
		toStart = append(toStart, fromGap(g))
	}
	if len(toStart) == 0 && !a.Stopped {
		return false, nil
	}
	// An explicit start gives every container new tries of the
	// formation check (formation.go).
	d.forgetRevivals(app)
	if err := d.bringUp(ctx, a, rel, toStart, log); err != nil {
		return true, err
	}
	return true, nil
}

// Remove removes every container of a: with grace each is stopped first
// and failures are logged (a rename's old name); without, every
// container labelled with the app (a leftover one-off that carries its
// image's label too) is removed at once (apps:destroy).
func (d *Scheduler) Remove(ctx context.Context, a *platform.App, grace bool) error {
	if grace {
		cs, _ := d.containers(ctx, a.Name)
		for _, c := range cs {
			d.stopAndRemove(ctx, c.ID, platform.StopTimeoutOf(a, d.apps.ProcessGlobals()))
		}
		return nil
	}
	ids, err := d.engine.List(ctx, docker.LabelApp+"="+a.Name)
	if err != nil {
		return err
	}
	for _, id := range ids {
		if err := d.engine.Remove(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

func index(c docker.Container) int {
	n, _ := strconv.Atoi(c.Labels[docker.LabelIndex])
	return n
}
