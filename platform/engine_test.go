package platform_test

// Unit tests of the deploy pipeline and the route controller against the
// in-memory engine (internal/fakeengine): one behaviour per test, no
// Docker. The end-to-end suite (tests/) proves the same against a real
// engine; these pin the logic down and run in milliseconds.

import (
	"context"
	"io"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/disk"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/pssettings"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/dockerlocal"
	"github.com/berth-paas/berth/store"
)

// bed is one platform on a fake engine, with short deploy timings.
type bed struct {
	t *testing.T
	p *platform.Platform
	// d runs the releases (package deploy), as Berth wires it.
	d      *deploy.Deployer
	engine *fakeengine.Engine
	table  *routing.Table
	ctx    context.Context
	spec   *appspec.Settings
	// ps and disk are the settings packages wired as Berth wires them:
	// disk prunes releases after each rollout.
	ps *pssettings.Settings
	// dom keeps the apps' hosts (package domains), which the platform
	// asks through its Hosts seam.
	dom  *domains.Domains
	disk *disk.Disk
	// build keeps the build settings (package buildconfig), which the
	// platform reads through its BuildSettings seam.
	build *buildconfig.Settings
}

func newBed(t *testing.T) *bed { return newBedWith(t, nil) }

// newBedWith is newBed whose platform builds with the selector builders
// makes over its engine (nil: no builders, image deploys only).
func newBedWith(t *testing.T, builders func(*fakeengine.Engine) *builder.Selector) *bed {
	t.Helper()
	return newBedScheduled(t, builders, nil)
}

// newBedScheduled is newBedWith whose docker-local scheduler the platform
// reaches through wrap (nil: directly).
func newBedScheduled(t *testing.T, builders func(*fakeengine.Engine) *builder.Selector, wrap func(platform.Scheduler) platform.Scheduler) *bed {
	t.Helper()
	shorten(t)
	dir := t.TempDir()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	engine.AddImage("app:v1", fakeengine.Image{Port: 5000})
	engine.AddImage("app:v2", fakeengine.Image{Port: 5000})
	var sel *builder.Selector
	if builders != nil {
		sel = builders(engine)
	}
	table := routing.New()
	st := &store.Files{Dir: dir + "/state"}
	// The container settings, as Berth wires them (caddymodule).
	spec := appspec.NewSpec(appspec.SpecConfig{Store: st, Engine: engine})
	hosts := domains.NewResolver()
	var sched platform.Scheduler
	builds := deploy.NewBuilds(dir + "/builds")
	resolver := buildconfig.NewResolver(st, nil)
	p := platform.New(platform.Config{
		Hosts:         hosts,
		Store:         st,
		Engine:        engine,
		Table:         table,
		ReposDir:      dir + "/repos",
		Builds:        builds,
		Specs:         []platform.SpecContributor{spec},
		BuildSettings: resolver,
		Scheduler:     captured(&sched, wrapped(dockerLocal(-1, -1), wrap)),
	})
	d := deploy.New(deploy.Config{Apps: p, Globals: p.Globals(), Engine: engine, Scheduler: sched, Specs: platform.NewSpecs(spec),
		Builders: sel, BuildSettings: resolver, Repos: p.Repos(), Builds: builds})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	dom := withDomains(t, ctx, p, table, hosts)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return withPackages(&bed{t: t, p: p, d: d, engine: engine, table: table, ctx: ctx, dom: dom, spec: appspec.New(appspec.Config{Spec: spec, Apps: p}), build: buildconfig.New(buildconfig.Config{Store: st, Apps: p, Globals: p.Globals(), Builders: sel, Repos: d})})
}

// withDomains wires package domains over p as Berth does (caddymodule):
// hosts is the resolver p was given; the global domain is example.test.
func withDomains(t *testing.T, ctx context.Context, p *platform.Platform, table *routing.Table, hosts *domains.Resolver) *domains.Domains {
	t.Helper()
	dom := domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts})
	if err := dom.SetGlobalDomains(ctx, []string{"example.test"}); err != nil {
		t.Fatal(err)
	}
	return dom
}

// dockerLocal makes the platform's scheduler as Berth does (caddymodule),
// with the formation check's settings (negative: the defaults).
func dockerLocal(interval time.Duration, revivals int) func(platform.SchedulerDeps) platform.Scheduler {
	return func(deps platform.SchedulerDeps) platform.Scheduler {
		return dockerlocal.New(deps, dockerlocal.Config{FormationCheckInterval: interval, MaxRevivals: revivals})
	}
}

