package pssettings

import (
	"context"
	"errors"
	"slices"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

func newSettings(t *testing.T, apps ...string) (*Settings, *fakeApps, *fakeengine.Engine) {
	t.Helper()
	e := fakeengine.New()
	t.Cleanup(e.Close)
	f := newFakeApps(apps...)
	return New(Config{Apps: f, Globals: f, Engine: e}), f, e
}

// container makes a container of app in e, as the rollout labels it.
func container(t *testing.T, e *fakeengine.Engine, app, name string) string {
	t.Helper()
	e.AddImage("img", fakeengine.Image{Port: 5000})
	id, err := e.Create(context.Background(), docker.RunSpec{Name: name, Image: "img", RestartPolicy: "on-failure", MaxRetries: 10,
		Labels: map[string]string{docker.LabelApp: app, docker.LabelProcess: "web"}})
	if err != nil {
		t.Fatal(err)
	}
	return id
}

// ps:set APP restart-policy is saved and applied to the app's containers
// at once, not to another app's.
func TestSetRestartPolicyUpdatesTheAppsContainersAtOnce(t *testing.T) {
	s, f, e := newSettings(t, "blog", "shop")
	mine := container(t, e, "blog", "blog.web.1")
	theirs := container(t, e, "shop", "shop.web.1")
	if err := s.SetRestartPolicy(context.Background(), "blog", "always"); err != nil {
		t.Fatal(err)
	}
	if got := f.record("blog").RestartPolicy; got != "always" {
		t.Fatalf("record says %q, want always", got)
	}
	if c, _ := e.Container(mine); c.RestartPolicy != "always" {
		t.Fatalf("blog's container has %q, want always", c.RestartPolicy)
	}
	if c, _ := e.Container(theirs); c.RestartPolicy != "on-failure" {
		t.Fatalf("shop's container has %q; another app's policy changed it", c.RestartPolicy)
	}
}

// A policy Docker does not know is refused before anything changes.
func TestSetRestartPolicyRefusesAnUnknownPolicy(t *testing.T) {
	s, f, _ := newSettings(t, "blog")
	if err := s.SetRestartPolicy(context.Background(), "blog", "sometimes"); err == nil {
		t.Fatal("an unknown restart policy was taken")
	}
	if f.saves != 0 || f.record("blog").RestartPolicy != "" {
		t.Fatalf("the record changed: %+v", f.record("blog"))
	}
}

// ps:set --global restart-policy is validated, kept in the global
// document, and "" clears it.
func TestGlobalRestartPolicyIsValidatedAndClears(t *testing.T) {
	s, f, _ := newSettings(t)
	ctx := context.Background()
	if err := s.SetGlobalRestartPolicy(ctx, "bogus"); err == nil {
		t.Fatal("a bad global restart policy was taken")
	}
	if err := s.SetGlobalRestartPolicy(ctx, "unless-stopped"); err != nil {
		t.Fatal(err)
	}
	if got := f.global.RestartPolicy; got != "unless-stopped" {
		t.Fatalf("global document says %q", got)
	}
	if err := s.SetGlobalRestartPolicy(ctx, ""); err != nil {
		t.Fatal(err)
	}
	if got := f.global.RestartPolicy; got != "" {
		t.Fatalf("cleared global document says %q", got)
	}
}

// stop-timeout-seconds is 0 (unset) to an hour, per app and global; a
// value out of range changes nothing.
func TestStopTimeoutIsBoundedToAnHour(t *testing.T) {
	s, f, _ := newSettings(t, "blog")
	ctx := context.Background()
	for _, n := range []int{-1, MaxStopTimeoutSeconds + 1} {
		if err := s.SetStopTimeout(ctx, "blog", n); err == nil {
			t.Errorf("stop timeout %d was taken", n)
		}
		if err := s.SetGlobalStopTimeout(ctx, n); err == nil {
			t.Errorf("global stop timeout %d was taken", n)
		}
	}
	if f.record("blog").StopTimeoutSeconds != 0 || f.global.StopTimeoutSeconds != 0 {
		t.Fatal("a refused value was saved")
	}
	if err := s.SetStopTimeout(ctx, "blog", MaxStopTimeoutSeconds); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGlobalStopTimeout(ctx, 12); err != nil {
		t.Fatal(err)
	}
	if f.record("blog").StopTimeoutSeconds != MaxStopTimeoutSeconds || f.global.StopTimeoutSeconds != 12 {
		t.Fatalf("saved %d and global %d", f.record("blog").StopTimeoutSeconds, f.global.StopTimeoutSeconds)
	}
}

// procfile-path must name a file inside the app's source; "" goes back
// to Procfile.
func TestProcfilePathStaysInTheSource(t *testing.T) {
	s, f, _ := newSettings(t, "blog")
	ctx := context.Background()
	for _, bad := range []string{"/etc/Procfile", "../Procfile", "..", ".", "a/../../b", "./Procfile", "deploy//Procfile"} {
		if err := s.SetProcfilePath(ctx, "blog", bad); err == nil {
			t.Errorf("procfile-path %q was taken", bad)
		}
	}
	if err := s.SetProcfilePath(ctx, "blog", "deploy/Procfile"); err != nil {
		t.Fatal(err)
	}
	if got := f.record("blog").ProcfilePath; got != "deploy/Procfile" {
		t.Fatalf("record says %q", got)
	}
	if err := s.SetProcfilePath(ctx, "blog", ""); err != nil {
		t.Fatal(err)
	}
	if got := f.record("blog").ProcfilePath; got != "" {
		t.Fatalf("cleared record says %q", got)
	}
}

// A process type is in one checks list at most: skipping a disabled type
// moves it, and enable takes it off both.
func TestChecksActionsMoveATypeBetweenLists(t *testing.T) {
	s, f, _ := newSettings(t, "blog")
	ctx := context.Background()
	if err := s.SetChecks(ctx, "blog", "disable", []string{"web", "worker"}); err != nil {
		t.Fatal(err)
	}
	if err := s.SetChecks(ctx, "blog", "skip", []string{"web"}); err != nil {
		t.Fatal(err)
	}
	c := f.record("blog").Checks
	if !slices.Equal(c.Disabled, []string{"worker"}) || !slices.Equal(c.Skipped, []string{"web"}) {
		t.Fatalf("disabled %v skipped %v; want worker and web", c.Disabled, c.Skipped)
	}
	if err := s.SetChecks(ctx, "blog", "enable", []string{"web"}); err != nil {
		t.Fatal(err)
	}
	c = f.record("blog").Checks
	if !slices.Equal(c.Disabled, []string{"worker"}) || len(c.Skipped) != 0 {
		t.Fatalf("disabled %v skipped %v after enable web", c.Disabled, c.Skipped)
	}
}

// No types means all of them: enable with none clears both lists.
func TestChecksWithoutTypesMeansAll(t *testing.T) {
	s, f, _ := newSettings(t, "blog")
	ctx := context.Background()
	s.SetChecks(ctx, "blog", "disable", []string{"web"})
	s.SetChecks(ctx, "blog", "skip", []string{"worker"})
	if err := s.SetChecks(ctx, "blog", "disable", nil); err != nil {
		t.Fatal(err)
	}
	if c := f.record("blog").Checks; !slices.Equal(c.Disabled, []string{platform.AllTypes}) || len(c.Skipped) != 0 {
		t.Fatalf("disabled %v skipped %v; want all disabled", c.Disabled, c.Skipped)
	}
	if err := s.SetChecks(ctx, "blog", "enable", nil); err != nil {
		t.Fatal(err)
	}
	if c := f.record("blog").Checks; len(c.Disabled) != 0 || len(c.Skipped) != 0 {
		t.Fatalf("disabled %v skipped %v after enable", c.Disabled, c.Skipped)
	}
}

// wait-to-retire is 0 (unset) to an hour, per app and global.
func TestWaitToRetireIsBoundedToAnHour(t *testing.T) {
	s, f, _ := newSettings(t, "blog")
	ctx := context.Background()
	if err := s.SetWaitToRetire(ctx, "blog", MaxWaitToRetire+1); err == nil {
		t.Error("an app's wait above an hour was taken")
	}
	if err := s.SetGlobalWaitToRetire(ctx, -1); err == nil {
		t.Error("a negative global wait was taken")
	}
	if err := s.SetWaitToRetire(ctx, "blog", 5); err != nil {
		t.Fatal(err)
	}
	if err := s.SetGlobalWaitToRetire(ctx, 7); err != nil {
		t.Fatal(err)
	}
	r, err := s.Checks(ctx, "blog")
	if err != nil || f.record("blog").Checks.WaitToRetire != 5 || r.GlobalWaitToRetire != 7 {
		t.Fatalf("app %d global %d (%v)", f.record("blog").Checks.WaitToRetire, r.GlobalWaitToRetire, err)
	}
}

// checks:report's wait-to-retire is the app's, else the global one, else
// the default; the global one is reported beside it.
func TestChecksReportResolvesWaitToRetire(t *testing.T) {
	s, _, _ := newSettings(t, "blog")
	ctx := context.Background()
	want := func(wait, global int) {
		t.Helper()
		r, err := s.Checks(ctx, "blog")
		if err != nil || r.WaitToRetire != wait || r.GlobalWaitToRetire != global {
			t.Fatalf("report %+v, %v; want wait %d global %d", r, err, wait, global)
		}
	}
	want(platform.DefaultWaitToRetire, 0)
	s.SetGlobalWaitToRetire(ctx, 9)
	want(9, 9)
	s.SetWaitToRetire(ctx, "blog", 3)
	want(3, 9)
}

// A setting of an app that does not exist is the core's error.
func TestSettingOfAMissingAppFails(t *testing.T) {
	s, _, _ := newSettings(t)
	ctx := context.Background()
	for _, err := range []error{
		s.SetRestartPolicy(ctx, "ghost", "always"),
		s.SetStopTimeout(ctx, "ghost", 5),
		s.SetProcfilePath(ctx, "ghost", "Procfile"),
		s.SetChecks(ctx, "ghost", "disable", nil),
		s.SetWaitToRetire(ctx, "ghost", 5),
	} {
		if !errors.Is(err, platform.ErrAppNotFound) {
			t.Errorf("err = %v, want ErrAppNotFound", err)
		}
	}
	if _, err := s.Checks(ctx, "ghost"); !errors.Is(err, platform.ErrAppNotFound) {
		t.Errorf("report err = %v", err)
	}
}
