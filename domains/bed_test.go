package domains_test

import (
	"context"
	"github.com/berth-paas/berth/deploy"
	"testing"
	"time"

	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/dockerlocal"
	"github.com/berth-paas/berth/store"
)

// bed is the app core on a fake engine with package domains wired over
// it as Berth wires them (caddymodule): the platform asks the resolver
// for the apps' hosts, the global domain is example.test. No Docker.
type bed struct {
	ctx    context.Context
	p      *platform.Platform
	d      *domains.Domains
	deploy *deploy.Deployer
	table  *routing.Table
}

var _ domains.Apps = (*platform.Platform)(nil)

func newBed(t *testing.T) *bed { return newBedOn(t, fakeengine.New(), nil) }

// newDeployBed is newBed whose platform runs apps on the fake engine
// through the docker-local scheduler (as caddymodule wires it), with
// short deploy timings; app:v1 EXPOSEs 5000.
func newDeployBed(t *testing.T) (*bed, *fakeengine.Engine) {
	t.Helper()
	ready, uptime, drain := platform.ReadyTimeout, platform.ReadyUptime, platform.DrainDelay
	platform.ReadyTimeout, platform.ReadyUptime, platform.DrainDelay = 2*time.Second, 20*time.Millisecond, 10*time.Millisecond
	t.Cleanup(func() { platform.ReadyTimeout, platform.ReadyUptime, platform.DrainDelay = ready, uptime, drain })
	engine := fakeengine.New()
	engine.AddImage("app:v1", fakeengine.Image{Port: 5000})
	return newBedOn(t, engine, func(deps platform.SchedulerDeps) platform.Scheduler {
		return dockerlocal.New(deps, dockerlocal.Config{FormationCheckInterval: -1, MaxRevivals: -1})
	}), engine
}

func newBedOn(t *testing.T, engine *fakeengine.Engine, sched func(platform.SchedulerDeps) platform.Scheduler) *bed {
	t.Helper()
	dir := t.TempDir()
	t.Cleanup(engine.Close)
	table := routing.New()
	hosts := domains.NewResolver()
	st := &store.Files{Dir: dir + "/state"}
	builds := deploy.NewBuilds(dir + "/builds")
	var scheduler platform.Scheduler
	if sched != nil {
		sched = captureScheduler(&scheduler, sched)
	}
	p := platform.New(platform.Config{Hosts: hosts, Store: st, Engine: engine, Table: table, ReposDir: dir + "/repos", Builds: builds, Scheduler: sched})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	d := domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts})
	if err := d.SetGlobalDomains(ctx, []string{"example.test"}); err != nil {
		t.Fatal(err)
	}
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	dep := deploy.New(deploy.Config{Apps: p, Globals: p.Globals(), Engine: engine, Scheduler: scheduler, Repos: p.Repos(), Builds: builds})
	return &bed{ctx: ctx, p: p, d: d, deploy: dep, table: table}
}

// captureScheduler keeps the scheduler make makes for the deployer.
func captureScheduler(s *platform.Scheduler, make func(platform.SchedulerDeps) platform.Scheduler) func(platform.SchedulerDeps) platform.Scheduler {
	return func(deps platform.SchedulerDeps) platform.Scheduler {
		*s = make(deps)
		return *s
	}
}
