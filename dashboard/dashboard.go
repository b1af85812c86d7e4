// Package dashboard is Berth's web dashboard: server-rendered pages on the
// host the Caddyfile's `dashboard HOST` names, signed in with SSH keys
// (dashboard:login prints a one-time URL) and no passwords. Every page
// and every action runs a command of the command table (package
// commands) with the scope of the key that made the session, so the
// dashboard can do nothing that key could not do over SSH.
//
// It knows nothing of Caddy: caddymodule builds one per Berth core, sets
// its host on every config (re)load and hands it the requests for that
// host. Sessions live in memory in the core, so they survive a `caddy
// reload` and end with the process.
package dashboard

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/routing"
)

const (
	// LoginTTL is how long a login URL works (once).
	LoginTTL = 10 * time.Minute
	// DefaultSessionTTL is how long a session lasts unless the Caddyfile's
	// dashboard_session says otherwise.
	DefaultSessionTTL = 12 * time.Hour
	// maxPendingLogins bounds the unused login URLs kept: an admin script
	// in a loop cannot grow memory without end. The oldest goes first.
	maxPendingLogins = 1000
	// maxSessions bounds the open sessions the same way.
	maxSessions = 10000

	cookieName = "berth_session"

	// DefaultMaxStreamsPerKey and DefaultMaxStreamsPerAdminKey are the
	// live streams one key's sessions may hold until SetStreamLimits
	// (the SSH server's session defaults).
	DefaultMaxStreamsPerKey      = 10
	DefaultMaxStreamsPerAdminKey = 50
)

// Config is what a Dashboard is built from.
type Config struct {
	// Backend runs the commands; set later with SetBackend when the
	// backend holds the dashboard too.
	Backend *commands.Backend
	// URLFor returns the URL a user opens for host (scheme and port of
	// the server that serves it); nil means http://HOST.
	URLFor func(host string) string
	Logger *slog.Logger
	// StillGranted says whether what a session was made for still holds:
	// its key (when one made it) still exists with a scope that covers
	// the session's app, and that app is the same one (not destroyed,
	// renamed away, or recreated under its name). Every request of a
	// session asks it, and a session it refuses ends. Nil grants nothing:
	// every session ends at its first request.
	StillGranted func(ctx context.Context, g commands.LoginGrant) error
	// Metrics is the apps' traffic (nil: the pages show none).
	Metrics Metrics
}

// Dashboard is the web dashboard of one Berth: its HTTP handlers (the
// pages, the actions, the live streams), over three parts of its own: the
// sign-in side (sessions.go), the command runner every page reads
// through (runner.go) and the live streams' slots per key (streams.go).
type Dashboard struct {
	log     *slog.Logger
	metrics Metrics

	handlerOnce sync.Once
	mux         http.Handler

	sessions *sessions
	cmds     *runner
	slots    *streamSlots
	// heartbeat is how often a live stream sends a comment and checks
	// that its session still holds.
	heartbeat time.Duration
}

// New returns a dashboard with no host: it serves nothing and makes no
// login URL until SetHost.
func New(c Config) *Dashboard {
	log := c.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	urlFor := c.URLFor
	if urlFor == nil {
		urlFor = func(h string) string { return "http://" + h }
	}
	granted := c.StillGranted
	if granted == nil {
		granted = func(context.Context, commands.LoginGrant) error {
			return errors.New("no check of sessions is set up")
		}
	}
	return &Dashboard{log: log, metrics: c.Metrics,
		sessions:  newSessions(log, granted, urlFor),
		cmds:      &runner{backend: c.Backend, exec: commands.Exec},
		slots:     newStreamSlots(),
		heartbeat: 20 * time.Second}
}

// SetStreamLimits sets how many live streams (log views, build logs) the
// sessions of one key may have open at once: perKey for a deploy key's,
// perAdminKey for an admin's. The Caddyfile's ssh_max_sessions_per_key
// and ssh_max_sessions_per_admin_key, passed in at each reload.
func (d *Dashboard) SetStreamLimits(perKey, perAdminKey int) {
	d.slots.setLimits(perKey, perAdminKey)
}

// SetBackend sets the backend commands run on.
func (d *Dashboard) SetBackend(b *commands.Backend) { d.cmds.setBackend(b) }

// SetHost sets the dashboard's host ("" turns it off) and how long
// sessions last (0: the default). A reload calls it; sessions stay while
// the host stays. When the host changes, every session ends and every
// unused login URL is voided (as dashboard:logout-all does): the old host
// is no longer reserved, an app's wildcard domain may route it now, and a
// browser's bookmark to it would hand that app the session cookie (or an
// old login URL's token) to replay at the new host.
func (d *Dashboard) SetHost(host string, sessionTTL time.Duration, urlFor func(string) string) {
	d.sessions.setHost(host, sessionTTL, urlFor)
}

// Serves says whether a request for host is the dashboard's.
func (d *Dashboard) Serves(host string) bool { return d.sessions.serves(routing.NormalizeHost(host)) }

// ServesNormal is Serves for a name routing.NormalName gave, which it
// does not normalize again (the TLS permission normalizes a server name
// once for all its checks).
func (d *Dashboard) ServesNormal(name routing.Name) bool { return d.sessions.serves(name.String()) }

// ErrOff is returned for a login while no dashboard host is set.
var ErrOff = errors.New("the web dashboard is off: set `dashboard HOST` in the Caddyfile's berth block (such as `dashboard berth.example.com`) and reload")

// NewLogin makes a one-time login URL for a session of g (scoped to g.App,
// "" for admin). Only the token's hash is kept.
func (d *Dashboard) NewLogin(g commands.LoginGrant) (string, time.Time, error) {
	return d.sessions.newLogin(g)
}

// LogoutAll ends every session and voids every unused login URL.
func (d *Dashboard) LogoutAll() int { return d.sessions.logoutAll() }

// EndAppSessions ends the sessions and voids the unused login URLs of app
// (apps:destroy, apps:rename): a session never outlives its app, even
// before its next request would find out.
func (d *Dashboard) EndAppSessions(app string) int { return d.sessions.endApp(app) }
