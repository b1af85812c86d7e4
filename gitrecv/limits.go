package gitrecv

import (
	"context"
	"fmt"
	"net"
	"sync"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"
)

// Limits bound what SSH clients may hold open. The SSH server lives inside
// Caddy, so a client that holds connections without limit would take away
// the file descriptors that every HTTPS site needs. A zero field takes its
// default.
type Limits struct {
	// LoginGraceTime is how long a connection may take to authenticate
	// before it is closed, like OpenSSH's LoginGraceTime.
	LoginGraceTime time.Duration
	// MaxStartups caps the connections that have not authenticated yet,
	// in total; MaxStartupsPerIP caps them per source address, so one
	// address cannot use up the total. Connections beyond either are
	// closed as soon as they are accepted (OpenSSH's MaxStartups).
	MaxStartups      int
	MaxStartupsPerIP int
	// IdleTimeout closes an authenticated connection on which no command
	// has run for that long (see Server.connIdle for what counts).
	IdleTimeout time.Duration
	// MaxSessionsPerKey caps the session channels (one per command) open
	// at once with one deploy key, over all its connections;
	// MaxSessionsPerAdminKey is the same for admin keys.
	MaxSessionsPerKey      int
	MaxSessionsPerAdminKey int
}

// Defaults of Limits.
const (
	DefaultLoginGraceTime         = 30 * time.Second
	DefaultMaxStartups            = 100
	DefaultMaxStartupsPerIP       = 10
	DefaultIdleTimeout            = 10 * time.Minute
	DefaultMaxSessionsPerKey      = 10
	DefaultMaxSessionsPerAdminKey = 50
)

// WithDefaults returns l with its zero fields set to their defaults.
func (l Limits) WithDefaults() Limits {
	if l.LoginGraceTime <= 0 {
		l.LoginGraceTime = DefaultLoginGraceTime
	}
	if l.MaxStartups <= 0 {
		l.MaxStartups = DefaultMaxStartups
	}
	if l.MaxStartupsPerIP <= 0 {
		l.MaxStartupsPerIP = DefaultMaxStartupsPerIP
	}
	if l.IdleTimeout <= 0 {
		l.IdleTimeout = DefaultIdleTimeout
	}
	if l.MaxSessionsPerKey <= 0 {
		l.MaxSessionsPerKey = DefaultMaxSessionsPerKey
	}
	if l.MaxSessionsPerAdminKey <= 0 {
		l.MaxSessionsPerAdminKey = DefaultMaxSessionsPerAdminKey
	}
	return l
}

// SetLimits replaces the limits. Connections already accepted keep the
// grace and idle timers they started with; caps apply to the next
// connection or session.
func (s *Server) SetLimits(l Limits) {
	l = l.WithDefaults()
	s.limits.Store(&l)
}

func (s *Server) currentLimits() Limits {
	if l := s.limits.Load(); l != nil {
		return *l
	}
	return Limits{}.WithDefaults()
}

// limitListener refuses connections beyond the unauthenticated caps at
// accept time, before any goroutine or handshake is spent on them.
type limitListener struct {
	net.Listener
	s *Server
}

func (l *limitListener) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		if tc := l.s.admit(c); tc != nil {
			return tc, nil
		}
	}
}

// admit takes an unauthenticated slot for c, or closes c and returns nil
// when none is free.
func (s *Server) admit(c net.Conn) *trackedConn {
	lim := s.currentLimits()
	ip := c.RemoteAddr().String()
	if host, _, err := net.SplitHostPort(ip); err == nil {
		ip = host
	}
	s.mu.Lock()
	var refused string
	switch {
	case s.startups >= lim.MaxStartups:
		refused = fmt.Sprintf("too many unauthenticated SSH connections (%d); try again later (setting ssh_max_startups)", s.startups)
	case s.startupsByIP[ip] >= lim.MaxStartupsPerIP:
		refused = fmt.Sprintf("too many unauthenticated SSH connections from %s (%d); try again later (setting ssh_max_startups_per_ip)", ip, s.startupsByIP[ip])
	default:
		s.startups++
		s.startupsByIP[ip]++
	}
	logRefusal := false
	if refused != "" {
		// A flood must not flood the log too: one line a second, with
		// the count of refusals it stands for.
		s.refusedSinceLog++
		if time.Since(s.lastRefusalLog) >= time.Second {
			logRefusal = true
			s.lastRefusalLog = time.Now()
		}
	}
	refusedCount := s.refusedSinceLog
	if logRefusal {
		s.refusedSinceLog = 0
	}
	s.mu.Unlock()
	if refused != "" {
		if logRefusal {
			s.log.Warn("ssh connection refused", "remote", c.RemoteAddr().String(), "reason", refused, "refused_since_last_line", refusedCount)
		}
		// RFC 4253 lets a server send lines before its version string;
		// OpenSSH clients show them with -v. Never block the accept loop
		// on a client that does not read.
		c.SetWriteDeadline(time.Now().Add(100 * time.Millisecond))
		fmt.Fprintf(c, "berth: %s\r\n", refused)
		c.Close()
		return nil
	}
	tc := &trackedConn{Conn: c, s: s, ip: ip, idleTimeout: lim.IdleTimeout}
	tc.grace = time.AfterFunc(lim.LoginGraceTime, func() { tc.graceExpired(lim.LoginGraceTime) })
	return tc
}