// wrapped is make, its scheduler seen through wrap (nil: as it is).
func wrapped(make func(platform.SchedulerDeps) platform.Scheduler, wrap func(platform.Scheduler) platform.Scheduler) func(platform.SchedulerDeps) platform.Scheduler {
	if wrap == nil {
		return make
	}
	return func(deps platform.SchedulerDeps) platform.Scheduler { return wrap(make(deps)) }
}

// captured is make, the scheduler it makes kept in *s (for package
// deploy, given the platform's scheduler as caddymodule gives it).
func captured(s *platform.Scheduler, make func(platform.SchedulerDeps) platform.Scheduler) func(platform.SchedulerDeps) platform.Scheduler {
	return func(deps platform.SchedulerDeps) platform.Scheduler {
		*s = make(deps)
		return *s
	}
}

// withPackages wires the packages that keep settings of b's apps.
func withPackages(b *bed) *bed {
	b.ps = pssettings.New(pssettings.Config{Apps: b.p, Globals: b.p.Globals(), Engine: b.engine})
	b.disk = disk.New(disk.Config{Apps: b.p, Globals: b.p.Globals(), Hooks: b.p.Hooks(), Builds: b.d, Engine: b.engine})
	return b
}

// shorten makes the deploy timings short for one test.
func shorten(t *testing.T) {
	ready, uptime, drain := platform.ReadyTimeout, platform.ReadyUptime, platform.DrainDelay
	platform.ReadyTimeout, platform.ReadyUptime, platform.DrainDelay = 2*time.Second, 20*time.Millisecond, 10*time.Millisecond
	t.Cleanup(func() { platform.ReadyTimeout, platform.ReadyUptime, platform.DrainDelay = ready, uptime, drain })
}

// deploy releases image to app, creating the app first if need be.
func (b *bed) deploy(app, image string) (platform.Release, error) {
	b.t.Helper()
	if ok, _ := b.p.Exists(b.ctx, app); !ok {
		if err := b.p.Create(b.ctx, app); err != nil {
			b.t.Fatal(err)
		}
	}
	return b.d.Deploy(b.ctx, deploy.DeployRequest{App: app, Image: image, Reason: "test", Log: io.Discard})
}

func (b *bed) mustDeploy(app, image string) platform.Release {
	b.t.Helper()
	rel, err := b.deploy(app, image)
	if err != nil {
		b.t.Fatalf("deploy %s of %s: %v", image, app, err)
	}
	return rel
}

// targets returns the addresses app is routed to.
func (b *bed) targets(app string) []string {
	r, ok := b.table.App(app)
	if !ok {
		return nil
	}
	return slices.Sorted(slices.Values(r.Targets))
}

// running returns the app's running containers of process typ.
func (b *bed) running(app, typ string) []fakeengine.Container {
	var out []fakeengine.Container
	for _, c := range b.engine.Containers() {
		if c.Labels[docker.LabelApp] == app && c.Labels[docker.LabelProcess] == typ && c.Running {
			out = append(out, c)
		}
	}
	return out
}

// get asks a routed target of app for its body, as the proxy would.
func (b *bed) get(target string) string {
	b.t.Helper()
	resp, err := http.Get("http://" + target + "/")
	if err != nil {
		b.t.Fatalf("GET %s: %v", target, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	return string(body)
}

// eventually waits up to 2 s for cond, which events make true.
func (b *bed) eventually(what string, cond func() bool) {
	b.t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			b.t.Fatalf("timed out waiting until %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestDeployRoutesTheNewContainer(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")
	if len(web) != 1 {
		t.Fatalf("running web containers: %d, want 1", len(web))
	}
	got := b.targets("blog")
	if len(got) != 1 || got[0] != web[0].IP.String()+":5000" {
		t.Fatalf("targets %v, want the container at %s:5000", got, web[0].IP)
	}
	if body := b.get(got[0]); !strings.HasPrefix(body, "blog.web.1") {
		t.Fatalf("the routed target answered %q, want blog.web.1", body)
	}
}

func TestDeployRoutesTheAppsHost(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	r, ok := b.table.Lookup("blog.example.test")
	if !ok || r.App != "blog" {
		t.Fatalf("blog.example.test routes to %v, want blog", r)
	}
}

func TestSecondDeployReplacesTheContainerAndRetiresTheOld(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	b.mustDeploy("blog", "app:v2")
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("the old container still exists after the second deploy")
	}
	web := b.running("blog", "web")
	if len(web) != 1 || web[0].Image != "berth/blog:v2" {
		t.Fatalf("running %v, want one container of berth/blog:v2", web)
	}
	if got := b.targets("blog"); len(got) != 1 || got[0] != web[0].IP.String()+":5000" {
		t.Fatalf("targets %v, want only the new container", got)
	}
}

func TestFailedCheckKeepsThePreviousReleaseServing(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	before := b.targets("blog")
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Exit: c.Image == "berth/blog:v2", ExitCode: 3, Output: "boom\n"}
	}
	_, err := b.deploy("blog", "app:v2")
	if err == nil || !strings.Contains(err.Error(), "exited with code 3") || !strings.Contains(err.Error(), "boom") {
		t.Fatalf("deploy error %v, want the exit code and the container's output", err)
	}
	if got := b.targets("blog"); !slices.Equal(got, before) {
		t.Fatalf("targets %v after a failed deploy, want the old %v", got, before)
	}
	a, _ := b.p.App(b.ctx, "blog")
	if a.Current != 1 {
		t.Fatalf("current release v%d, want v1", a.Current)
	}
	for _, c := range b.engine.Containers() {
		if c.Image == "berth/blog:v2" {
			t.Fatalf("the failed release's container %s was left behind", c.Name)
		}
	}
}

