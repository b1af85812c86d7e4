package dockerlocal

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/scheduler/health"
)

// started is one container a rollout started.
type started struct {
	id    string
	typ   string
	index int
}

// name is its container's name, APP.TYPE.INDEX: platform.Gap's, so that
// the scheduler and ps:report name a slot the same way.
func (s started) name(app string) string { return platform.Gap{Type: s.typ, Index: s.index}.Name(app) }

// fromGap is the container of g to start (or create: id empty).
func fromGap(g platform.Gap) started { return started{id: g.ID, typ: g.Type, index: g.Index} }

// deployed is news as the spec contributors' post-deploy step takes them.
func deployed(news []started) []platform.Deployed {
	out := make([]platform.Deployed, len(news))
	for i, s := range news {
		out[i] = platform.Deployed{ID: s.id, Type: s.typ, Index: s.index}
	}
	return out
}

// Rollout replaces the app's containers with containers of rel, in a new
// generation: start them beside the old ones, check them, record the
// release and generation (which moves the route), then retire the old
// containers once their in-flight requests finish. a must be locked by
// the caller; on success a is saved with rel current.
func (d *Scheduler) Rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	cleanup := context.WithoutCancel(ctx)
	gen := a.Generation + 1
	types, formation, err := platform.PlanRollout(d.specs, d.checkFormation, a, rel)
	if err != nil {
		return err
	}

	old, err := d.containers(ctx, a.Name)
	if err != nil {
		return err
	}
	// Types whose checks are disabled are replaced with downtime, as in
	// Dokku: their old containers go before the new ones start.
	for _, c := range old {
		if typ := c.Labels[docker.LabelProcess]; a.Checks.IsDisabled(typ) {
			fmt.Fprintf(log, "-----> Checks are disabled for %s: stopping %s first (downtime)\n", typ, c.Name)
			d.stopAndRemove(ctx, c.ID, platform.StopTimeoutOf(a, d.apps.ProcessGlobals()))
		}
	}

	var news []started
	fail := func(err error) error {
		for _, s := range news {
			d.removeForGood(cleanup, s.id)
		}
		return err
	}
	suffix := randomSuffix()
	platform.SetStep(ctx, "container creation")
	for _, typ := range types {
		for i := 1; i <= formation[typ]; i++ {
			s := started{typ: typ, index: i}
			fmt.Fprintf(log, "-----> Starting %s.%d of v%d (PORT=%d)\n", typ, i, rel.Version, a.ProxyPort(rel))
			spec, err := d.containerSpec(a, rel, gen, typ, i, s.name(a.Name)+"."+suffix)
			if err != nil {
				return fail(err)
			}
			// Made and started whatever happens to ctx, then given up
			// if ctx ended meanwhile: a request cut off halfway would
			// leave a container whose ID no one knows (a Created one,
			// until the next rollout).
			s.id, err = d.engine.Run(cleanup, spec)
			if err != nil {
				return fail(err)
			}
			news = append(news, s)
			if ctx.Err() != nil {
				return fail(context.Cause(ctx))
			}
		}
	}
	if err := d.checkAll(ctx, a, rel, news, log); err != nil {
		return fail(err)
	}
	platform.SetStep(ctx, "the switch to the new containers")
	if err := d.specs.PostDeploy(ctx, a, deployed(news)); err != nil {
		return fail(err)
	}
	// Past this point the rollout finishes whatever happens to ctx: the
	// record and the route move together.

	// Record first, then move the route: a crash in between restarts into
	// the new generation, whose containers run; the old ones are removed
	// at start.
	if !slices.ContainsFunc(a.Releases, func(r platform.Release) bool { return r.Version == rel.Version }) {
		a.Releases = append(a.Releases, rel)
	}
	a.Current, a.Generation, a.Formation = rel.Version, gen, formation
	a.Stopped = false // a stopped app runs again from its next rollout on
	if err := d.save(cleanup, a); err != nil {
		return fail(err)
	}
	if err := d.routes.Refresh(cleanup, a.Name); err != nil {
		d.log.Warn("route switch", "app", a.Name, "error", err)
	}
	fmt.Fprintf(log, "-----> v%d of %s is serving on %s\n", rel.Version, a.Name, strings.Join(d.hosts(a), ", "))

	d.retire(cleanup, a, old, log)
	for _, s := range news {
		if err := d.engine.Rename(cleanup, s.id, s.name(a.Name)); err != nil {
			d.log.Warn("rename container", "app", a.Name, "error", err)
		}
	}
	// The new release serves: what follows it runs (package disk removes
	// the releases beyond the app's retention, with their images). A
	// failure there costs disk, not the rollout.
	for _, err := range d.rolledOut(cleanup, a, func() error { return d.save(cleanup, a) }, log) {
		d.log.Warn("after a rollout", "app", a.Name, "error", err)
	}
	return nil
}

