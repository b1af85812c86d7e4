package swarm

// A rollout as a new generation of services: creation, the checks of
// every new task, the switch, the drain and retirement of the old ones.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/health"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// active looks at the swarm and refuses when the engine is not a manager.
func (s *Scheduler) active(ctx context.Context) (view, error) {
	v, err := s.look(ctx)
	if err != nil {
		return v, err
	}
	if !v.active {
		return v, errNotSwarm
	}
	return v, nil
}

// create creates the service of a's type typ in generation gen.
func (s *Scheduler) create(ctx context.Context, a *platform.App, rel platform.Release, typ string, gen, replicas int) (string, error) {
	host, err := s.specs.Host(a, platform.Slot{Phase: platform.PhaseDeploy, Type: typ, Index: 1})
	if err != nil {
		return "", err
	}
	img, err := s.image(ctx, a, rel, gen)
	if err != nil {
		return "", err
	}
	var nets []string
	if s.networks != nil {
		if nets, err = s.networks(ctx, a.Name); err != nil {
			return "", err
		}
	}
	spec, err := serviceSpec(serviceInput{
		App: a, Release: rel, Image: img.ref, Networks: nets, Type: typ, Gen: gen, Replicas: replicas, Instance: s.instance(),
		Env: s.env(a, rel, typ+".1"), Host: host,
		RestartPolicy: platform.RestartPolicyOf(a, s.apps.ProcessGlobals()),
		StopTimeout:   platform.StopTimeoutOf(a, s.apps.ProcessGlobals()),
	})
	if err != nil {
		return "", err
	}
	res, err := s.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec, EncodedRegistryAuth: img.auth})
	if err != nil {
		return "", fmt.Errorf("creating the swarm service %s: %w", spec.Name, err)
	}
	return res.ID, nil
}

// setReplicas changes a service's replica count.
func (s *Scheduler) setReplicas(ctx context.Context, id string, n int) error {
	got, err := s.api.ServiceInspect(ctx, id, client.ServiceInspectOptions{})
	if err != nil {
		return err
	}
	spec := got.Service.Spec
	r := uint64(n)
	spec.Mode.Replicated = &swarm.ReplicatedService{Replicas: &r}
	_, err = s.api.ServiceUpdate(ctx, id, client.ServiceUpdateOptions{Version: got.Service.Version, Spec: spec})
	return err
}

