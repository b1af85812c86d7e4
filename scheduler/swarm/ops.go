package swarm

// The platform's calls on what runs: ps:scale as replicas (a scale-down as
// a new generation), ps:stop and ps:start as zero replicas and back,
// removal.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// Scale sets the replicas of a's current generation's services to want,
// checking new tasks before they take traffic. A lower count is a new
// generation (scaleDown): which tasks a lower replica count stops is
// Swarm's choice, made when it stops them, so Berth could not take them
// out of the route and drain them first.
func (s *Scheduler) Scale(ctx context.Context, a *platform.App, rel platform.Release, want map[string]int, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	v, err := s.active(ctx)
	if err != nil {
		return err
	}
	if !a.Stopped {
		for _, sv := range v.of(a.Name, a.Generation) {
			if q, ok := want[sv.typ]; ok && q < sv.replicas {
				return s.scaleDown(ctx, a, rel, want, log)
			}
		}
	}
	for _, typ := range slices.Sorted(maps.Keys(want)) {
		q := want[typ]
		since := time.Now()
		svcs := v.of(a.Name, a.Generation)
		i := slices.IndexFunc(svcs, func(sv service) bool { return sv.typ == typ })
		switch {
		case a.Stopped:
			fmt.Fprintf(log, "-----> %s is stopped: %s=%d takes effect at ps:start %s\n", a.Name, typ, q, a.Name)
		case i < 0:
			fmt.Fprintf(log, "-----> Starting %s=%d as the swarm service %s\n", typ, q, serviceName(a.Name, typ, a.Generation))
			if _, err := s.create(cleanup, a, rel, typ, a.Generation, q); err != nil {
				return err
			}
		default:
			fmt.Fprintf(log, "-----> Scaling %s from %d to %d\n", typ, svcs[i].replicas, q)
			if err := s.setReplicas(cleanup, svcs[i].id, q); err != nil {
				return fmt.Errorf("scaling %s to %d: %w", typ, q, err)
			}
		}
		if !a.Stopped {
			if err := s.checkNew(ctx, a, rel, since, log); err != nil {
				return fmt.Errorf("scaling %s to %d: %w", typ, q, err)
			}
		}
		if a.Formation == nil {
			a.Formation = map[string]int{}
		}
		a.Formation[typ] = q
		if err := s.save(cleanup, a); err != nil {
			return err
		}
		s.look(cleanup)
		if err := s.routes.Refresh(cleanup, a.Name); err != nil {
			return err
		}
	}
	return nil
}

// scaleDown runs a's formation with want in a new generation of its
// services (a rollout of its current release): the new tasks are checked,
// the route moves, and every old task drains before its service goes, so
// no request is cut. The price is that every task of the app is replaced.
func (s *Scheduler) scaleDown(ctx context.Context, a *platform.App, rel platform.Release, want map[string]int, log io.Writer) error {
	prev := maps.Clone(a.Formation)
	if a.Formation == nil {
		a.Formation = map[string]int{}
	}
	maps.Copy(a.Formation, want)
	fmt.Fprintf(log, "-----> Scaling down on swarm: a new generation of %s's services, so that the tasks that go drain first\n", a.Name)
	if err := s.Rollout(ctx, a, rel, log); err != nil {
		a.Formation = prev
		return err
	}
	return nil
}

// checkNew waits for the current generation's tasks that were not
// checked yet, checks them and marks them routable.
func (s *Scheduler) checkNew(ctx context.Context, a *platform.App, rel platform.Release, since time.Time, log io.Writer) error {
	s.mu.Lock()
	skip := maps.Clone(s.checked)
	s.mu.Unlock()
	ids, err := s.awaitChecked(ctx, a, rel, a.Generation, skip, since, log)
	if err != nil {
		return err
	}
	s.markChecked(ids...)
	return nil
}

