package buildconfig

import (
	"context"
	"fmt"

	"github.com/berth-paas/berth/platform"
)

// MaxBuildRetention bounds builds:set retention: every kept build holds
// its log (up to build_log_max) on the state disk.
const MaxBuildRetention = 1000

// checkRetention refuses a retention Berth does not keep. A deploy key
// may lower an app's retention, or raise it back up to KeepBuilds, never
// beyond: builds fill the state disk.
func checkRetention(ctx context.Context, n int) error {
	if n < 1 || n > MaxBuildRetention {
		return fmt.Errorf("retention %d: give a whole number of builds from 1 to %d (or no value for the default, %d)", n, MaxBuildRetention, platform.KeepBuilds)
	}
	if platform.IsDeployKey(ctx) && n > platform.KeepBuilds {
		return fmt.Errorf("retention %d is more than a deploy key may set (at most %d): kept builds fill the host's disk, so a larger retention needs an admin key", n, platform.KeepBuilds)
	}
	return nil
}

// SetBuildRetention sets how many builds of app Berth keeps (Dokku's
// builds:set APP retention N); 0 goes back to the global setting. Older
// builds are removed at the end of the app's next deploy, as in Dokku.
func (s *Settings) SetBuildRetention(ctx context.Context, app string, n int) error {
	if n != 0 {
		if err := checkRetention(ctx, n); err != nil {
			return err
		}
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error { a.BuildRetention = n; return nil })
}

// SetGlobalBuildRetention sets how many builds Berth keeps of apps that
// set none (builds:set --global retention N); 0 goes back to KeepBuilds.
func (s *Settings) SetGlobalBuildRetention(ctx context.Context, n int) error {
	if n != 0 {
		if err := checkRetention(ctx, n); err != nil {
			return err
		}
	}
	return s.changeGlobal(ctx, "a global settings change", func(g *global) { g.BuildRetention = n })
}

// BuildsSettings are what builds:report shows of the retention: the
// app's own (0: none), the global one (0: none) and the one that applies.
type BuildsSettings struct {
	Retention, GlobalRetention, ComputedRetention int
}

// BuildsSettings returns the retention settings of app, or the global
// ones for "".
func (s *Settings) BuildsSettings(ctx context.Context, app string) (BuildsSettings, error) {
	g, err := loadGlobal(ctx, s.store)
	if err != nil {
		return BuildsSettings{}, err
	}
	r := BuildsSettings{GlobalRetention: g.BuildRetention, ComputedRetention: platform.KeepBuilds}
	if g.BuildRetention > 0 {
		r.ComputedRetention = g.BuildRetention
	}
	if app == "" {
		return r, nil
	}
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return BuildsSettings{}, err
	}
	r.Retention = a.BuildRetention
	if a.BuildRetention > 0 {
		r.ComputedRetention = a.BuildRetention
	}
	return r, nil
}
