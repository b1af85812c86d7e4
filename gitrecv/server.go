// Package gitrecv is Berth's SSH front door: public-key authentication,
// `git push` into app repositories through `git receive-pack`, and the
// command table for every other command line.
package gitrecv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"slices"
	"sync"
	"sync/atomic"
	"time"

	gliderssh "github.com/gliderlabs/ssh"
	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
)

// Access is what the server serves and to whom. It is swapped as a whole
// on a config reload, so a session sees one consistent version.
type Access struct {
	// AdminKeys may push to every app and run every command.
	AdminKeys []gossh.PublicKey
	// Backend is what commands act on; its Keys hold the added keys.
	Backend  *commands.Backend
	Receiver *Receiver
}

// principal is who a key is: an admin, or a deploy key of one app.
type principal struct {
	admin bool
	app   string // the deploy key's app
	name  string // the key's name, for logs
}

// resolve says who key is, from the Caddyfile's authorized keys and the
// keys added with ssh-keys:add; ok is false for a key that is neither.
func (a *Access) resolve(ctx context.Context, key gossh.PublicKey) (principal, bool) {
	if a == nil || key == nil {
		return principal{}, false
	}
	// A certificate would only match a certificate listed as a key, whose
	// validity and principals nothing here checks: certificates are
	// refused wherever keys are read (see keys.CheckKind), and here too
	// for keys stored before that.
	if _, isCert := key.(*gossh.Certificate); isCert {
		return principal{}, false
	}
	if slices.ContainsFunc(a.AdminKeys, func(k gossh.PublicKey) bool { return gliderssh.KeysEqual(k, key) }) {
		return principal{admin: true, name: "authorized_keys"}, true
	}
	keys, err := a.Backend.Keys.List(ctx)
	if err != nil {
		return principal{}, false
	}
	for _, k := range keys {
		pk, err := k.PublicKey()
		if err == nil && gliderssh.KeysEqual(pk, key) {
			return principal{admin: k.App == "", app: k.App, name: k.Name}, true
		}
	}
	return principal{}, false
}

// Server is the SSH server.
type Server struct {
	ssh    *gliderssh.Server
	access atomic.Pointer[Access]
	limits atomic.Pointer[Limits]
	log    *slog.Logger

	mu              sync.Mutex
	startups        int            // connections not authenticated yet
	startupsByIP    map[string]int // the same by source address
	sessionsByKey   map[string]int // open session channels by key fingerprint
	refusedSinceLog int
	lastRefusalLog  time.Time
}

// NewServer returns a server with the given host key. It refuses every
// client until SetAccess is called.
func NewServer(hostKey gossh.Signer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log, startupsByIP: map[string]int{}, sessionsByKey: map[string]int{}}
	s.ssh = &gliderssh.Server{
		HostSigners: []gliderssh.Signer{hostKey},
		Version:     "Berth",
		Handler:     s.handleSession,
		// The key callback only compares keys. It may be called for keys
		// the client merely offers, so it must not decide what a session
		// may do: the session handler resolves the caller again from the
		// key the connection actually authenticated with (CVE-2024-45337).
		PublicKeyHandler: func(ctx gliderssh.Context, key gliderssh.PublicKey) bool {
			_, ok := s.access.Load().resolve(ctx, key)
			if !ok {
				// Once per key a client offers (x/crypto/ssh caches the
				// answer per connection), so a user whose push is refused
				// can find which key was tried and add it.
				s.log.Warn("ssh key refused: not an authorized key; add it to authorized_keys or with ssh-keys:add",
					"remote", ctx.RemoteAddr().String(), "key", gossh.FingerprintSHA256(key), "key_type", key.Type())
			}
			return ok
		},
		// A terminal is granted when asked for (ssh -t), and used only by
		// run and enter; ports are never forwarded.
		PtyCallback: func(gliderssh.Context, gliderssh.Pty) bool { return true },
		ConnectionFailedCallback: func(conn net.Conn, err error) {
			if isMissingUserPresence(err) {
				// x/crypto/ssh ends the handshake there; the client only
				// sees the connection close, so the log says why.
				s.log.Warn("ssh key refused: the security key's signature does not assert user presence (touch the key when ssh asks)",
					"remote", conn.RemoteAddr().String(), "error", err)
				return
			}
			s.log.Debug("ssh connection failed", "remote", conn.RemoteAddr().String(), "error", err)
		},
		// The tracked connection (see limits.go) rides in the connection's
		// context, for the handshake to report success to it and for
		// sessions to mark it busy.
		ConnCallback: func(ctx gliderssh.Context, conn net.Conn) net.Conn {
			if tc, ok := conn.(*trackedConn); ok {
				ctx.SetValue(trackedConnKey{}, tc)
			}
			return conn
		},
		ServerConfigCallback: s.serverConfig,
		ChannelHandlers: map[string]gliderssh.ChannelHandler{
			"session": s.sessionChannel,
		},
	}
	return s
}