// trackedConn is an accepted connection: it holds an unauthenticated slot
// until it authenticates or closes, is closed when the login grace time
// ends first, and after that when no command runs on it for the idle
// timeout.
type trackedConn struct {
	net.Conn
	s           *Server
	ip          string
	idleTimeout time.Duration
	releaseOnce sync.Once

	mu       sync.Mutex
	grace    *time.Timer
	idle     *time.Timer
	idleGen  int // bumped on every change, so a stale idle timer does nothing
	running  int // commands running on this connection
	authed   bool
	isClosed bool
}

// release gives back the unauthenticated slot.
func (c *trackedConn) release() {
	c.releaseOnce.Do(func() {
		c.s.mu.Lock()
		c.s.startups--
		if c.s.startupsByIP[c.ip]--; c.s.startupsByIP[c.ip] <= 0 {
			delete(c.s.startupsByIP, c.ip)
		}
		c.s.mu.Unlock()
	})
}

func (c *trackedConn) Close() error {
	c.release()
	c.mu.Lock()
	c.isClosed = true
	c.grace.Stop()
	if c.idle != nil {
		c.idle.Stop()
	}
	c.mu.Unlock()
	return c.Conn.Close()
}

func (c *trackedConn) graceExpired(grace time.Duration) {
	c.mu.Lock()
	done := c.authed || c.isClosed
	c.mu.Unlock()
	if done {
		return
	}
	c.s.log.Info("ssh connection closed: not authenticated within the login grace time",
		"remote", c.RemoteAddr().String(), "grace", grace.String(), "setting", "ssh_login_grace_time")
	// Closing the socket ends the handshake, which closes c.
	c.Conn.Close()
}

// authenticated ends the grace time and starts the idle timer.
func (c *trackedConn) authenticated() {
	c.mu.Lock()
	c.authed = true
	c.grace.Stop()
	c.armIdleLocked()
	c.mu.Unlock()
	c.release()
}

func (c *trackedConn) armIdleLocked() {
	c.idleGen++
	if c.idle != nil {
		c.idle.Stop()
	}
	if c.isClosed || !c.authed || c.running > 0 {
		return
	}
	gen := c.idleGen
	c.idle = time.AfterFunc(c.idleTimeout, func() { c.idleExpired(gen) })
}

func (c *trackedConn) idleExpired(gen int) {
	c.mu.Lock()
	stale := gen != c.idleGen || c.running > 0 || c.isClosed
	c.mu.Unlock()
	if stale {
		return
	}
	c.s.log.Info("ssh connection closed: no command ran on it for the idle timeout",
		"remote", c.RemoteAddr().String(), "idle_timeout", c.idleTimeout.String(), "setting", "ssh_idle_timeout")
	c.Conn.Close()
}

// commandStarted and commandEnded bracket a command on the connection.
// A connection is idle only while no command runs on it: a command that
// is quiet for a long time (a build step, `logs -t` on a quiet app, a
// terminal the user keeps open) is bounded by its own work and by the
// client going away, not by a timer that cannot tell it from a stall.
func (c *trackedConn) commandStarted() {
	c.mu.Lock()
	c.running++
	c.armIdleLocked()
	c.mu.Unlock()
}

func (c *trackedConn) commandEnded() {
	c.mu.Lock()
	c.running--
	c.armIdleLocked()
	c.mu.Unlock()
}

type trackedConnKey struct{}

// connOf returns the tracked connection of a session's context, or nil.
func connOf(ctx context.Context) *trackedConn {
	tc, _ := ctx.Value(trackedConnKey{}).(*trackedConn)
	return tc
}

// serverConfig gives the handshake a callback that tells the tracked
// connection when authentication succeeded.
func (s *Server) serverConfig(ctx gliderssh.Context) *gossh.ServerConfig {
	return &gossh.ServerConfig{
		AuthLogCallback: func(conn gossh.ConnMetadata, method string, err error) {
			if err != nil {
				return
			}
			if tc := connOf(ctx); tc != nil {
				tc.authenticated()
			}
		},
	}
}

// acquireSession takes one of the key's session slots, or says why not.
func (s *Server) acquireSession(fingerprint string, admin bool) (release func(), err error) {
	lim := s.currentLimits()
	max, setting := lim.MaxSessionsPerKey, "ssh_max_sessions_per_key"
	if admin {
		max, setting = lim.MaxSessionsPerAdminKey, "ssh_max_sessions_per_admin_key"
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n := s.sessionsByKey[fingerprint]; n >= max {
		return nil, fmt.Errorf("too many sessions for this key (%d open): end some (a forgotten `logs -t`, a shared ControlMaster connection) and try again; the server's limit is the Caddyfile's %s", n, setting)
	}
	s.sessionsByKey[fingerprint]++
	var once sync.Once
	return func() {
		once.Do(func() {
			s.mu.Lock()
			if s.sessionsByKey[fingerprint]--; s.sessionsByKey[fingerprint] <= 0 {
				delete(s.sessionsByKey, fingerprint)
			}
			s.mu.Unlock()
		})
	}, nil
}
