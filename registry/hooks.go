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
// storage is collected; a destroyed app's repository and credentials go,
// and so do a renamed app's under its old name (the rename rolled it out
// under the new name, pushed to berth/NEW, and removed the old services
// before OnAppRenamed): nothing of it is left to the next app of that
// name.
func (r *Registry) Follow(h Hooks) {
	h.OnRolledOut(func(ctx context.Context, a *platform.App, _ func() error, _ io.Writer) error {
		keep := make([]int, 0, len(a.Releases)+1)
		for _, rel := range a.Releases {
			keep = append(keep, rel.Version)
		}
		keep = append(keep, a.Current)
		return r.Prune(ctx, a.Name, keep, a.Generation)
	})
	h.OnAppDestroyed(func(ctx context.Context, app string) { r.forgetApp(ctx, app, "a destroyed app") })
	h.OnAppRenamed(func(ctx context.Context, from, _ string) { r.forgetApp(ctx, from, "a renamed app's old name") })
}

// forgetApp is Forget, tried twice (a hook has no one to return an
// error to). What is left is reported: Publish uses a tag only when it
// names the image published, so a leftover tag serves no later app of
// the name another image, but a leftover pull credential reads the
// name's repository.
func (r *Registry) forgetApp(ctx context.Context, app, what string) {
	ctx = context.WithoutCancel(ctx)
	err := r.Forget(ctx, app)
	if err != nil {
		err = r.Forget(ctx, app)
	}
	if err != nil {
		r.log.Error("registry: removing the images and pull credentials of "+what, "app", app, "error", err,
			slog.String("hint", "remove app "+app+"'s entry from STATE/registry/credentials.json by hand before an app of that name is created; its images go at that name's next prune"))
	}
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