// sessionChannel serves one session channel (one command). It takes one
// of the key's session slots, and gives the session a context of its own
// that ends when the channel closes: gliderlabs/ssh hands every session
// the connection's context, so under connection multiplexing (OpenSSH's
// ControlMaster) a client that closes its channel, e.g. Ctrl-C on
// `logs -t`, would otherwise leave its command running until the whole
// connection ends.
func (s *Server) sessionChannel(srv *gliderssh.Server, conn *gossh.ServerConn, newChan gossh.NewChannel, ctx gliderssh.Context) {
	key, _ := ctx.Value(gliderssh.ContextKeyPublicKey).(gliderssh.PublicKey)
	who, ok := s.access.Load().resolve(ctx, key)
	if ok {
		fingerprint := gossh.FingerprintSHA256(key)
		release, err := s.acquireSession(fingerprint, who.admin)
		if err != nil {
			s.log.Warn("ssh session refused", "remote", conn.RemoteAddr().String(), "key", fingerprint, "key_name", who.name, "reason", err.Error())
			newChan.Reject(gossh.ResourceShortage, err.Error())
			return
		}
		// Deferred first, so it runs after release: a line that says the
		// slot is free.
		defer s.log.Info("ssh session closed", "remote", conn.RemoteAddr().String(), "key", fingerprint, "key_name", who.name)
		defer release()
	}
	// An unknown key cannot get here (authentication checked it), unless
	// it was removed since; handleSession refuses it with a message.
	sessCtx, cancel := context.WithCancel(ctx)
	defer cancel()
	// DefaultSessionHandler returns when the channel's requests end,
	// which is when the channel closes (or the connection does).
	gliderssh.DefaultSessionHandler(srv, conn, newChan, &sessionContext{Context: ctx, done: sessCtx})
}

// sessionContext is the connection's context (its values: the key, the
// addresses) with the lifetime of one channel.
type sessionContext struct {
	gliderssh.Context
	done context.Context
}

func (c *sessionContext) Done() <-chan struct{}       { return c.done.Done() }
func (c *sessionContext) Err() error                  { return c.done.Err() }
func (c *sessionContext) Deadline() (time.Time, bool) { return c.done.Deadline() }

// SetAccess replaces what the server serves and to whom.
func (s *Server) SetAccess(a *Access) { s.access.Store(a) }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.ssh.Serve(&limitListener{Listener: ln, s: s})
	if errors.Is(err, gliderssh.ErrServerClosed) {
		return nil
	}
	return err
}

// Shutdown stops accepting connections and waits, until ctx ends, for
// running sessions (a push in the middle of its build) to finish.
func (s *Server) Shutdown(ctx context.Context) error {
	err := s.ssh.Shutdown(ctx)
	if errors.Is(err, context.DeadlineExceeded) || errors.Is(err, context.Canceled) {
		s.ssh.Close()
	}
	return err
}

func (s *Server) handleSession(sess gliderssh.Session) {
	if tc := connOf(sess.Context()); tc != nil {
		tc.commandStarted()
		defer tc.commandEnded()
	}
	access := s.access.Load()
	key := sess.PublicKey()
	who, ok := access.resolve(sess.Context(), key)
	if !ok {
		fingerprint := "none"
		if key != nil {
			fingerprint = gossh.FingerprintSHA256(key)
		}
		s.log.Warn("ssh session refused: unknown key", "remote", sess.RemoteAddr().String(), "key", fingerprint)
		fmt.Fprintln(sess.Stderr(), " !     permission denied: this key is not authorized")
		sess.Exit(1)
		return
	}
	raw := sess.RawCommand()
	// The log gets the command without its secrets (--password, config:set's values).
	logged := redact(sess.Command())
	s.log.Info("ssh command", "remote", sess.RemoteAddr().String(), "key", gossh.FingerprintSHA256(key), "key_name", who.name, "command", logged)
	refuse := func(err error) {
		s.log.Warn("ssh command refused", "remote", sess.RemoteAddr().String(), "key_name", who.name, "command", logged, "reason", err.Error())
		fmt.Fprintf(sess.Stderr(), " !     %v\n", err)
		sess.Exit(1)
	}
	if service, app, ok, err := ParseGitCommand(raw); ok {
		if err != nil {
			fmt.Fprintf(sess.Stderr(), " !     %v\n", err)
			sess.Exit(1)
			return
		}
		if !who.admin && app != who.app {
			refuse(fmt.Errorf("permission denied: this key may only push to and fetch app %s", who.app))
			return
		}
		sess.Exit(access.Receiver.Serve(sess.Context(), service, app, sess, sess, sess.Stderr()))
		return
	}
	if !who.admin {
		if err := commands.Authorize(who.app, sess.Command()); err != nil {
			refuse(fmt.Errorf("permission denied: %v", err))
			return
		}
	}
	streams := commands.IO{Stdin: sess, Stdout: sess, Stderr: sess.Stderr()}
	if pty, winCh, ok := sess.Pty(); ok {
		resize := make(chan [2]uint, 1)
		go func() {
			defer close(resize)
			for w := range winCh {
				select {
				case resize <- [2]uint{uint(w.Width), uint(w.Height)}:
				default: // only the latest size matters
				}
			}
		}()
		// A terminal has one output stream.
		streams.Stderr = sess
		streams.Terminal = &commands.Terminal{Width: uint(pty.Window.Width), Height: uint(pty.Window.Height), Resize: resize}
	}
	ctx := platform.WithKeyFingerprint(sess.Context(), gossh.FingerprintSHA256(key))
	if !who.admin {
		ctx = platform.AsDeployKey(ctx) // it may not loosen an admin's limits
	}
	sess.Exit(commands.Run(ctx, access.Backend, sess.Command(), streams))
}
