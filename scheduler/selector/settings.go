package selector

import (
	"context"
	"fmt"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Apps is what the settings need of the app core (*platform.Platform).
type Apps interface {
	App(ctx context.Context, name string) (*platform.App, error)
	// UpdateApp changes an app's record under its lock; an error from
	// change leaves it as it was.
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
	// LockGlobal marks the global settings busy with what.
	LockGlobal(what string) (unlock func(), err error)
}

// Config is what Settings are made from.
type Config struct {
	// Store keeps the global settings document (the core's store).
	Store store.Store
	// Apps is the app core whose records hold the apps' choices.
	Apps Apps
}

// Settings are the scheduler settings, for scheduler:set and
// scheduler:report.
type Settings struct {
	store store.Store
	apps  Apps
}

// NewSettings returns the scheduler settings kept in cfg.Store and on
// cfg.Apps' records.
func NewSettings(cfg Config) *Settings { return &Settings{store: cfg.Store, apps: cfg.Apps} }

// Set sets the scheduler app's next rollout runs on (scheduler:set APP
// selected NAME); "" unsets it (the global one applies).
func (s *Settings) Set(ctx context.Context, app, name string) error {
	if err := check(name); err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		if err := tcpRefused(a, name); err != nil {
			return err
		}
		a.Scheduler = name
		return nil
	})
}

// SetGlobal sets the scheduler of apps that select none (scheduler:set
// --global selected NAME); "" goes back to docker-local.
func (s *Settings) SetGlobal(ctx context.Context, name string) error {
	if err := check(name); err != nil {
		return err
	}
	unlock, err := s.apps.LockGlobal("a global settings change")
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return err
	}
	g.Scheduler = name
	return store.SaveFields(ctx, s.store, globalKey, globalOwnKeys, g,
		func(err error) error { return fmt.Errorf("global settings: %w", err) })
}

// Report is scheduler:report's: Dokku's keys (--scheduler-selected, ...),
// and what runs the app's current generation.
type Report struct {
	App string `json:"app,omitempty"`
	// Selected is the app's own choice ("" none).
	Selected string `json:"selected"`
	// GlobalSelected is the global one ("" none).
	GlobalSelected string `json:"global_selected"`
	// ComputedSelected is what the next rollout runs on.
	ComputedSelected string `json:"computed_selected"`
	// Running is what runs the current generation ("" before the first
	// deploy).
	Running string `json:"running,omitempty"`
}

// Report is app's scheduler report.
func (s *Settings) Report(ctx context.Context, app string) (Report, error) {
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return Report{}, err
	}
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return Report{}, err
	}
	r := Report{App: app, Selected: a.Scheduler, GlobalSelected: g.Scheduler, ComputedSelected: computed(a.Scheduler, g.Scheduler)}
	if a.Current != 0 {
		r.Running = running(a)
	}
	return r, nil
}

// GlobalReport is scheduler:report --global's.
func (s *Settings) GlobalReport(ctx context.Context) (Report, error) {
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return Report{}, err
	}
	return Report{GlobalSelected: g.Scheduler, ComputedSelected: computed("", g.Scheduler)}, nil
}

func computed(own, global string) string {
	switch {
	case own != "":
		return own
	case global != "":
		return global
	}
	return DockerLocal
}

// tcpRefused refuses scheduler name for a, when a has tcp port mappings
// and name is not docker-local: Berth serves them by swapping a target's
// port for the mapping's, which is sound only for a container's own
// address (a swarm task's is its node's, any program of which the
// mapping would reach).
func tcpRefused(a *platform.App, name string) error {
	if name == "" || name == DockerLocal {
		return nil
	}
	for _, s := range a.PortMap {
		if m, err := platform.ParsePortMapping(s); err == nil && m.Scheme == "tcp" {
			return fmt.Errorf("app %s has the tcp port mapping %s, which the %s scheduler does not serve: ports:remove %s %s first", a.Name, s, name, a.Name, s)
		}
	}
	return nil
}
