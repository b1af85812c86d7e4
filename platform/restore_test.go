package platform_test

import (
	"context"
	"io"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/deploy"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// bedOn is a platform on engine with its state in dir, started with the
// formation check's settings: a second bedOn on the same engine and dir
// is Berth started again.
func bedOn(t *testing.T, engine *fakeengine.Engine, dir string, interval time.Duration, revivals int) *bed {
	t.Helper()
	table := routing.New()
	var sched platform.Scheduler
	st := &store.Files{Dir: dir + "/state"}
	builds := deploy.NewBuilds(dir + "/builds")
	hosts := domains.NewResolver()
	p := platform.New(platform.Config{
		Hosts: hosts,
		Store: st, Engine: engine, Table: table,
		ReposDir: dir + "/repos", Builds: builds,
		Scheduler: captured(&sched, dockerLocal(interval, revivals)),
	})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	dom := withDomains(t, ctx, p, table, hosts)
	if err := p.Start(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return withPackages(&bed{t: t, p: p, d: deploy.New(deploy.Config{Apps: p, Globals: p.Globals(), Engine: engine, Scheduler: sched, Repos: p.Repos(), Builds: builds}), engine: engine, table: table, ctx: ctx, dom: dom})
}

func newRestoreBed(t *testing.T, interval time.Duration, revivals int) (*bed, string) {
	shorten(t)
	dir := t.TempDir()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	engine.AddImage("app:v1", fakeengine.Image{Port: 5000})
	return bedOn(t, engine, dir, interval, revivals), dir
}

func (b *bed) containersOf(app string) []fakeengine.Container {
	var out []fakeengine.Container
	for _, c := range b.engine.Containers() {
		if c.Labels[docker.LabelApp] == app {
			out = append(out, c)
		}
	}
	return out
}

// A dockerd restart stops every container, and one whose process exits 0
// is not restarted by an on-failure policy: Berth's start brings the
// formation back, and leaves an app stopped with ps:stop stopped.
func TestStartRestoresTheFormation(t *testing.T) {
	b, dir := newRestoreBed(t, 0, 3)
	b.mustDeploy("blog", "app:v1")
	if err := b.d.Scale(b.ctx, "blog", map[string]int{"web": 2}, io.Discard); err != nil {
		t.Fatal(err)
	}
	b.mustDeploy("shop", "app:v1")
	if err := b.d.StopApp(b.ctx, "shop", io.Discard); err != nil {
		t.Fatal(err)
	}
	b.p.Close()
	for _, c := range b.containersOf("blog") {
		b.engine.Crash(c.ID, 0)
	}
	// One container is gone altogether.
	if err := b.engine.Remove(b.ctx, b.containersOf("blog")[0].ID); err != nil {
		t.Fatal(err)
	}

	b2 := bedOn(t, b.engine, dir, 0, 3)
	b2.eventually("blog runs web=2 again and is routed", func() bool {
		return len(b2.running("blog", "web")) == 2 && len(b2.targets("blog")) == 2
	})
	if n := len(b2.running("shop", "web")); n != 0 {
		t.Fatalf("the stopped app shop runs %d containers", n)
	}
	r, err := b2.d.Report(b2.ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if r.Status != "running" || r.FormationCheck == nil || !strings.Contains(r.FormationCheck.Text, "at start") ||
		!strings.Contains(r.FormationCheck.Text, "creating it again") || !strings.Contains(r.FormationCheck.Text, "starting it again") {
		t.Fatalf("report %q, formation check %+v", r.Status, r.FormationCheck)
	}
	if r, _ := b2.d.Report(b2.ctx, "shop"); r.Status != "stopped" {
		t.Fatalf("shop's status %q, want stopped", r.Status)
	}
}

// The drift check recreates a container removed behind Berth's back, and
// starts a stopped one again, but a container that keeps failing only so
// many times: then it says so, and stops trying.
func TestFormationCheckActsWithinLimits(t *testing.T) {
	b, _ := newRestoreBed(t, 20*time.Millisecond, 2)
	b.mustDeploy("blog", "app:v1")
	first := b.running("blog", "web")[0]
	if err := b.engine.Remove(b.ctx, first.ID); err != nil {
		t.Fatal(err)
	}
	b.eventually("the removed container is created again and routed", func() bool {
		w := b.running("blog", "web")
		return len(w) == 1 && w[0].ID != first.ID && len(b.targets("blog")) == 1
	})
	// The recreation was the slot's first try; one crash gets the second,
	// the next one none.
	for i := 0; i < 2; i++ {
		w := b.running("blog", "web")
		b.eventually("blog runs", func() bool { w = b.running("blog", "web"); return len(w) == 1 })
		b.engine.Crash(w[0].ID, 1)
	}
	b.eventually("the check gives up and says so", func() bool {
		r, err := b.d.Report(b.ctx, "blog")
		return err == nil && r.FormationCheck != nil && r.FormationCheck.GaveUp
	})
	time.Sleep(100 * time.Millisecond) // several more checks
	if n := len(b.running("blog", "web")); n != 0 {
		t.Fatalf("the check kept starting the failing container: %d running", n)
	}
	r, _ := b.d.Report(b.ctx, "blog")
	if !strings.HasPrefix(r.Status, "down") || !strings.Contains(r.FormationCheck.Text, "gave up on web.1") {
		t.Fatalf("status %q, check %q", r.Status, r.FormationCheck.Text)
	}
	// ps:start gives it new tries.
	if _, err := b.d.StartApp(b.ctx, "blog", io.Discard); err != nil {
		t.Fatal(err)
	}
	if n := len(b.running("blog", "web")); n != 1 {
		t.Fatalf("ps:start: %d running", n)
	}
}
