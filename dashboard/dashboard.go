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
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
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

// Dashboard is the web dashboard of one Berth.
type Dashboard struct {
	log     *slog.Logger
	urlFor  func(host string) string
	granted func(ctx context.Context, g commands.LoginGrant) error
	metrics Metrics

	handlerOnce sync.Once
	mux         http.Handler

	mu         sync.Mutex
	backend    *commands.Backend
	host       string
	sessionTTL time.Duration
	logins     map[string]login    // by the token's hash: a leaked map holds no usable token
	sessions   map[string]*session // by the cookie's hash
	now        func() time.Time

	// exec runs a command line (commands.Exec; a fake in unit tests).
	exec func(ctx context.Context, b *commands.Backend, args []string, streams commands.IO) error
	// heartbeat is how often a live stream sends a comment and checks
	// that its session still holds.
	heartbeat time.Duration

	// Live streams open per key that made their session (each follows
	// a Docker log or polls a build): a key gets as many as it may open
	// SSH sessions, since either way it is a command left running.
	streams         map[string]int // by grant key
	maxStreams      int            // per deploy key
	maxAdminStreams int            // per admin key
}

// SetStreamLimits sets how many live streams (log views, build logs) the
// sessions of one key may have open at once: perKey for a deploy key's,
// perAdminKey for an admin's. The Caddyfile's ssh_max_sessions_per_key
// and ssh_max_sessions_per_admin_key, passed in at each reload.
func (d *Dashboard) SetStreamLimits(perKey, perAdminKey int) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.maxStreams, d.maxAdminStreams = perKey, perAdminKey
}

// errTooManyStreams is answered 429.
type errTooManyStreams struct {
	open    int
	setting string
}

func (e *errTooManyStreams) Error() string {
	return fmt.Sprintf("Too many live views for this key (%d open): close some dashboard tabs showing live logs or build logs, and sign out of sessions you no longer use (`dashboard:logout-all` ends them all), then reload. The server's limit is the Caddyfile's %s (the setting of SSH sessions; dashboard views are counted apart).", e.open, e.setting)
}

// acquireStream takes one of the session key's stream slots, or says why
// not.
func (d *Dashboard) acquireStream(s *session) (release func(), err error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	max, setting := d.maxStreams, "ssh_max_sessions_per_key"
	if s.app == "" {
		max, setting = d.maxAdminStreams, "ssh_max_sessions_per_admin_key"
	}
	k := s.grant.Key
	if max > 0 && d.streams[k] >= max {
		return nil, &errTooManyStreams{d.streams[k], setting}
	}
	d.streams[k]++
	var once sync.Once
	return func() {
		once.Do(func() {
			d.mu.Lock()
			defer d.mu.Unlock()
			if d.streams[k]--; d.streams[k] <= 0 {
				delete(d.streams, k)
			}
		})
	}, nil
}

type login struct {
	grant   commands.LoginGrant
	expires time.Time
	host    string // the dashboard host it was made for
}

type session struct {
	app     string // "" for an admin session
	grant   commands.LoginGrant
	expires time.Time
	csrf    string // the forms' token
	flash   string // the last action's result, shown once
	flashOK bool
	// key is the cookie's hash, the session's key in Dashboard.sessions.
	key string
	// host is the dashboard host the session was made on: its cookie is
	// host-only, and one presented on any other host (a former dashboard
	// host an app's wildcard domain now routes, whose app relays it) is
	// refused.
	host string
	// ctx is done when the session ends (sign-out, logout-all, its app
	// destroyed, its key removed, expiry): the live streams it opened
	// derive from it, so that none outlives the session.
	ctx    context.Context
	cancel context.CancelFunc
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
	return &Dashboard{log: log, urlFor: urlFor, granted: granted, metrics: c.Metrics, backend: c.Backend, sessionTTL: DefaultSessionTTL,
		logins: map[string]login{}, sessions: map[string]*session{}, now: time.Now,
		exec: commands.Exec, heartbeat: 20 * time.Second,
		streams: map[string]int{}, maxStreams: DefaultMaxStreamsPerKey, maxAdminStreams: DefaultMaxStreamsPerAdminKey}
}

