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
	"sync/atomic"

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
	Platform  *platform.Platform
	Receiver  *Receiver
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
	if slices.ContainsFunc(a.AdminKeys, func(k gossh.PublicKey) bool { return gliderssh.KeysEqual(k, key) }) {
		return principal{admin: true, name: "authorized_keys"}, true
	}
	keys, err := a.Platform.SSHKeys(ctx)
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
	log    *slog.Logger
}

// NewServer returns a server with the given host key. It refuses every
// client until SetAccess is called.
func NewServer(hostKey gossh.Signer, log *slog.Logger) *Server {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{log: log}
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
			return ok
		},
		// A terminal is granted when asked for (ssh -t), and used only by
		// run and enter; ports are never forwarded.
		PtyCallback: func(gliderssh.Context, gliderssh.Pty) bool { return true },
		ConnectionFailedCallback: func(conn net.Conn, err error) {
			s.log.Debug("ssh connection failed", "remote", conn.RemoteAddr().String(), "error", err)
		},
	}
	return s
}

// SetAccess replaces what the server serves and to whom.
func (s *Server) SetAccess(a *Access) { s.access.Store(a) }

// Serve accepts connections on ln until Shutdown.
func (s *Server) Serve(ln net.Listener) error {
	err := s.ssh.Serve(ln)
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
	ctx := context.Context(sess.Context())
	if !who.admin {
		ctx = platform.AsDeployKey(ctx) // it may not loosen an admin's limits
	}
	sess.Exit(commands.Run(ctx, access.Platform, sess.Command(), streams))
}
