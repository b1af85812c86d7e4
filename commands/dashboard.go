package commands

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/berth-paas/berth/platform"
)

// Logins is the web dashboard's sign-in (package dashboard): one-time
// login URLs made by a key's command, and the sessions they open.
type Logins interface {
	// NewLogin returns a one-time URL that opens a session for g, and
	// when it stops working.
	NewLogin(g LoginGrant) (url string, expires time.Time, err error)
	// LogoutAll ends every session and unused login URL; it returns how
	// many sessions it ended.
	LogoutAll() int
}

// LoginGrant is what a dashboard session is made for, so that it ends
// when what it came from is gone: every request of the session checks
// that the key still exists with a scope that covers App, and that App
// is still the app it was (not destroyed and recreated under the name,
// nor renamed away).
type LoginGrant struct {
	// App is the session's app, "" for an admin session.
	App string
	// AppCreated is App's CreatedAt when the login URL was made.
	AppCreated time.Time
	// Key is the SHA256 fingerprint of the SSH key that ran
	// dashboard:login; "" when no key did (`caddy berth` on the host).
	Key string
}

var dashboardCommands = []command{
	{appScope, "dashboard:login", "dashboard:login APP|--admin", "Print a one-time URL (10 minutes, one use) that signs the browser in to the web dashboard, for APP only, or (admin keys) for everything", dashboardLogin},
	{adminScope, "dashboard:logout-all", "dashboard:logout-all", "Sign every dashboard session out and void unused login URLs", dashboardLogoutAll},
}

var errNoDashboard = errors.New("the web dashboard is off: set `dashboard HOST` in the Caddyfile's berth block (such as `dashboard berth.example.com`) and reload")

func dashboardLogin(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, admin := flags["admin"]
	for f := range flags {
		if f != "admin" {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	g := LoginGrant{Key: platform.KeyFingerprint(ctx)}
	switch {
	case admin && len(pos) == 0:
		// The door lets a deploy key run an app-scoped command only with
		// its app first, so --admin comes from an admin key; this is the
		// second lock on that door.
		if platform.IsDeployKey(ctx) {
			return platform.Errorf(ErrForbidden, "a deploy key's session is scoped to its app: run dashboard:login APP")
		}
	case !admin && len(pos) == 1:
		a, err := p.App(ctx, pos[0])
		if err != nil {
			return err
		}
		g.App, g.AppCreated = a.Name, a.CreatedAt
	default:
		return usageError{"name one app, or --admin for a session that sees every app"}
	}
	if p.Dashboard == nil {
		return errNoDashboard
	}
	url, expires, err := p.Dashboard.NewLogin(g)
	if err != nil {
		return err
	}
	scope := "every app (admin)"
	if g.App != "" {
		scope = "app " + g.App + " only"
	}
	fmt.Fprintln(out.Stdout, url)
	fmt.Fprintf(out.Stderr, "-----> Open the URL above within %s (until %s); it works once, and signs in for %s\n",
		time.Until(expires).Round(time.Minute), expires.UTC().Format(time.RFC3339), scope)
	return nil
}

func dashboardLogoutAll(_ context.Context, p *Backend, args []string, out IO) error {
	if len(args) != 0 {
		return usageError{"dashboard:logout-all takes no arguments"}
	}
	if p.Dashboard == nil {
		return errNoDashboard
	}
	n := p.Dashboard.LogoutAll()
	fmt.Fprintf(out.Stderr, "-----> Signed out %d dashboard session(s); unused login URLs no longer work\n", n)
	return nil
}
