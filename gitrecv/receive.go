package gitrecv

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/berth-paas/berth/internal/bytesize"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/repo"
)

// Environment variables through which `git receive-pack` hands the
// pre-receive hook the way back to the server (repo.EnvHookBin, which
// repo's hook script runs, names the binary).
const (
	envHookSocket = "BERTH_HOOK_SOCKET"
	envHookToken  = "BERTH_HOOK_TOKEN"
)

// HookCommand is the argument the hook binary is run with; the binary
// must dispatch it to RunHook.
const HookCommand = repo.HookCommand

// Receiver serves git pushes into app repositories: it runs
// `git receive-pack`, whose pre-receive hook calls back over a unix
// socket so the build runs in this process and its log streams to the
// pusher as "remote:" lines.
type Receiver struct {
	platform *platform.Platform
	// renames say where an app renamed away went, and globals whether
	// pushes may create apps: a push to a name no app has asks both.
	renames *platform.Renamer
	globals *platform.Globals
	pusher  Pusher
	hookBin string
	socket  string
	log     *slog.Logger

	mu     sync.Mutex
	pushes map[string]push // by token
	srv    *http.Server
	// maxPush is git's receive.maxInputSize for every push (push_max).
	maxPush int64
}

// DefaultMaxPush is the largest pack a push may send unless the
// Caddyfile's push_max says otherwise: large enough for any source
// repository, small enough that one push cannot fill the state disk.
const DefaultMaxPush = 1 << 30

// SetMaxPush sets the largest pack a push may send, in bytes; 0 or less
// means DefaultMaxPush. It applies from the next push.
func (r *Receiver) SetMaxPush(n int64) {
	if n <= 0 {
		n = DefaultMaxPush
	}
	r.mu.Lock()
	r.maxPush = n
	r.mu.Unlock()
}

func (r *Receiver) maxPushSize() int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.maxPush <= 0 {
		return DefaultMaxPush
	}
	return r.maxPush
}

// Pusher deploys what a push brings (package deploy's Deployer): one call
// from the pre-receive hook's handler, which decides what deploys and
// what is only stored, and streams the log to out.
type Pusher interface {
	Push(ctx context.Context, app string, updates []repo.RefUpdate, quarantine []string, out io.Writer) error
}

// NewReceiver returns a receiver of pushes to p's apps (renames and
// globals: what a push to a name no app has asks). hookBin is the executable the hook runs
// (this process's own binary); socket is the unix socket path the hook
// calls back on; pushes go to pusher.
func NewReceiver(p *platform.Platform, renames *platform.Renamer, globals *platform.Globals, pusher Pusher, hookBin, socket string, log *slog.Logger) *Receiver {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Receiver{platform: p, renames: renames, globals: globals, pusher: pusher, hookBin: hookBin, socket: socket, log: log, pushes: map[string]push{}}
}