// SetBackend sets the backend commands run on.
func (d *Dashboard) SetBackend(b *commands.Backend) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.backend = b
}

// SetHost sets the dashboard's host ("" turns it off) and how long
// sessions last (0: the default). A reload calls it; sessions stay while
// the host stays. When the host changes, every session ends and every
// unused login URL is voided (as dashboard:logout-all does): the old host
// is no longer reserved, an app's wildcard domain may route it now, and a
// browser's bookmark to it would hand that app the session cookie (or an
// old login URL's token) to replay at the new host.
func (d *Dashboard) SetHost(host string, sessionTTL time.Duration, urlFor func(string) string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	host = routing.NormalizeHost(host)
	if host != d.host && (len(d.sessions) > 0 || len(d.logins) > 0) {
		n := len(d.sessions)
		d.endAll()
		d.log.Info("dashboard: the dashboard host changed: every session signed out and every unused login URL voided", "from", d.host, "to", host, "sessions", n)
	}
	d.host = host
	if sessionTTL <= 0 {
		sessionTTL = DefaultSessionTTL
	}
	d.sessionTTL = sessionTTL
	if urlFor != nil {
		d.urlFor = urlFor
	}
}

// Serves says whether a request for host is the dashboard's.
func (d *Dashboard) Serves(host string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.host != "" && routing.NormalizeHost(host) == d.host
}

// ErrOff is returned for a login while no dashboard host is set.
var ErrOff = errors.New("the web dashboard is off: set `dashboard HOST` in the Caddyfile's berth block (such as `dashboard berth.example.com`) and reload")

// NewLogin makes a one-time login URL for a session of g (scoped to g.App,
// "" for admin). Only the token's hash is kept.
func (d *Dashboard) NewLogin(g commands.LoginGrant) (string, time.Time, error) {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.host == "" {
		return "", time.Time{}, ErrOff
	}
	d.purge()
	if len(d.logins) >= maxPendingLogins {
		var oldest string
		for k, l := range d.logins {
			if oldest == "" || l.expires.Before(d.logins[oldest].expires) {
				oldest = k
			}
		}
		delete(d.logins, oldest)
	}
	token := randomToken()
	expires := d.now().Add(LoginTTL)
	d.logins[hash(token)] = login{grant: g, expires: expires, host: d.host}
	return strings.TrimSuffix(d.urlFor(d.host), "/") + "/login?token=" + token, expires, nil
}

// LogoutAll ends every session and voids every unused login URL.
func (d *Dashboard) LogoutAll() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := len(d.sessions)
	d.endAll()
	d.log.Info("dashboard: every session signed out", "sessions", n)
	return n
}

// endAll ends every session and voids every login URL; d.mu is held.
func (d *Dashboard) endAll() {
	for _, s := range d.sessions {
		s.cancel()
	}
	d.sessions = map[string]*session{}
	d.logins = map[string]login{}
}

// validLogin says whether token is a login URL's that still works,
// without using it up (the page that asks to sign in shows it).
func (d *Dashboard) validLogin(token string) bool {
	d.mu.Lock()
	defer d.mu.Unlock()
	l, ok := d.logins[hash(token)]
	return ok && d.now().Before(l.expires)
}