func TestContainerThatNeverListensFailsTheDeploy(t *testing.T) {
	b := newBed(t)
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior { return fakeengine.Behavior{Silent: true} }
	_, err := b.deploy("blog", "app:v1")
	if err == nil || !strings.Contains(err.Error(), "did not accept connections on port 5000") {
		t.Fatalf("deploy error %v, want the port it waited for", err)
	}
	if got := b.targets("blog"); len(got) != 0 {
		t.Fatalf("targets %v, want none", got)
	}
}

func TestImageWithoutExposedPortGetsPort5000(t *testing.T) {
	b := newBed(t)
	b.engine.AddImage("plain", fakeengine.Image{})
	rel := b.mustDeploy("blog", "plain")
	if rel.Port != platform.DefaultPort {
		t.Fatalf("port %d, want %d", rel.Port, platform.DefaultPort)
	}
	if env := b.running("blog", "web")[0].Env; !slices.Contains(env, "PORT=5000") {
		t.Fatalf("env %v lacks PORT=5000", env)
	}
}

func TestContainerDeathTakesItOutOfTheRoute(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	b.engine.Crash(web.ID, 137)
	b.eventually("the dead container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
}

func TestRestartedContainerComesBackIntoTheRoute(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")[0]
	b.engine.Crash(web.ID, 1)
	b.eventually("the dead container leaves the route", func() bool { return len(b.targets("blog")) == 0 })
	if err := b.engine.Restart(web.ID); err != nil {
		t.Fatal(err)
	}
	b.eventually("the restarted container is routed again", func() bool { return len(b.targets("blog")) == 1 })
}

func TestScaleUpRoutesEveryCheckedContainer(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := len(b.running("blog", "web")); n != 3 {
		t.Fatalf("%d web containers run, want 3", n)
	}
	if got := b.targets("blog"); len(got) != 3 {
		t.Fatalf("targets %v, want 3", got)
	}
}

func TestScaleDownRemovesTheHighestIndexes(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 3}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	web := b.running("blog", "web")
	if len(web) != 1 || web[0].Labels[docker.LabelIndex] != "1" {
		t.Fatalf("after scaling to 1, running %v; want web.1 only", web)
	}
	if got := b.targets("blog"); len(got) != 1 {
		t.Fatalf("targets %v, want 1", got)
	}
}