// Start listens on the hook socket.
func (r *Receiver) Start() error {
	// A socket file left by a process that died is in the way; nothing
	// else may live at this path.
	if err := os.Remove(r.socket); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("hook socket: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(r.socket), 0o700); err != nil {
		return err
	}
	ln, err := net.Listen("unix", r.socket)
	if err != nil {
		return fmt.Errorf("hook socket: %w", err)
	}
	if err := os.Chmod(r.socket, 0o600); err != nil {
		ln.Close()
		return err
	}
	mux := http.NewServeMux()
	mux.HandleFunc("POST /pre-receive", r.servePreReceive)
	r.srv = &http.Server{Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	go r.srv.Serve(ln)
	return nil
}

// Close stops taking hook calls, letting running ones finish within ctx.
func (r *Receiver) Close(ctx context.Context) error {
	if r.srv == nil {
		return nil
	}
	err := r.srv.Shutdown(ctx)
	os.Remove(r.socket)
	return err
}

// Serve runs a git service for app with the client's streams and returns
// the exit status for the SSH session. The caller has checked that the
// client may use app; a push to an app that does not exist creates it.
func (r *Receiver) Serve(ctx context.Context, service, app string, stdin io.Reader, stdout, stderr io.Writer) int {
	repos := r.platform.Repos()
	switch service {
	case ReceivePack:
		if ok, err := r.platform.Exists(ctx, app); err != nil {
			fmt.Fprintf(stderr, "berth: %v\n", err)
			return 1
		} else if !ok {
			// RenamedTo first: a push to a renamed app's old name is most
			// likely meant for the app under its new name, whether or not
			// pushes may create apps.
			renamedTo, renamed := r.renames.RenamedTo(ctx, app)
			if off, err := r.globals.AutocreationDisabled(ctx); err != nil || off {
				if err != nil {
					fmt.Fprintf(stderr, "berth: %v\n", err)
				}
				if renamed {
					fmt.Fprintf(stderr, " !     App %s does not exist: it was renamed to %s. Update your remote and push again:\n       git remote set-url berth ssh://berth@SERVER:PORT/%s\n       (pushes create no apps here: apps:set --global disable-autocreation)\n", app, renamedTo, renamedTo)
					return 1
				}
				fmt.Fprintf(stderr, " !     App %s does not exist, and pushes create no apps here (apps:set --global disable-autocreation): create it first with apps:create %s\n", app, app)
				return 1
			}
			if err := r.platform.Create(ctx, app); err != nil && !errors.Is(err, platform.ErrAppExists) {
				fmt.Fprintf(stderr, "berth: %v\n", err)
				return 1
			}
			// Say it plainly: a push to a name nothing answers to makes a
			// new, empty app, which is a surprise after apps:rename.
			if renamed {
				fmt.Fprintf(stderr, "-----> Created a new app %s: the app of that name was renamed to %s.\n       If you meant that app, update your remote and push again:\n       git remote set-url berth ssh://berth@SERVER:PORT/%s\n", app, renamedTo, renamedTo)
			} else {
				fmt.Fprintf(stderr, "-----> Created a new app %s\n", app)
			}
		}
		// A new repository's HEAD names main until the first push says
		// otherwise (deploy's Push points it at the deploy branch), so a
		// clone of a main-branch app checks out the right branch.
		if err := repos.Create(app, "main"); err != nil {
			fmt.Fprintf(stderr, "berth: preparing the repository of %s: %v\n", app, err)
			return 1
		}
	case UploadPack:
		if ok, err := repos.Exists(app); err != nil || !ok {
			fmt.Fprintf(stderr, "berth: app %s has no repository yet: push to it first\n", app)
			return 1
		}
	default:
		fmt.Fprintf(stderr, "berth: unknown git service %q\n", service)
		return 1
	}

	token := r.register(app, ctx)
	defer r.unregister(token)
	var args []string
	var tooBig *sizeWatch
	if service == ReceivePack {
		// git stops reading a pack that grows past this, before it
		// lands in the repository (and on the state disk).
		max := r.maxPushSize()
		// fsckObjects: git checks every pushed object, and refuses
		// trees git never writes (duplicate names such as a symlink x
		// and a directory x/), which a builder would otherwise unpack.
		args = []string{"-c", fmt.Sprintf("receive.maxInputSize=%d", max), "-c", "receive.fsckObjects=true"}
		// git tells the client on its side band (stdout) when it
		// stops, or on stderr without one.
		tooBig = &sizeWatch{}
		stdout, stderr = tooBig.watch(stdout), tooBig.watch(stderr)
		defer func(stderr io.Writer) {
			if tooBig.saw() {
				fmt.Fprintf(stderr, "berth: the push is larger than push_max (%s) and was refused; nothing was stored or deployed. Push less (keep build output and large files out of the repository), or have the admin raise push_max in the Caddyfile's berth block\n", bytesize.Format(max))
			}
		}(stderr)
	}
	args = append(args, strings.TrimPrefix(service, "git-"), repos.Path(app))
	cmd := exec.CommandContext(ctx, "git", args...)
	// git and its hook in a process group of their own, so a pusher who
	// goes away takes the hook down too, not git alone.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.Env = append(os.Environ(),
		repo.EnvHookBin+"="+r.hookBin,
		envHookSocket+"="+r.socket,
		envHookToken+"="+token,
	)
	cmd.Stdout = stdout
	cmd.Stderr = stderr
	// Feed stdin by hand: exec.Cmd would wait for the client to close its
	// side, which a git client does only after the server has finished.
	in, err := cmd.StdinPipe()
	if err != nil {
		fmt.Fprintf(stderr, "berth: %v\n", err)
		return 1
	}
	if err := cmd.Start(); err != nil {
		fmt.Fprintf(stderr, "berth: cannot run git: %v (is git installed on the server?)\n", err)
		return 1
	}
	go func() {
		io.Copy(in, stdin)
		in.Close()
	}()
	err = cmd.Wait()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode()
	}
	if err != nil {
		fmt.Fprintf(stderr, "berth: git %s: %v\n", service, err)
		return 1
	}
	return 0
}

