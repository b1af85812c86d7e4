package swarm

// The platform's calls: a rollout as a new generation of services, scale
// as replicas, stop and start as zero replicas and back, removal.

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/platform"
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
	spec, err := serviceSpec(serviceInput{
		App: a, Release: rel, Type: typ, Gen: gen, Replicas: replicas, Instance: s.instance(),
		Env: s.env(a, rel, typ+".1"), Host: host,
		RestartPolicy: platform.RestartPolicyOf(a, s.apps.ProcessGlobals()),
		StopTimeout:   platform.StopTimeoutOf(a, s.apps.ProcessGlobals()),
	})
	if err != nil {
		return "", err
	}
	res, err := s.api.ServiceCreate(ctx, client.ServiceCreateOptions{Spec: spec})
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
	types := platform.TypesToRun(rel, a.Formation)
	formation := platform.NextFormation(a.Formation, types, rel.AppJSON)
	if err := s.specs.CheckTypes(a, types); err != nil {
		return err
	}
	if err := s.checkFormation(a.Name, formation, fmt.Sprintf("the formation of v%d", rel.Version)); err != nil {
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
	start := time.Now()
	if err := sleep(ctx, platform.DrainDelay); err != nil {
		return false
	}
	told := false
	for {
		var busy int64
		for _, t := range targets {
			busy += s.table.InFlight.Count(t)
		}
		if busy == 0 {
			return true
		}
		if !told {
			fmt.Fprintf(log, "       waiting for %d in-flight request(s) to finish\n", busy)
			told = true
		}
		if time.Since(start) >= limit {
			return false
		}
		if err := sleep(ctx, 50*time.Millisecond); err != nil {
			return false
		}
	}
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
	lockedLog := &syncWriter{w: log}
	// stop ends the wait with err, unless a check failed first: its
	// failure cancelled ctx, and says what went wrong.
	stop := func(err error) ([]string, error) {
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

// Scale sets the replicas of a's current generation's services to want,
// checking new tasks before they take traffic. Which tasks a lower count
// stops is Swarm's choice: they leave the route at the next look.
func (s *Scheduler) Scale(ctx context.Context, a *platform.App, rel platform.Release, want map[string]int, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	v, err := s.active(ctx)
	if err != nil {
		return err
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

// checkTask waits until task t of service sv is ready to take traffic:
// its app.json checks pass, or, without any, its port accepts
// connections (web) and it stays up for platform.ReadyUptime.
func (s *Scheduler) checkTask(ctx context.Context, a *platform.App, rel platform.Release, sv service, t task, log io.Writer) error {
	if a.Checks.IsSkipped(sv.typ) || a.Checks.IsDisabled(sv.typ) {
		fmt.Fprintf(log, "       %s.%d: checks skipped\n", sv.typ, t.slot)
		return nil
	}
	port := a.ProxyPort(rel)
	checks := rel.AppJSON.DeployChecks(sv.typ)
	if len(checks) == 0 {
		return s.defaultCheck(ctx, sv, t, port, log)
	}
	for _, hc := range checks {
		if hc.Port != 0 && hc.Port != port {
			return fmt.Errorf("check %q: a swarm task publishes only the app's port %d, not %d", hc.Describe(), port, hc.Port)
		}
		if err := s.runCheck(ctx, a, sv, t, hc, log); err != nil {
			return err
		}
	}
	return nil
}

// current re-reads task t of sv: its state and address now.
func (s *Scheduler) current(ctx context.Context, sv service, t task) (task, error) {
	f := client.Filters{}
	f.Add("service", sv.id)
	res, err := s.api.TaskList(ctx, client.TaskListOptions{Filters: f})
	if err != nil {
		return t, err
	}
	s.mu.Lock()
	addr := t.addr
	s.mu.Unlock()
	for _, x := range res.Items {
		if x.ID != t.id {
			continue
		}
		host := ""
		if addr != "" {
			host, _, _ = strings.Cut(addr, ":")
		}
		n := taskOf(x, host)
		if n.addr == "" {
			n.addr = addr
		}
		if x.DesiredState != swarm.TaskStateRunning || n.state != swarm.TaskStateRunning {
			why := n.message
			if why == "" {
				why = string(n.state)
			}
			return n, fmt.Errorf("the task stopped (%s); see docker service logs %s", why, sv.name)
		}
		return n, nil
	}
	return t, fmt.Errorf("the task is gone; see docker service ps %s", sv.name)
}

func (s *Scheduler) defaultCheck(ctx context.Context, sv service, t task, port int, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, platform.ReadyTimeout)
	defer cancel()
	var upSince time.Time
	if sv.typ != "web" {
		upSince = time.Now()
	}
	for {
		cur, err := s.current(ctx, sv, t)
		if err != nil {
			return err
		}
		if upSince.IsZero() && cur.addr != "" && answers(ctx, cur.addr, time.Second) {
			upSince = time.Now()
			fmt.Fprintf(log, "       %s.%d accepts connections on port %d (%s)\n", sv.typ, t.slot, port, cur.addr)
		}
		if !upSince.IsZero() && time.Since(upSince) >= platform.ReadyUptime {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the task did not answer on port %d within %s: make the app serve HTTP on $PORT (docker service logs %s)", port, platform.ReadyTimeout, sv.name)
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

// runCheck runs one app.json check against task t.
func (s *Scheduler) runCheck(ctx context.Context, a *platform.App, sv service, t task, hc platform.Healthcheck, log io.Writer) error {
	if hc.InitialDelay > 0 {
		if err := sleep(ctx, time.Duration(hc.InitialDelay)*time.Second); err != nil {
			return err
		}
	}
	var reason string
	for attempt := 1; attempt <= hc.AttemptCount(); attempt++ {
		cur, err := s.current(ctx, sv, t)
		if err != nil {
			return err
		}
		reason = probe(ctx, cur, hc, s.checkHost(a))
		if reason == "" {
			fmt.Fprintf(log, "       %s.%d: check %q passed\n", sv.typ, t.slot, hc.Describe())
			return nil
		}
		fmt.Fprintf(log, "       %s.%d: check %q attempt %d/%d failed: %s\n", sv.typ, t.slot, hc.Describe(), attempt, hc.AttemptCount(), reason)
		if attempt < hc.AttemptCount() {
			if err := sleep(ctx, hc.WaitDuration()); err != nil {
				return err
			}
		}
	}
	return fmt.Errorf("check %q failed after %d attempts: %s (docker service logs %s)", hc.Describe(), hc.AttemptCount(), reason, sv.name)
}
