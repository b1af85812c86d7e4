package platform

import (
	"context"
	"io"
	"time"
)

// The settings an app's containers run with (restart policy, stop
// timeout, wait-to-retire) and how many releases keep their image are
// set by packages of their own (pssettings: ps:set, checks:set; disk:
// releases:set), which keep them where they always were: on the app
// record and in the global settings document. The core only resolves
// them, with the plain functions below, when it makes or retires
// containers and prunes releases.

// ProcessGlobals are the process settings of the global document that
// apply to the apps that set none of their own; zero fields are unset.
type ProcessGlobals struct {
	// RestartPolicy is ps:set --global restart-policy.
	RestartPolicy string `json:"restart_policy,omitempty"`
	// StopTimeoutSeconds is ps:set --global stop-timeout-seconds.
	StopTimeoutSeconds int `json:"stop_timeout_seconds,omitempty"`
	// WaitToRetire is checks:set --global wait-to-retire, in seconds.
	WaitToRetire int `json:"wait_to_retire,omitempty"`
}

func processGlobalsOf(g Global) ProcessGlobals {
	return ProcessGlobals{RestartPolicy: g.RestartPolicy, StopTimeoutSeconds: g.StopTimeoutSeconds, WaitToRetire: g.WaitToRetire}
}

// RestartPolicyOf is the restart policy a's containers get: its own, else
// the global one, else DefaultRestartPolicy.
func RestartPolicyOf(a *App, g ProcessGlobals) string {
	if a.RestartPolicy != "" {
		return a.RestartPolicy
	}
	if g.RestartPolicy != "" {
		return g.RestartPolicy
	}
	return DefaultRestartPolicy
}

// StopTimeoutOf is how long a's containers get between SIGTERM and
// SIGKILL: its own setting, else the global one, else
// DefaultStopTimeoutSeconds.
func StopTimeoutOf(a *App, g ProcessGlobals) time.Duration {
	if a.StopTimeoutSeconds > 0 {
		return time.Duration(a.StopTimeoutSeconds) * time.Second
	}
	if g.StopTimeoutSeconds > 0 {
		return time.Duration(g.StopTimeoutSeconds) * time.Second
	}
	return DefaultStopTimeoutSeconds * time.Second
}

// WaitToRetireOf is how long a's old containers may drain: its own
// wait-to-retire, else the global one, else DefaultWaitToRetire.
func WaitToRetireOf(a *App, g ProcessGlobals) time.Duration {
	if a.Checks.WaitToRetire > 0 {
		return time.Duration(a.Checks.WaitToRetire) * time.Second
	}
	if g.WaitToRetire > 0 {
		return time.Duration(g.WaitToRetire) * time.Second
	}
	return DefaultWaitToRetire * time.Second
}

// KeepReleasesOf is how many of a's newest releases keep their image, and
// where that number comes from: "app" (releases:set APP), "global"
// (releases:set --global, in g) or "keep_releases" (the Caddyfile's
// limit l, or its default).
func KeepReleasesOf(a *App, g Global, l Limits) (int, string) {
	if a.KeepReleases > 0 {
		return a.KeepReleases, "app"
	}
	if g.KeepReleases > 0 {
		return g.KeepReleases, "global"
	}
	return l.KeepReleases, "keep_releases"
}

// ProcessGlobals returns the process settings of the global document, as
// the core uses them (Globals.Process): schedulers and one-offs read them
// through the core (SchedulerApps).
func (p *Platform) ProcessGlobals() ProcessGlobals { return p.globals.Process() }

// ChangeApp runs change on app's record under the app's lock (busy with
// what, as "a cleanup"), for a package that must save the record before
// it does something else under the same lock (disk removes the images of
// the releases it forgot only once the record no longer names them):
// save writes a's record, as often as change needs.
func (p *Platform) ChangeApp(ctx context.Context, app, what string, change func(a *App, save func() error) error) error {
	a, unlock, err := p.lockedApp(ctx, app, what)
	if err != nil {
		return err
	}
	defer unlock()
	// The write is not cut by the caller's cancel: a deploy whose pusher
	// went away still records its outcome (package deploy). store.Files
	// ignores cancellation anyway; this keeps that true for another store.
	save := func() error { return saveApp(context.WithoutCancel(ctx), p.store, a) }
	return change(a, save)
}

// OnRolledOut registers f to run after a rollout made a release of a
// serve (a deploy, config change, restart or rollback), with the app
// still locked: f may change a and save it with save. A failure costs
// what f was for (disk: old releases stay), not the rollout, so f's error
// is logged only. log is the rollout's output.
func (h *Hooks) OnRolledOut(f func(ctx context.Context, a *App, save func() error, log io.Writer) error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.rolledOut = append(h.rolledOut, f)
}

func (h *Hooks) runRolledOut(ctx context.Context, a *App, save func() error, log io.Writer) []error {
	var errs []error
	for _, f := range snapshot(h, &h.rolledOut) {
		if err := f(ctx, a, save, log); err != nil {
			errs = append(errs, err)
		}
	}
	return errs
}
