// Package pssettings keeps the settings of an app's processes: Dokku's
// ps:set (restart-policy, stop-timeout-seconds, procfile-path) and
// checks:set / checks:disable|enable|skip (wait-to-retire, the process
// types whose checks are disabled or skipped), per app and --global, and
// the checks report.
//
// It owns their logic (what a value may be, what it means to unset one,
// applying a restart policy to the running containers at once), not their
// storage: the values stay where the previous versions wrote them, on the
// app record (restart_policy, stop_timeout_seconds, procfile_path,
// checks) and in the global settings document (restart_policy,
// stop_timeout_seconds, wait_to_retire), so existing state reads
// unchanged and no migration is needed. The rollout reads them through
// the core's plain resolvers (platform.RestartPolicyOf, StopTimeoutOf,
// WaitToRetireOf) when it makes or retires containers; the core does not
// import this package. The settings live and die with the app record, so
// the package follows no app's life. It is given the app core and the
// engine at construction.
package pssettings

import (
	"context"
	"fmt"
	"path"
	"slices"
	"strings"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
)

// MaxStopTimeoutSeconds bounds stop-timeout-seconds: an hour between
// SIGTERM and SIGKILL.
const MaxStopTimeoutSeconds = 3600

// MaxWaitToRetire bounds wait-to-retire, in seconds.
const MaxWaitToRetire = 3600

// Apps is what the settings need of the app core (a *platform.Platform).
type Apps interface {
	// App returns the app's record (ErrAppNotFound when there is none).
	App(ctx context.Context, name string) (*platform.App, error)
	// UpdateApp changes the app's record under its lock; an error from
	// change leaves it as it was.
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
	// ChangeApp runs change under the app's lock, busy with what; save
	// writes the record.
	ChangeApp(ctx context.Context, app, what string, change func(a *platform.App, save func() error) error) error
}

// Globals is what the settings need of the global settings document (a
// *platform.Globals).
type Globals interface {
	// Change changes the document under its lock.
	Change(ctx context.Context, what string, change func(*platform.Global) error) error
	// Process are the process settings of the document.
	Process() platform.ProcessGlobals
}

// Engine is what the settings need of the container engine (a
// *docker.Client, or internal/fakeengine in unit tests): the app's
// containers, to give them a new restart policy at once.
type Engine interface {
	routes.ContainerLister
	UpdateRestartPolicy(ctx context.Context, id, name string, maxRetries int) error
}

// Config is what Settings are made from.
type Config struct {
	Apps Apps
	// Globals is the global settings document (the platform's).
	Globals Globals
	Engine  Engine
}

// Settings keeps the apps' process settings. Its methods are safe for
// concurrent use (the core's locks serialize the changes).
type Settings struct {
	apps    Apps
	globals Globals
	engine  Engine
}

// New returns the process settings of cfg.Apps' apps.
func New(cfg Config) *Settings {
	return &Settings{apps: cfg.Apps, globals: cfg.Globals, engine: cfg.Engine}
}

// SetRestartPolicy sets the app's restart policy (Dokku's ps:set APP
// restart-policy), applying it to the running containers at once.
func (s *Settings) SetRestartPolicy(ctx context.Context, app, policy string) error {
	name, retries, err := docker.ParseRestartPolicy(policy)
	if err != nil {
		return err
	}
	// Under the app's lock, saved before the containers change: a
	// rollout cannot start containers with the old policy meanwhile.
	return s.apps.ChangeApp(ctx, app, "a settings change", func(a *platform.App, save func() error) error {
		a.RestartPolicy = policy
		if err := save(); err != nil {
			return err
		}
		cs, err := routes.AppContainers(ctx, s.engine, app)
		if err != nil {
			return err
		}
		for _, c := range cs {
			if err := s.engine.UpdateRestartPolicy(ctx, c.ID, name, retries); err != nil {
				return err
			}
		}
		return nil
	})
}

// SetGlobalRestartPolicy sets the restart policy of apps that set none
// (Dokku's ps:set --global restart-policy); "" goes back to the default.
// Apps' containers get it from their next deploy or ps:restart.
func (s *Settings) SetGlobalRestartPolicy(ctx context.Context, policy string) error {
	if policy != "" {
		if _, _, err := docker.ParseRestartPolicy(policy); err != nil {
			return err
		}
	}
	return s.globals.Change(ctx, "a global settings change", func(g *platform.Global) error {
		g.RestartPolicy = policy
		return nil
	})
}