// An image without a Procfile runs its command as any type ps:scale
// names (Dokku's rule for Dockerfile and image deploys).
func TestScaleAnImageWithoutAProcfileRunsItsCommandAsAnyType(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	worker := b.running("blog", "worker")
	if len(worker) != 1 || len(worker[0].Cmd) != 0 {
		t.Fatalf("running %v; want one worker with the image's command", worker)
	}
	// It stays across a restart.
	if err := b.d.Restart(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if worker := b.running("blog", "worker"); len(worker) != 1 {
		t.Fatalf("after a restart, running %v; want one worker", worker)
	}
}

// ps:scale before the first deploy records the formation, and the first
// deploy runs it.
func TestScaleBeforeTheFirstDeployIsItsFormation(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2, "worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	if len(b.engine.Containers()) != 0 {
		t.Fatalf("scaling an app never deployed started %v", b.engine.Containers())
	}
	b.mustDeploy("blog", "app:v1")
	if web, worker := b.running("blog", "web"), b.running("blog", "worker"); len(web) != 2 || len(worker) != 1 {
		t.Fatalf("first deploy runs %d web, %d worker; want 2 and 1", len(web), len(worker))
	}
	// The formation's limits hold before the first deploy too.
	if err := b.p.Create(b.ctx, "other"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Scale(b.ctx, "other", map[string]int{"web": 1 << 20}, io.Discard); err == nil {
		t.Fatal("a formation above the limit was recorded")
	}
}

func TestReconcileRoutesContainersThatRunWithoutEvents(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	want := b.targets("blog")
	// A route lost (as if an event was dropped) comes back at the next
	// reconcile.
	b.table.SetTargets("blog", nil)
	if err := b.p.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	if got := b.targets("blog"); !slices.Equal(got, want) {
		t.Fatalf("targets %v after reconcile, want %v", got, want)
	}
}

func TestReconcileRoutesNoContainerOfAnotherGeneration(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	// A container labelled as blog's web process, but of a generation
	// that is not current (a deploy in progress, or left over), is never
	// routed.
	id, err := b.engine.Run(b.ctx, docker.RunSpec{Name: "stray", Image: "app:v1", Env: []string{"PORT=5000"}, Labels: map[string]string{
		docker.LabelApp: "blog", docker.LabelProcess: "web", docker.LabelGeneration: "99", docker.LabelPort: "5000",
	}})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.p.Reconcile(b.ctx); err != nil {
		t.Fatal(err)
	}
	stray, _ := b.engine.Container(id)
	for _, target := range b.targets("blog") {
		if strings.HasPrefix(target, stray.IP.String()+":") {
			t.Fatalf("the stray container %s is routed", target)
		}
	}
}

func TestRollbackReleasesThePreviousImageAgainWithoutABuild(t *testing.T) {
	b := newBed(t)
	v1 := b.mustDeploy("blog", "app:v1")
	b.mustDeploy("blog", "app:v2")
	rel, err := b.d.Rollback(b.ctx, "blog", 1, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 3 || rel.ImageID != v1.ImageID || rel.Reason != "rollback to v1" {
		t.Fatalf("rollback made v%d of image %s (%q), want v3 of v1's image %s", rel.Version, rel.ImageID, rel.Reason, v1.ImageID)
	}
	web := b.running("blog", "web")
	if len(web) != 1 || web[0].Image != "berth/blog:v3" {
		t.Fatalf("running %v, want one container of berth/blog:v3", web)
	}
	if id, _ := b.engine.ImageID(b.ctx, "berth/blog:v3"); id != v1.ImageID {
		t.Fatalf("berth/blog:v3 is image %s, want v1's %s", id, v1.ImageID)
	}
}

func TestStopAppRemovesItsRouteAndStartBringsItBack(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.StopApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	b.eventually("the stopped app has no targets", func() bool { return len(b.targets("blog")) == 0 })
	if _, err := b.d.StartApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	b.eventually("the started app is routed", func() bool { return len(b.targets("blog")) == 1 })
}

func TestDestroyRemovesContainersRouteAndImages(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.p.Destroy(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, ok := b.table.Lookup("blog.example.test"); ok {
		t.Fatal("blog.example.test is still routed")
	}
	for _, c := range b.engine.Containers() {
		if c.Labels[docker.LabelApp] == "blog" {
			t.Fatalf("container %s of the destroyed app remains", c.Name)
		}
	}
	if !slices.Contains(b.engine.Calls(), "RemoveImage berth/blog:v1") {
		t.Fatal("the release's image was not removed")
	}
}

func TestLockedAppRefusesDeploys(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	if err := b.p.UpdateApp(b.ctx, "blog", func(a *platform.App) error { a.Locked = true; return nil }); err != nil {
		t.Fatal(err)
	}
	_, err := b.deploy("blog", "app:v2")
	if err == nil || !strings.Contains(err.Error(), "apps:unlock blog") {
		t.Fatalf("error %v, want the refusal to say how to unlock", err)
	}
}

func TestMissingImageIsAClearError(t *testing.T) {
	b := newBed(t)
	_, err := b.deploy("blog", "nothere:latest")
	if err == nil || !strings.Contains(err.Error(), "nothing is pulled") {
		t.Fatalf("error %v, want it to say nothing is pulled", err)
	}
}

func TestOldContainerStaysUntilItsInFlightRequestFinishes(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	old := b.running("blog", "web")[0]
	// A request the proxy is serving from the old container.
	done := b.table.InFlight.Begin(b.targets("blog")[0])
	deployed := make(chan error, 1)
	go func() { _, err := b.deploy("blog", "app:v2"); deployed <- err }()
	b.eventually("the route moves to the new container", func() bool {
		got := b.targets("blog")
		return len(got) == 1 && !strings.HasPrefix(got[0], old.IP.String()+":")
	})
	time.Sleep(10 * platform.DrainDelay)
	if c, ok := b.engine.Container(old.ID); !ok || !c.Running {
		t.Fatal("the old container stopped while a request was in flight")
	}
	done()
	if err := <-deployed; err != nil {
		t.Fatal(err)
	}
	if _, ok := b.engine.Container(old.ID); ok {
		t.Fatal("the old container was not removed once its request finished")
	}
}

func TestNewContainersTakeNoTrafficBeforeTheirChecksPass(t *testing.T) {
	b := newBed(t)
	b.mustDeploy("blog", "app:v1")
	before := b.targets("blog")
	// The new container runs but never listens: its check waits.
	b.engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: c.Image == "berth/blog:v2"}
	}
	deployed := make(chan error, 1)
	go func() { _, err := b.deploy("blog", "app:v2"); deployed <- err }()
	b.eventually("the new container runs", func() bool {
		for _, c := range b.running("blog", "web") {
			if c.Image == "berth/blog:v2" {
				return true
			}
		}
		return false
	})
	time.Sleep(50 * time.Millisecond)
	if got := b.targets("blog"); !slices.Equal(got, before) {
		t.Fatalf("targets %v while the new container is unchecked, want only the old %v", got, before)
	}
	if err := <-deployed; err == nil {
		t.Fatal("a container that never listened passed its check")
	}
	if got := b.targets("blog"); !slices.Equal(got, before) {
		t.Fatalf("targets %v after the failed deploy, want the old %v", got, before)
	}
}

// ps:set --global restart-policy: apps that set none get it from their
// next rollout; an app's own wins; the report says both.
func TestGlobalRestartPolicy(t *testing.T) {
	b := newBed(t)
	if err := b.ps.SetGlobalRestartPolicy(b.ctx, "bogus"); err == nil {
		t.Fatal("a bad global restart policy was taken")
	}
	if err := b.ps.SetGlobalRestartPolicy(b.ctx, "unless-stopped"); err != nil {
		t.Fatal(err)
	}
	b.mustDeploy("blog", "app:v1")
	b.mustDeploy("own", "app:v1")
	if err := b.ps.SetRestartPolicy(b.ctx, "own", "always"); err != nil {
		t.Fatal(err)
	}
	if web := b.running("blog", "web"); len(web) != 1 || web[0].RestartPolicy != "unless-stopped" {
		t.Fatalf("blog runs %+v; want the global policy unless-stopped", web)
	}
	if web := b.running("own", "web"); len(web) != 1 || web[0].RestartPolicy != "always" {
		t.Fatalf("own runs %+v; want its own policy always", web)
	}
	r, err := b.d.Report(b.ctx, "blog")
	if err != nil || r.RestartPolicy != "unless-stopped" || r.GlobalRestartPolicy != "unless-stopped" {
		t.Fatalf("report %+v, %v", r, err)
	}
	// Cleared, the default is back at the next rollout.
	if err := b.ps.SetGlobalRestartPolicy(b.ctx, ""); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Restart(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if web := b.running("blog", "web"); len(web) != 1 || web[0].RestartPolicy != "on-failure" {
		t.Fatalf("blog runs %+v; want the default on-failure", web)
	}
}

// checks:set --global wait-to-retire is bounded, and what it sets (or
// clears) is what the rollout reads (ProcessGlobals).
func TestGlobalWaitToRetire(t *testing.T) {
	b := newBed(t)
	if err := b.ps.SetGlobalWaitToRetire(b.ctx, 4000); err == nil {
		t.Fatal("a wait above an hour was taken")
	}
	if err := b.ps.SetGlobalWaitToRetire(b.ctx, 7); err != nil {
		t.Fatal(err)
	}
	if got := b.p.ProcessGlobals().WaitToRetire; got != 7 {
		t.Fatalf("global wait-to-retire %d, want 7", got)
	}
	if err := b.ps.SetGlobalWaitToRetire(b.ctx, 0); err != nil {
		t.Fatal(err)
	}
	if got := b.p.ProcessGlobals().WaitToRetire; got != 0 {
		t.Fatalf("cleared global wait-to-retire %d, want 0", got)
	}
}