// containerSpec says how to run container index of process typ.
func (d *Scheduler) containerSpec(a *platform.App, rel platform.Release, gen int, typ string, index int, name string) (docker.RunSpec, error) {
	host, err := d.specs.Host(a, platform.Slot{Phase: platform.PhaseDeploy, Type: typ, Index: index})
	if err != nil {
		return docker.RunSpec{}, err
	}
	policy, retries, err := docker.ParseRestartPolicy(platform.RestartPolicyOf(a, d.apps.ProcessGlobals()))
	if err != nil { // the record was checked when it was set
		policy, retries, _ = docker.ParseRestartPolicy(platform.DefaultRestartPolicy)
	}
	spec := docker.RunSpec{
		Name:  name,
		Image: rel.Image,
		Env:   d.env(a, rel, fmt.Sprintf("%s.%d", typ, index)),
		Labels: map[string]string{
			docker.LabelApp:        a.Name,
			docker.LabelProcess:    typ,
			docker.LabelRelease:    strconv.Itoa(rel.Version),
			docker.LabelGeneration: strconv.Itoa(gen),
			docker.LabelIndex:      strconv.Itoa(index),
			docker.LabelPort:       strconv.Itoa(a.ProxyPort(rel)),
		},
		RestartPolicy: policy,
		MaxRetries:    retries,
		StopTimeout:   platform.StopTimeoutOf(a, d.apps.ProcessGlobals()),
		Host:          host,
	}
	if argv, ok := rel.Launch[typ]; ok && len(argv) > 0 {
		spec.Entrypoint, spec.Cmd = argv[:1], argv[1:]
	} else if cmd, ok := rel.Processes[typ]; ok {
		spec.Cmd = []string{"/bin/sh", "-c", cmd}
	}
	return spec, nil
}

// retire drains and removes old containers: the route has already left
// them, so each waits until the requests it is serving finish (at least
// platform.DrainDelay, at most the app's wait-to-retire), then gets SIGTERM and,
// after the stop timeout, SIGKILL.
func (d *Scheduler) retire(ctx context.Context, a *platform.App, old []docker.Container, log io.Writer) {
	if len(old) == 0 {
		return
	}
	var targets []string
	for _, c := range old {
		if c.Running && c.IP.IsValid() && c.Labels[docker.LabelPort] != "" {
			targets = append(targets, net.JoinHostPort(c.IP.String(), c.Labels[docker.LabelPort]))
		}
	}
	fmt.Fprintf(log, "-----> Retiring %d old container(s)\n", len(old))
	drained := d.drain(ctx, targets, platform.WaitToRetireOf(a, d.apps.ProcessGlobals()), log)
	if !drained {
		fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); stopping anyway\n", platform.WaitToRetireOf(a, d.apps.ProcessGlobals()))
	}
	var wg sync.WaitGroup
	for _, c := range old {
		wg.Add(1)
		go func() {
			defer wg.Done()
			d.stopAndRemove(ctx, c.ID, platform.StopTimeoutOf(a, d.apps.ProcessGlobals()))
		}()
	}
	wg.Wait()
}

// drain waits until no request is in flight to any of targets, for at
// least platform.DrainDelay and at most limit; it reports whether they drained.
func (d *Scheduler) drain(ctx context.Context, targets []string, limit time.Duration, log io.Writer) bool {
	return health.Drain(ctx, &d.table.InFlight, targets, limit, log)
}

// removeForGood removes a container that may be crash-looping: Docker
// refuses to remove a container while its restart policy is restarting it,
// so the policy goes first, and the removal is retried a few times.
func (d *Scheduler) removeForGood(ctx context.Context, id string) {
	d.engine.UpdateRestartPolicy(ctx, id, "no", 0)
	var err error
	for i := 0; i < 10; i++ {
		if err = d.engine.Remove(ctx, id); err == nil {
			return
		}
		time.Sleep(200 * time.Millisecond)
	}
	d.log.Warn("remove container", "container", id, "error", err)
}

func (d *Scheduler) stopAndRemove(ctx context.Context, id string, timeout time.Duration) {
	if err := d.engine.Stop(ctx, id, timeout); err != nil {
		d.log.Warn("stop container", "container", id, "error", err)
	}
	if err := d.engine.Remove(ctx, id); err != nil {
		d.log.Warn("remove container", "container", id, "error", err)
	}
}

// containers returns the app's containers: those this Berth made for it
// (the Docker client lists only this instance's), never a one-off.
func (d *Scheduler) containers(ctx context.Context, app string, labels ...string) ([]docker.Container, error) {
	return routes.AppContainers(ctx, d.engine, app, labels...)
}

func randomSuffix() string {
	b := make([]byte, 3)
	rand.Read(b)
	return hex.EncodeToString(b)
}