// remove removes services, logging failures.
func (s *Scheduler) remove(ctx context.Context, ids ...string) error {
	var errs []error
	for _, id := range ids {
		if _, err := s.api.ServiceRemove(ctx, id, client.ServiceRemoveOptions{}); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// Rollout runs rel as a's formation in a new generation of services: they
// start beside the old ones, each task passes its checks, then the record
// is saved and the route moves, and the old tasks drain before their
// services go. A failure before the switch removes the new services: the
// old release serves on, its route unchanged.
func (s *Scheduler) Rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	v, err := s.active(ctx)
	if err != nil {
		return err
	}
	if what := unsupported(a); what != "" {
		return fmt.Errorf("the swarm scheduler does not apply %s yet: remove them, or scheduler:set %s selected docker-local", what, a.Name)
	}
	gen := a.Generation + 1
	types, formation, err := platform.PlanRollout(s.specs, s.checkFormation, a, rel)
	if err != nil {
		return err
	}
	old := v.of(a.Name, 0)
	var created []string
	fail := func(err error) error {
		if rerr := s.remove(cleanup, created...); rerr != nil {
			s.log.Warn("swarm: removing the services of a failed rollout", "app", a.Name, "error", rerr)
		}
		return err
	}
	platform.SetStep(ctx, "service creation")
	since := time.Now()
	for _, typ := range types {
		fmt.Fprintf(log, "-----> Starting %s=%d of v%d as the swarm service %s (PORT=%d)\n", typ, formation[typ], rel.Version, serviceName(a.Name, typ, gen), a.ProxyPort(rel))
		id, err := s.create(cleanup, a, rel, typ, gen, formation[typ])
		if err != nil {
			return fail(err)
		}
		created = append(created, id)
	}
	checked, err := s.awaitChecked(ctx, a, rel, gen, nil, since, log)
	if err != nil {
		return fail(err)
	}
	s.markChecked(checked...)
	platform.SetStep(ctx, "the switch to the new tasks")
	// Past this point the rollout finishes whatever happens to ctx.
	if !slices.ContainsFunc(a.Releases, func(r platform.Release) bool { return r.Version == rel.Version }) {
		a.Releases = append(a.Releases, rel)
	}
	a.Current, a.Generation, a.Formation = rel.Version, gen, formation
	a.Stopped = false
	if err := s.save(cleanup, a); err != nil {
		return fail(err)
	}
	if _, err := s.look(cleanup); err != nil {
		s.log.Warn("swarm: looking at the tasks", "error", err)
	}
	if err := s.routes.Refresh(cleanup, a.Name); err != nil {
		s.log.Warn("route switch", "app", a.Name, "error", err)
	}
	fmt.Fprintf(log, "-----> v%d of %s is serving on %s\n", rel.Version, a.Name, strings.Join(s.hosts(a), ", "))
	s.retire(cleanup, a, old, log)
	for _, err := range s.rolledOut(cleanup, a, func() error { return s.save(cleanup, a) }, log) {
		s.log.Warn("after a rollout", "app", a.Name, "error", err)
	}
	return nil
}

// retire drains the tasks of services and removes the services.
func (s *Scheduler) retire(ctx context.Context, a *platform.App, svcs []service, log io.Writer) {
	if len(svcs) == 0 {
		return
	}
	var targets, ids []string
	for _, sv := range svcs {
		ids = append(ids, sv.id)
		for _, t := range sv.tasks {
			if t.addr != "" {
				targets = append(targets, t.addr)
			}
		}
	}
	fmt.Fprintf(log, "-----> Retiring %d old swarm service(s)\n", len(svcs))
	limit := platform.WaitToRetireOf(a, s.apps.ProcessGlobals())
	if !s.drain(ctx, targets, limit, log) {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", limit)
	}
	if err := s.remove(ctx, ids...); err != nil {
		s.log.Warn("swarm: removing old services", "app", a.Name, "error", err)
	}
}

// drain waits until no request is in flight to any of targets, for at
// least platform.DrainDelay and at most limit; it reports whether they
// drained.
func (s *Scheduler) drain(ctx context.Context, targets []string, limit time.Duration, log io.Writer) bool {
	return health.Drain(ctx, &s.table.InFlight, targets, limit, log)
}

// awaitChecked waits until every service of a's generation gen runs its
// replicas and each of their tasks not in skip passed its checks; it
// returns the checked tasks. A task that fails (Swarm could not start it,
// it exited, it failed a check) fails the wait.
func (s *Scheduler) awaitChecked(ctx context.Context, a *platform.App, rel platform.Release, gen int, skip map[string]bool, since time.Time, log io.Writer) ([]string, error) {
	platform.SetStep(ctx, "the tasks' checks")
	deadline := time.Now().Add(platform.ReadyTimeout)
	started := map[string]bool{}
	var mu sync.Mutex
	var done []string
	var first error
	var wg sync.WaitGroup
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	lockedLog := &syncWriter{W: log}
	// stop ends the wait with err, unless a check failed first: its
	// failure cancelled ctx, and says what went wrong. err is recorded
	// before ctx is cancelled: the checks still running then fail with
	// "context canceled", which must not stand in for the cause (a
	// crashed task, seen by this loop, came out as "web.2: context
	// canceled").
	stop := func(err error) ([]string, error) {
		mu.Lock()
		if first == nil {
			first = err
		}
		mu.Unlock()
		cancel()
		wg.Wait()
		mu.Lock()
		defer mu.Unlock()
		if first != nil {
			return nil, first
		}
		return nil, err
	}
	for {
		v, err := s.look(ctx)
		if err != nil {
			return stop(err)
		}
		ready := true
		for _, sv := range v.of(a.Name, gen) {
			if err := taskFailed(ctx, s.api, sv, since); err != nil {
				return stop(err)
			}
			running := 0
			for _, t := range sv.tasks {
				if t.state == swarm.TaskStateRunning {
					running++
				}
				if t.state != swarm.TaskStateRunning || skip[t.id] || started[t.id] {
					continue
				}
				started[t.id] = true
				wg.Add(1)
				go func() {
					defer wg.Done()
					err := s.checkTask(ctx, a, rel, sv, t, lockedLog)
					mu.Lock()
					defer mu.Unlock()
					if err != nil && first == nil {
						first = fmt.Errorf("%s.%d: %w", sv.typ, t.slot, err)
						cancel()
					}
					if err == nil {
						done = append(done, t.id)
					}
				}()
			}
			if running < sv.replicas {
				ready = false
			}
		}
		mu.Lock()
		n, ferr := len(done), first
		mu.Unlock()
		if ferr != nil {
			return stop(ferr)
		}
		if ready && n == countNew(v.of(a.Name, gen), skip) {
			wg.Wait()
			mu.Lock()
			defer mu.Unlock()
			if first != nil {
				return nil, first
			}
			return done, nil
		}
		if time.Now().After(deadline) {
			return stop(fmt.Errorf("the tasks of %s did not all run and pass their checks within %s (docker service ps %s)", a.Name, platform.ReadyTimeout, serviceName(a.Name, "web", gen)))
		}
		if err := sleep(ctx, 200*time.Millisecond); err != nil {
			return stop(err)
		}
	}
}

// countNew counts the running tasks of svcs not in skip.
func countNew(svcs []service, skip map[string]bool) int {
	n := 0
	for _, sv := range svcs {
		for _, t := range sv.tasks {
			if t.state == swarm.TaskStateRunning && !skip[t.id] {
				n++
			}
		}
	}
	return n
}

// taskFailed reports a task of sv made since then that failed or was
// rejected (Swarm replaces such a task, and its desired state is then no
// longer running, so the service's history is read; older tasks there
// are not the change's: a crash Swarm already answered).
func taskFailed(ctx context.Context, api API, sv service, since time.Time) error {
	f := client.Filters{}
	f.Add("service", sv.id)
	res, err := api.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return err
	}
	for _, t := range res.Items {
		if t.CreatedAt.Before(since) {
			continue
		}
		switch t.Status.State {
		case swarm.TaskStateFailed, swarm.TaskStateRejected:
			why := t.Status.Err
			if why == "" {
				why = t.Status.Message
			}
			return fmt.Errorf("%s.%d: the task %s: %s (see docker service logs %s)", sv.typ, t.Slot, t.Status.State, why, sv.name)
		}
	}
	return nil
}
