package platform

import (
	"context"
	"time"
)

// The settings an app's containers run with (restart policy, stop
// timeout, wait-to-retire) are set by a package of their own (pssettings:
// ps:set, checks:set), which keeps them where they always were: on the
// app record and in the global settings document. The core only resolves
// them, with the plain functions below, when it makes or retires
// containers.

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

// ProcessGlobals returns the process settings of the global document, as
// the core uses them (read at Start, kept current by ChangeGlobal).
func (p *Platform) ProcessGlobals() ProcessGlobals {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.processGlobals
}

// ChangeGlobal changes the global settings document under the global lock
// (busy with what), for a package that keeps settings in its fields
// (pssettings, disk). An error from change leaves the document as it was.
// The core's copy of the process settings follows the saved document.
func (p *Platform) ChangeGlobal(ctx context.Context, what string, change func(*Global) error) error {
	unlock, err := p.lock("_global", what)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	if err := change(&g); err != nil {
		return err
	}
	if err := saveGlobal(ctx, p.store, g); err != nil {
		return err
	}
	p.mu.Lock()
	p.processGlobals = processGlobalsOf(g)
	p.mu.Unlock()
	return nil
}

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
	return change(a, func() error { return saveApp(ctx, p.store, a) })
}
