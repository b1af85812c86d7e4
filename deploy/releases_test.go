package deploy

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

func newDeployer(t *testing.T, apps *fakeApps) (*Deployer, *fakeengine.Engine) {
	t.Helper()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	return New(Config{Apps: apps, Globals: fakeGlobals{}, Engine: engine, Scheduler: fakeScheduler{apps: apps}}), engine
}

// A rollback with no target makes a new release of the one before the
// current one, with its image and its config, and the app's config
// follows it.
func TestRollbackReturnsToTheReleaseBefore(t *testing.T) {
	apps := newFakeApps()
	d, engine := newDeployer(t, apps)
	apps.apps["blog"] = deployed(t, engine)
	rel, err := d.Rollback(context.Background(), "blog", 0, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if rel.Version != 3 || rel.Reason != "rollback to v1" || rel.Config["V"] != "1" || rel.ImageID != "sha256:v1" {
		t.Fatalf("rollback made %+v", rel)
	}
	if id, err := engine.ImageID(context.Background(), "berth/blog:v3"); err != nil || id != "sha256:v1" {
		t.Fatalf("berth/blog:v3 is %q, %v; want v1's image", id, err)
	}
	a, _ := apps.App(context.Background(), "blog")
	if a.Current != 3 || a.Config["V"] != "1" {
		t.Fatalf("after the rollback: current v%d, config %v", a.Current, a.Config)
	}
}

// A locked app (apps:lock) refuses a rollback and nothing rolls out.
func TestRollbackRefusesALockedApp(t *testing.T) {
	apps := newFakeApps()
	d, engine := newDeployer(t, apps)
	a := deployed(t, engine)
	a.Locked = true
	apps.apps["blog"] = a
	if _, err := d.Rollback(context.Background(), "blog", 1, io.Discard); err == nil || !strings.Contains(err.Error(), "apps:unlock blog") {
		t.Fatalf("rollback of a locked app: %v", err)
	}
	if len(apps.rollouts) != 0 {
		t.Fatalf("rolled out %v", apps.rollouts)
	}
}

// A rollback while another change of the app runs is refused as busy,
// naming what runs.
func TestRollbackWhileBusyIsRefused(t *testing.T) {
	apps := newFakeApps()
	d, engine := newDeployer(t, apps)
	apps.apps["blog"] = deployed(t, engine)
	apps.busy["blog"] = "a deploy"
	_, err := d.Rollback(context.Background(), "blog", 1, io.Discard)
	if !errors.Is(err, platform.ErrBusy) || !strings.Contains(err.Error(), "a deploy") {
		t.Fatalf("rollback while busy: %v", err)
	}
}

// ps:scale before the first deploy records the formation, which the
// first deploy then runs; nothing is scheduled.
func TestScaleBeforeTheFirstDeployRecordsTheFormation(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog"})
	d, _ := newDeployer(t, apps) // the fake scheduler has no Scale: a call panics
	if err := d.Scale(context.Background(), "blog", map[string]int{"web": 2, "worker": 1}, io.Discard); err != nil {
		t.Fatal(err)
	}
	f, err := d.Formation(context.Background(), "blog")
	if err != nil || f["web"] != 2 || f["worker"] != 1 {
		t.Fatalf("formation %v, %v", f, err)
	}
}

// A scale over max_scale is refused and the formation stays.
func TestScaleOverTheLimitLeavesTheFormation(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog", Formation: map[string]int{"web": 1}})
	d, _ := newDeployer(t, apps)
	err := d.Scale(context.Background(), "blog", map[string]int{"web": 4}, io.Discard)
	if !errors.Is(err, platform.ErrOverLimit) {
		t.Fatalf("scale over the limit: %v", err)
	}
	if f, _ := d.Formation(context.Background(), "blog"); f["web"] != 1 {
		t.Fatalf("formation %v after a refused scale", f)
	}
}

// config:set --no-restart saves the config and makes no release.
func TestSetConfigWithNoRestartMakesNoRelease(t *testing.T) {
	apps := newFakeApps()
	d, engine := newDeployer(t, apps)
	apps.apps["blog"] = deployed(t, engine)
	if err := d.SetConfig(context.Background(), "blog", map[string]string{"NEW": "x"}, []string{"V"}, true, io.Discard); err != nil {
		t.Fatal(err)
	}
	cfg, err := d.Config(context.Background(), "blog")
	if err != nil || cfg["NEW"] != "x" || cfg["V"] != "" {
		t.Fatalf("config %v, %v", cfg, err)
	}
	if len(apps.rollouts) != 0 {
		t.Fatalf("rolled out %v", apps.rollouts)
	}
}

// A config var name the shell could not carry is refused before the
// app is touched.
func TestSetConfigRefusesABadName(t *testing.T) {
	apps := newFakeApps(&platform.App{Name: "blog"})
	d, _ := newDeployer(t, apps)
	if err := d.SetConfig(context.Background(), "blog", map[string]string{"1BAD": "x"}, nil, true, io.Discard); err == nil {
		t.Fatal("a config var named 1BAD was accepted")
	}
	if apps.saves != 0 {
		t.Fatalf("%d saves for a refused change", apps.saves)
	}
}