// push is a running git service: its app, and the SSH session's context,
// which ends when the client goes away.
type push struct {
	app string
	ctx context.Context
}

// ErrPusherGone is why a push's deploy is cancelled when the client
// disconnects before it finishes: git on the server is killed then, so the
// pushed branch is never updated, and a deploy that went on would serve a
// commit the branch does not have.
// The platform names the step the deploy was at ("cancelled: the pusher
// disconnected during the port wait; ...").
var ErrPusherGone = platform.ErrPusherGone

func (r *Receiver) register(app string, ctx context.Context) string {
	b := make([]byte, 32)
	rand.Read(b)
	token := hex.EncodeToString(b)
	r.mu.Lock()
	r.pushes[token] = push{app: app, ctx: ctx}
	r.mu.Unlock()
	return token
}

func (r *Receiver) unregister(token string) {
	r.mu.Lock()
	delete(r.pushes, token)
	r.mu.Unlock()
}

// hookRequest is what the hook sends: the token of the push it belongs
// to, the ref updates, and git's quarantine environment, without which the
// pushed objects cannot be read before the push is accepted.
type hookRequest struct {
	Token   string           `json:"token"`
	Updates []repo.RefUpdate `json:"updates"`
	Env     []string         `json:"env"`
}

// Headers of the hook protocol.
const exitTrailer = "Berth-Exit-Code"

func (r *Receiver) servePreReceive(w http.ResponseWriter, req *http.Request) {
	var hr hookRequest
	if err := json.NewDecoder(io.LimitReader(req.Body, 1<<20)).Decode(&hr); err != nil {
		http.Error(w, "bad hook request", http.StatusBadRequest)
		return
	}
	r.mu.Lock()
	ps, ok := r.pushes[hr.Token]
	r.mu.Unlock()
	app := ps.app
	if !ok {
		http.Error(w, "berth: this push is not known to the server", http.StatusForbidden)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Trailer", exitTrailer)
	w.WriteHeader(http.StatusOK)
	out := &flushWriter{w: w, rc: http.NewResponseController(w)}
	// The deploy ends when the pusher's SSH session does, or the hook's
	// connection: either means git will not record the push.
	ctx, cancel := context.WithCancelCause(context.WithoutCancel(req.Context()))
	defer cancel(nil)
	for _, gone := range []context.Context{ps.ctx, req.Context()} {
		stop := context.AfterFunc(gone, func() { cancel(ErrPusherGone) })
		defer stop()
	}
	code := 0
	if err := r.pusher.Push(ctx, app, hr.Updates, hr.Env, out); err != nil {
		fmt.Fprintf(out, " !     %s\n", strings.ReplaceAll(err.Error(), "\n", "\n !     "))
		code = 1
	}
	w.Header().Set(exitTrailer, fmt.Sprint(code))
}

// flushWriter sends each write to the hook at once, so build output
// reaches the pusher while the build runs.
type flushWriter struct {
	mu sync.Mutex
	w  io.Writer
	rc *http.ResponseController
}

func (f *flushWriter) Write(p []byte) (int, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n, err := f.w.Write(p)
	if err == nil {
		f.rc.Flush()
	}
	return n, err
}

// sizeWatch passes git's messages on and notes the one that says a pack
// went over receive.maxInputSize, so Berth can say what to do about it.
type sizeWatch struct {
	mu   sync.Mutex
	seen bool
}

func (s *sizeWatch) watch(w io.Writer) io.Writer {
	return writerFunc(func(p []byte) (int, error) {
		if strings.Contains(string(p), "pack exceeds maximum allowed size") {
			s.mu.Lock()
			s.seen = true
			s.mu.Unlock()
		}
		return w.Write(p)
	})
}

func (s *sizeWatch) saw() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.seen
}

type writerFunc func([]byte) (int, error)

func (f writerFunc) Write(p []byte) (int, error) { return f(p) }