// Stop marks a stopped, takes its tasks out of the route, drains them,
// and scales its services to zero (they stay, for Start).
func (s *Scheduler) Stop(ctx context.Context, a *platform.App, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	v, err := s.active(ctx)
	if err != nil {
		return err
	}
	a.Stopped = true
	if err := s.save(ctx, a); err != nil {
		return err
	}
	svcs := v.of(a.Name, 0)
	var targets []string
	for _, sv := range svcs {
		for _, t := range sv.tasks {
			s.routes.Hide(t.id)
			if t.addr != "" {
				targets = append(targets, t.addr)
			}
		}
	}
	s.routes.Refresh(cleanup, a.Name)
	fmt.Fprintf(log, "-----> Stopping the swarm services of %s\n", a.Name)
	limit := platform.WaitToRetireOf(a, s.apps.ProcessGlobals())
	if !s.drain(cleanup, targets, limit, log) {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", limit)
	}
	var errs []error
	for _, sv := range svcs {
		if err := s.setReplicas(cleanup, sv.id, 0); err != nil {
			errs = append(errs, err)
		}
		for _, t := range sv.tasks {
			s.routes.Unhide(t.id)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("stopping %s: %w; run ps:stop %s again", a.Name, err, a.Name)
	}
	// Swarm stops the tasks after the update returns: ps:stop returns
	// once they have, as docker-local's does once its containers have.
	if err := s.awaitStopped(cleanup, svcs, platform.StopTimeoutOf(a, s.apps.ProcessGlobals())+10*time.Second); err != nil {
		return fmt.Errorf("stopping %s: %w; run ps:stop %s again", a.Name, err, a.Name)
	}
	return nil
}

// awaitStopped waits up to limit until no task of svcs runs.
func (s *Scheduler) awaitStopped(ctx context.Context, svcs []service, limit time.Duration) error {
	deadline := time.Now().Add(limit)
	for _, sv := range svcs {
		f := client.Filters{}
		f.Add("service", sv.id)
		for {
			res, err := s.api.TaskList(ctx, client.TaskListOptions{Filters: f})
			if err != nil {
				return err
			}
			if !slices.ContainsFunc(res.Items, func(t swarm.Task) bool { return t.Status.State == swarm.TaskStateRunning }) {
				break
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("tasks of %s still run after %s (docker service ps %s)", sv.name, limit.Round(time.Second), sv.name)
			}
			if err := sleep(ctx, 200*time.Millisecond); err != nil {
				return err
			}
		}
	}
	return nil
}

// Start scales a's current generation's services back to its formation
// (creating those that are missing); each new task is checked before it
// takes traffic. It reports whether anything had to start.
func (s *Scheduler) Start(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) (bool, error) {
	cleanup := context.WithoutCancel(ctx)
	v, err := s.active(ctx)
	if err != nil {
		return false, err
	}
	svcs := v.of(a.Name, a.Generation)
	changed := false
	since := time.Now()
	for _, typ := range platform.TypesToRun(rel, a.Formation) {
		q := a.Formation[typ]
		i := slices.IndexFunc(svcs, func(sv service) bool { return sv.typ == typ })
		switch {
		case i < 0:
			fmt.Fprintf(log, "-----> Creating the swarm service of %s (it was missing)\n", typ)
			if _, err := s.create(cleanup, a, rel, typ, a.Generation, q); err != nil {
				return true, err
			}
			changed = true
		case svcs[i].replicas != q:
			fmt.Fprintf(log, "-----> Starting %s=%d\n", typ, q)
			if err := s.setReplicas(cleanup, svcs[i].id, q); err != nil {
				return true, err
			}
			changed = true
		}
	}
	if !changed && !a.Stopped {
		return false, nil
	}
	a.Stopped = false
	if err := s.save(cleanup, a); err != nil {
		return true, err
	}
	err = s.checkNew(ctx, a, rel, since, log)
	s.look(cleanup)
	s.routes.Refresh(cleanup, a.Name)
	return true, err
}

// Remove removes every service of a. An engine that is not a swarm
// manager has none.
func (s *Scheduler) Remove(ctx context.Context, a *platform.App, grace bool) error {
	v, err := s.look(ctx)
	if err != nil || !v.active {
		if grace {
			return nil
		}
		return err
	}
	var ids []string
	for _, sv := range v.of(a.Name, 0) {
		ids = append(ids, sv.id)
	}
	err = s.remove(ctx, ids...)
	if grace && err != nil {
		s.log.Warn("swarm: removing an app's services", "app", a.Name, "error", err)
		return nil
	}
	return err
}
