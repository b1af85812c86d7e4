package registry

import (
	"context"
	"io"
	"log/slog"

	"github.com/berth-paas/berth/platform"
)

// Hooks are the core's hooks the registry follows the apps' lives
// through (*platform.Hooks is one).
type Hooks interface {
	OnRolledOut(f func(ctx context.Context, a *platform.App, save func() error, log io.Writer) error)
	OnAppDestroyed(f func(ctx context.Context, app string))
	OnAppRenamed(f func(ctx context.Context, from, to string))
}

// Follow registers the registry's hooks: after a rollout (and after the
// releases' retention, which the core runs first when registered
// first), the tags of releases the app no longer keeps go, and the
// storage is collected; a destroyed app's repository and credentials go.
func (r *Registry) Follow(h Hooks) {
	h.OnRolledOut(func(ctx context.Context, a *platform.App, _ func() error, _ io.Writer) error {
		keep := make([]int, 0, len(a.Releases)+1)
		for _, rel := range a.Releases {
			keep = append(keep, rel.Version)
		}
		keep = append(keep, a.Current)
		return r.Prune(ctx, a.Name, keep, a.Generation)
	})
	h.OnAppDestroyed(func(ctx context.Context, app string) {
		if err := r.Forget(ctx, app); err != nil {
			r.log.Warn("registry: removing a destroyed app's images", "app", app, "error", err, slog.String("hint", "they go at its name's next prune"))
		}
	})
}

// Follow registers the settings' hooks: a destroyed app's settings and
// logins go, a renamed app's move with it.
func (s *Settings) Follow(h Hooks) {
	h.OnAppRenamed(func(_ context.Context, from, to string) {
		if err := s.move(from, to); err != nil {
			slog.Warn("registry: moving a renamed app's settings", "from", from, "to", to, "error", err)
		}
	})
	h.OnAppDestroyed(func(_ context.Context, app string) {
		if err := s.forget(app); err != nil {
			slog.Warn("registry: removing a destroyed app's settings", "app", app, "error", err)
		}
	})
}