func checkStopTimeout(seconds int) error {
	if seconds < 0 || seconds > MaxStopTimeoutSeconds {
		return fmt.Errorf("stop-timeout-seconds must be from 1 to %d (0 unsets it)", MaxStopTimeoutSeconds)
	}
	return nil
}

// SetStopTimeout sets how long the app's containers get between SIGTERM
// and SIGKILL, from the next rollout on; 0 unsets it.
func (s *Settings) SetStopTimeout(ctx context.Context, app string, seconds int) error {
	if err := checkStopTimeout(seconds); err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		a.StopTimeoutSeconds = seconds
		return nil
	})
}

// SetGlobalStopTimeout sets the stop timeout of apps that set none
// (Dokku's ps:set --global stop-timeout-seconds); 0 goes back to the
// default. It applies to the containers stopped from now on.
func (s *Settings) SetGlobalStopTimeout(ctx context.Context, seconds int) error {
	if err := checkStopTimeout(seconds); err != nil {
		return err
	}
	return s.globals.Change(ctx, "a global settings change", func(g *platform.Global) error {
		g.StopTimeoutSeconds = seconds
		return nil
	})
}

// SetProcfilePath says where the app's Procfile is in its source
// (Dokku's ps:set APP procfile-path PATH), relative to the root; ""
// goes back to Procfile. It applies from the next deploy.
func (s *Settings) SetProcfilePath(ctx context.Context, app, file string) error {
	if file != "" {
		clean := path.Clean(file)
		if path.IsAbs(file) || clean != file || clean == "." || strings.HasPrefix(clean, "../") || clean == ".." {
			return fmt.Errorf("procfile-path %q: give a path in the app's source, relative to its root, such as deploy/Procfile", file)
		}
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		a.ProcfilePath = file
		return nil
	})
}

// SetChecks changes the app's checks settings: action "disable", "enable"
// or "skip" checks for process types (nil or platform.AllTypes for all).
func (s *Settings) SetChecks(ctx context.Context, app, action string, types []string) error {
	if len(types) == 0 {
		types = []string{platform.AllTypes}
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		c := &a.Checks
		without := func(list, remove []string) []string {
			return slices.DeleteFunc(list, func(t string) bool {
				return slices.Contains(remove, t) || slices.Contains(remove, platform.AllTypes)
			})
		}
		c.Disabled, c.Skipped = without(c.Disabled, types), without(c.Skipped, types)
		switch action {
		case "disable":
			c.Disabled = append(c.Disabled, types...)
		case "skip":
			c.Skipped = append(c.Skipped, types...)
		}
		return nil
	})
}

func checkWaitToRetire(seconds int) error {
	if seconds < 0 || seconds > MaxWaitToRetire {
		return fmt.Errorf("wait-to-retire must be from 0 to %d seconds", MaxWaitToRetire)
	}
	return nil
}

// SetWaitToRetire sets, in seconds, how long the app's old containers may
// drain; 0 unsets it.
func (s *Settings) SetWaitToRetire(ctx context.Context, app string, seconds int) error {
	if err := checkWaitToRetire(seconds); err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		a.Checks.WaitToRetire = seconds
		return nil
	})
}

// SetGlobalWaitToRetire sets the wait-to-retire of apps that set none
// (Dokku's checks:set --global wait-to-retire); 0 goes back to the
// default. It applies from the next rollout.
func (s *Settings) SetGlobalWaitToRetire(ctx context.Context, seconds int) error {
	if err := checkWaitToRetire(seconds); err != nil {
		return err
	}
	return s.globals.Change(ctx, "a global settings change", func(g *platform.Global) error {
		g.WaitToRetire = seconds
		return nil
	})
}

// ChecksReport is what checks:report shows.
type ChecksReport struct {
	// Disabled and Skipped are the process types (or platform.AllTypes)
	// whose checks are disabled or skipped.
	Disabled []string
	Skipped  []string
	// WaitToRetire is the wait-to-retire that applies, in seconds, and
	// GlobalWaitToRetire checks:set --global's (0: none).
	WaitToRetire       int
	GlobalWaitToRetire int
}

// Checks reports the app's checks settings.
func (s *Settings) Checks(ctx context.Context, app string) (ChecksReport, error) {
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return ChecksReport{}, err
	}
	g := s.globals.Process()
	return ChecksReport{
		Disabled: slices.Clone(a.Checks.Disabled), Skipped: slices.Clone(a.Checks.Skipped),
		WaitToRetire:       int(platform.WaitToRetireOf(a, g).Seconds()),
		GlobalWaitToRetire: g.WaitToRetire,
	}, nil
}
