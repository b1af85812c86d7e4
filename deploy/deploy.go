// Package deploy is Berth's deploy pipeline and what it runs: releases and
// rollback, restart, ps:scale and the formation (issue 12 moves the rest
// of the pipeline here from package platform: the build, push, git:sync,
// git:from-image, build records and config releases).
//
// It owns no record of its own yet: the releases, the formation and the
// last deploy stay on the app record where earlier versions wrote them,
// changed under the app's lock through the core (Apps.ChangeApp), so an
// upgrade reads everything unchanged.
//
// The direction of the imports: deploy imports platform (the App and
// Release types, the error kinds, the Scheduler seam), never the other
// way round. The core's own changes that must roll out a release (a
// rename, proxy:disable) call its rollout directly; the commands reach
// the pipeline through commands.Backend's Deploy field.
package deploy

import (
	"context"
	"io"

	"github.com/berth-paas/berth/platform"
)

// Apps is what the pipeline needs of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// ChangeApp runs change on the app's record under its lock, busy with
	// what ("a rollback"); save writes the record.
	ChangeApp(ctx context.Context, app, what string, change func(a *platform.App, save func() error) error) error
	// GlobalSettings reads the global settings document (releases:set
	// --global's keep, for rollback's message).
	GlobalSettings(ctx context.Context) (platform.Global, error)
	// Limits are the Caddyfile's bounds (max_scale, keep_releases, ...).
	Limits() platform.Limits
	// CheckFormation refuses a formation over the limits, saying what
	// asked for it.
	CheckFormation(app string, formation map[string]int, what string) error
	// Rollout runs a release as the app's formation (the scheduler's
	// rollout) and ends the log with the app's URLs; the app is locked.
	Rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error
	// ConfigRelease rolls out a copy of rel with the app's current config
	// as a new release; the app is locked.
	ConfigRelease(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error
}

// Engine is what the pipeline needs of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests).
type Engine interface {
	// Tag gives an image (by ID) another name.
	Tag(ctx context.Context, id, ref string) error
	// RemoveImage removes a tag, and the image with its unused untagged
	// parents when it was the last.
	RemoveImage(ctx context.Context, ref string) error
}

// Config is what a Deployer is made from.
type Config struct {
	Apps   Apps
	Engine Engine
	// Scheduler runs the apps' formations (the one the platform was
	// given: package scheduler/dockerlocal).
	Scheduler platform.Scheduler
}

// Deployer runs the apps' releases. Its methods are safe for concurrent
// use: every change takes the app's lock through the core.
type Deployer struct {
	apps   Apps
	engine Engine
	sched  platform.Scheduler
}

// New returns a Deployer.
func New(cfg Config) *Deployer {
	return &Deployer{apps: cfg.Apps, engine: cfg.Engine, sched: cfg.Scheduler}
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