// redeem uses a login token up and opens a session on host (the
// request's); it returns the session's cookie value. A token is good only
// on the dashboard host it was made for.
func (d *Dashboard) redeem(token, host string) (cookie string, s *session, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := hash(token)
	l, ok := d.logins[h]
	delete(d.logins, h) // one use, even a late one
	if !ok || !d.now().Before(l.expires) || l.host == "" || routing.NormalizeHost(host) != l.host {
		return "", nil, false
	}
	d.purge()
	if len(d.sessions) >= maxSessions {
		var oldest string
		for k, s := range d.sessions {
			if oldest == "" || s.expires.Before(d.sessions[oldest].expires) {
				oldest = k
			}
		}
		d.drop(oldest)
	}
	cookie = randomToken()
	s = &session{app: l.grant.App, grant: l.grant, expires: d.now().Add(d.sessionTTL), csrf: randomToken(), key: hash(cookie), host: l.host}
	// The deadline ends a stream that is open when the session expires
	// (a stream makes no further request that would find out).
	s.ctx, s.cancel = context.WithTimeout(context.Background(), d.sessionTTL)
	d.sessions[s.key] = s
	return cookie, s, true
}

// sessionFor returns the session of a cookie value presented on host
// (the request's), nil when there is none, it expired, or it was made on
// another host.
func (d *Dashboard) sessionFor(cookie, host string) *session {
	d.mu.Lock()
	defer d.mu.Unlock()
	h := hash(cookie)
	s, ok := d.sessions[h]
	if !ok || routing.NormalizeHost(host) != s.host {
		return nil
	}
	if !d.now().Before(s.expires) || s.ctx.Err() != nil {
		d.drop(h)
		return nil
	}
	return s
}

// drop ends the session of a cookie's hash and the streams it opened;
// d.mu is held.
func (d *Dashboard) drop(h string) {
	if s, ok := d.sessions[h]; ok {
		s.cancel()
		delete(d.sessions, h)
	}
}

// stillValid says why a session no longer holds (nil when it does): a
// live stream asks it at each heartbeat and build poll, as every request
// does through withSession.
func (d *Dashboard) stillValid(ctx context.Context, s *session) error {
	if err := s.ctx.Err(); err != nil {
		return errors.New("the session has ended")
	}
	if err := d.granted(ctx, s.grant); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the browser left during the check: the session holds
		}
		d.log.Warn("dashboard: session ended: what it was made for is gone", "scope", scopeName(s), "reason", err.Error())
		d.mu.Lock()
		d.drop(s.key)
		d.mu.Unlock()
		return err
	}
	return nil
}

// streamContext is the context of a live stream: done when the browser
// leaves or the session ends.
func streamContext(r *http.Request, s *session) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(r.Context())
	stop := context.AfterFunc(s.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// EndAppSessions ends the sessions and voids the unused login URLs of app
// (apps:destroy, apps:rename): a session never outlives its app, even
// before its next request would find out.
func (d *Dashboard) EndAppSessions(app string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	n := 0
	for k, s := range d.sessions {
		if s.app == app {
			d.drop(k)
			n++
		}
	}
	for k, l := range d.logins {
		if l.grant.App == app {
			delete(d.logins, k)
		}
	}
	if n > 0 {
		d.log.Info("dashboard: sessions of a destroyed or renamed app signed out", "app", app, "sessions", n)
	}
	return n
}

func (d *Dashboard) endSession(cookie string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.drop(hash(cookie))
}

// setFlash and takeFlash carry an action's result to the page the
// browser is sent to next.
func (d *Dashboard) setFlash(s *session, msg string, ok bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	s.flash, s.flashOK = msg, ok
}

func (d *Dashboard) takeFlash(s *session) (string, bool) {
	d.mu.Lock()
	defer d.mu.Unlock()
	msg, ok := s.flash, s.flashOK
	s.flash = ""
	return msg, ok
}

// purge drops expired logins and sessions; d.mu is held.
func (d *Dashboard) purge() {
	now := d.now()
	for k, l := range d.logins {
		if !now.Before(l.expires) {
			delete(d.logins, k)
		}
	}
	for k, s := range d.sessions {
		if !now.Before(s.expires) {
			d.drop(k)
		}
	}
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b) // never fails (crypto/rand)
	return base64.RawURLEncoding.EncodeToString(b)
}

func hash(token string) string {
	sum := sha256.Sum256([]byte(token))
	return hex.EncodeToString(sum[:])
}
