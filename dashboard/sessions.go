package dashboard

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/routing"
)

// sessions is the dashboard's sign-in side: the dashboard host, the
// one-time login URLs (only their tokens' hashes kept) and the sessions
// they open (by their cookies' hashes), with what each session was made
// for and whether that still holds. It renders nothing: the Dashboard's
// handlers ask it.
type sessions struct {
	log *slog.Logger
	// granted says whether what a session was made for still holds
	// (Config.StillGranted).
	granted func(ctx context.Context, g commands.LoginGrant) error

	mu       sync.Mutex
	host     string
	ttl      time.Duration
	urlFor   func(host string) string
	logins   map[string]login    // by the token's hash: a leaked map holds no usable token
	byCookie map[string]*session // by the cookie's hash
	now      func() time.Time
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
	// key is the cookie's hash, the session's key in sessions.byCookie.
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

func newSessions(log *slog.Logger, granted func(context.Context, commands.LoginGrant) error, urlFor func(string) string) *sessions {
	return &sessions{log: log, granted: granted, urlFor: urlFor, ttl: DefaultSessionTTL,
		logins: map[string]login{}, byCookie: map[string]*session{}, now: time.Now}
}

// setHost is Dashboard.SetHost.
func (ss *sessions) setHost(host string, sessionTTL time.Duration, urlFor func(string) string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	host = routing.NormalizeHost(host)
	if host != ss.host && (len(ss.byCookie) > 0 || len(ss.logins) > 0) {
		n := len(ss.byCookie)
		ss.endAll()
		ss.log.Info("dashboard: the dashboard host changed: every session signed out and every unused login URL voided", "from", ss.host, "to", host, "sessions", n)
	}
	ss.host = host
	if sessionTTL <= 0 {
		sessionTTL = DefaultSessionTTL
	}
	ss.ttl = sessionTTL
	if urlFor != nil {
		ss.urlFor = urlFor
	}
}

// serves says whether a request for host (normalized) is the
// dashboard's.
func (ss *sessions) serves(host string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	return ss.host != "" && host == ss.host
}

// newLogin is Dashboard.NewLogin.
func (ss *sessions) newLogin(g commands.LoginGrant) (string, time.Time, error) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	if ss.host == "" {
		return "", time.Time{}, ErrOff
	}
	ss.purge()
	if len(ss.logins) >= maxPendingLogins {
		var oldest string
		for k, l := range ss.logins {
			if oldest == "" || l.expires.Before(ss.logins[oldest].expires) {
				oldest = k
			}
		}
		delete(ss.logins, oldest)
	}
	token := randomToken()
	expires := ss.now().Add(LoginTTL)
	ss.logins[hash(token)] = login{grant: g, expires: expires, host: ss.host}
	return strings.TrimSuffix(ss.urlFor(ss.host), "/") + "/login?token=" + token, expires, nil
}

// logoutAll ends every session and voids every unused login URL.
func (ss *sessions) logoutAll() int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := len(ss.byCookie)
	ss.endAll()
	ss.log.Info("dashboard: every session signed out", "sessions", n)
	return n
}

// endAll ends every session and voids every login URL; ss.mu is held.
func (ss *sessions) endAll() {
	for _, s := range ss.byCookie {
		s.cancel()
	}
	ss.byCookie = map[string]*session{}
	ss.logins = map[string]login{}
}

// validLogin says whether token is a login URL's that still works,
// without using it up (the page that asks to sign in shows it).
func (ss *sessions) validLogin(token string) bool {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	l, ok := ss.logins[hash(token)]
	return ok && ss.now().Before(l.expires)
}

// redeem uses a login token up and opens a session on host (the
// request's); it returns the session's cookie value. A token is good only
// on the dashboard host it was made for.
func (ss *sessions) redeem(token, host string) (cookie string, s *session, ok bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h := hash(token)
	l, ok := ss.logins[h]
	delete(ss.logins, h) // one use, even a late one
	if !ok || !ss.now().Before(l.expires) || l.host == "" || routing.NormalizeHost(host) != l.host {
		return "", nil, false
	}
	ss.purge()
	if len(ss.byCookie) >= maxSessions {
		var oldest string
		for k, s := range ss.byCookie {
			if oldest == "" || s.expires.Before(ss.byCookie[oldest].expires) {
				oldest = k
			}
		}
		ss.drop(oldest)
	}
	cookie = randomToken()
	s = &session{app: l.grant.App, grant: l.grant, expires: ss.now().Add(ss.ttl), csrf: randomToken(), key: hash(cookie), host: l.host}
	// The deadline ends a stream that is open when the session expires
	// (a stream makes no further request that would find out).
	s.ctx, s.cancel = context.WithTimeout(context.Background(), ss.ttl)
	ss.byCookie[s.key] = s
	return cookie, s, true
}

// sessionFor returns the session of a cookie value presented on host
// (the request's), nil when there is none, it expired, or it was made on
// another host.
func (ss *sessions) sessionFor(cookie, host string) *session {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	h := hash(cookie)
	s, ok := ss.byCookie[h]
	if !ok || routing.NormalizeHost(host) != s.host {
		return nil
	}
	if !ss.now().Before(s.expires) || s.ctx.Err() != nil {
		ss.drop(h)
		return nil
	}
	return s
}

// drop ends the session of a cookie's hash and the streams it opened;
// ss.mu is held.
func (ss *sessions) drop(h string) {
	if s, ok := ss.byCookie[h]; ok {
		s.cancel()
		delete(ss.byCookie, h)
	}
}

// stillValid says why a session no longer holds (nil when it does): a
// live stream asks it at each heartbeat and build poll, as every request
// does through withSession.
func (ss *sessions) stillValid(ctx context.Context, s *session) error {
	if err := s.ctx.Err(); err != nil {
		return errors.New("the session has ended")
	}
	if err := ss.granted(ctx, s.grant); err != nil {
		if ctx.Err() != nil {
			return ctx.Err() // the browser left during the check: the session holds
		}
		ss.log.Warn("dashboard: session ended: what it was made for is gone", "scope", scopeName(s), "reason", err.Error())
		ss.mu.Lock()
		ss.drop(s.key)
		ss.mu.Unlock()
		return err
	}
	return nil
}

// endApp is Dashboard.EndAppSessions.
func (ss *sessions) endApp(app string) int {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	n := 0
	for k, s := range ss.byCookie {
		if s.app == app {
			ss.drop(k)
			n++
		}
	}
	for k, l := range ss.logins {
		if l.grant.App == app {
			delete(ss.logins, k)
		}
	}
	if n > 0 {
		ss.log.Info("dashboard: sessions of a destroyed or renamed app signed out", "app", app, "sessions", n)
	}
	return n
}

// end ends the session of a cookie value (sign-out).
func (ss *sessions) end(cookie string) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	ss.drop(hash(cookie))
}

// setFlash and takeFlash carry an action's result to the page the
// browser is sent to next.
func (ss *sessions) setFlash(s *session, msg string, ok bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	s.flash, s.flashOK = msg, ok
}

func (ss *sessions) takeFlash(s *session) (string, bool) {
	ss.mu.Lock()
	defer ss.mu.Unlock()
	msg, ok := s.flash, s.flashOK
	s.flash = ""
	return msg, ok
}

// purge drops expired logins and sessions; ss.mu is held.
func (ss *sessions) purge() {
	now := ss.now()
	for k, l := range ss.logins {
		if !now.Before(l.expires) {
			delete(ss.logins, k)
		}
	}
	for k, s := range ss.byCookie {
		if !now.Before(s.expires) {
			ss.drop(k)
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
