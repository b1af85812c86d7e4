package caddymodule

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"
	"github.com/spf13/cobra"
)

func init() {
	// Installed as `dokku` (a link to the caddy binary, see README), the
	// binary is `caddy berth`: Dokku's scripts run on the server as they
	// are. This runs before caddycmd.Main reads the arguments, in every
	// build that includes Berth (xcaddy's too).
	if dokkuName(os.Args) {
		os.Args = append([]string{os.Args[0], "berth"}, os.Args[1:]...)
	}
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  "berth",
		Usage: "[--address ADMIN | --config FILE [--adapter NAME]] COMMAND [ARGS...]",
		Short: "Runs a Berth command on the running instance (like `dokku` on a Dokku host)",
		Long: `Runs a Berth command (apps:list, config:set, ps:scale, ...) on the running
Caddy through its admin API, the same commands as over SSH. Run
"caddy berth help" for the list. The admin address is --address, else the
one in --config (as "caddy reload --config" finds it), else
$BERTH_ADMIN_ADDRESS, else the first socket that exists of
$BERTH_ADMIN_SOCKET, /run/berth-admin.sock (the shipped Caddyfiles', as
root) and $XDG_RUNTIME_DIR/berth-admin.sock (the default Caddyfile's for
another user), else Caddy's default (localhost:2019). Linked as "dokku"
(ln -s "$(command -v caddy)" /usr/local/bin/dokku), the binary is
"caddy berth".`,
		CobraFunc: func(cmd *cobra.Command) {
			// Everything after the options belongs to the Berth command
			// (apps:destroy APP --force), so cobra must not parse flags.
			cmd.DisableFlagParsing = true
			cmd.RunE = func(_ *cobra.Command, args []string) error {
				code, err := runBerthCLI(args, os.Stdin, os.Stdout, os.Stderr)
				if err != nil {
					return err
				}
				if code != 0 {
					os.Exit(code)
				}
				return nil
			}
		},
	})
}

// dokkuName reports whether the binary was started by the name dokku.
func dokkuName(args []string) bool {
	return len(args) > 0 && filepath.Base(args[0]) == "dokku"
}

// AdminAddressEnv names the admin address `caddy berth` (and `dokku`)
// uses when no --address or --config is given: for a server whose admin
// endpoint is not the shipped Caddyfile's socket.
const AdminAddressEnv = "BERTH_ADMIN_ADDRESS"

// DefaultAdminSocket is the admin endpoint of the shipped
// Caddyfile.example (admin unix//run/berth-admin.sock|0600): a socket
// only root may open, because whoever reaches the admin API runs every
// Berth command, and those can take the server over.
const DefaultAdminSocket = "/run/berth-admin.sock"

// runBerthCLI sends a command line to the running instance's
// POST /berth/commands, in the body before stdin, and relays its output
// and exit status.
func runBerthCLI(args []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	var address, configFile, adapter string
	for len(args) > 0 && strings.HasPrefix(args[0], "--") {
		name, value, hasValue := strings.Cut(strings.TrimPrefix(args[0], "--"), "=")
		if name == "help" {
			args = []string{"help"}
			break
		}
		if name != "address" && name != "config" && name != "adapter" {
			// Dokku's global options (--app APP, --force, ...) and any
			// other: the command line's, which the server reads (and
			// refuses when it does not know one).
			break
		}
		if !hasValue {
			if len(args) < 2 {
				return 1, fmt.Errorf("--%s needs a value", name)
			}
			value, args = args[1], args[1:]
		}
		args = args[1:]
		switch name {
		case "address":
			address = value
		case "config":
			configFile = value
		case "adapter":
			adapter = value
		}
	}
	if address == "" && configFile == "" {
		address = os.Getenv(AdminAddressEnv)
	}
	if address == "" && configFile == "" {
		// The shipped Caddyfiles' socket, if this server has it: neither
		// the default config nor the production setup needs a flag.
		for _, sock := range adminSocketCandidates() {
			if fi, err := os.Stat(sock); err == nil && fi.Mode()&os.ModeSocket != 0 {
				address = "unix/" + sock
				break
			}
		}
	}
	adminAddr, err := caddycmd.DetermineAdminAPIAddress(address, nil, configFile, adapter)
	if err != nil {
		return 1, err
	}
	if stdin == nil || isTerminal(stdin) {
		stdin = strings.NewReader("")
	}
	if args == nil {
		args = []string{}
	}
	// The command line heads the body, never the URL, which Caddy logs.
	line, err := json.Marshal(CommandLine{Args: args})
	if err != nil {
		return 1, err
	}
	body := io.MultiReader(bytes.NewReader(append(line, '\n')), stdin)
	resp, err := caddycmd.AdminAPIRequest(adminAddr, http.MethodPost, "/berth/commands",
		http.Header{"Content-Type": {"application/octet-stream"}}, body)
	if err != nil {
		return 1, fmt.Errorf("reaching Caddy's admin API at %s (is Caddy running with Berth?): %w", adminAddr, err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
		return 1, fmt.Errorf("admin API answered %s: %s", resp.Status, strings.TrimSpace(string(body)))
	}
	// Progress goes to stderr, as over SSH; on a terminal its lines are
	// drawn in place (progress.go).
	if isTerminalWriter(stderr) {
		tp := &terminalProgress{w: stderr}
		defer tp.Close()
		stderr = tp
	}
	return readFrames(bufio.NewReader(resp.Body), stdout, stderr)
}

// readFrames copies a POST /berth/commands stream to stdout and stderr and
// returns the exit status it ends with.
func readFrames(r io.Reader, stdout, stderr io.Writer) (int, error) {
	var hdr [5]byte
	for {
		if _, err := io.ReadFull(r, hdr[:]); err != nil {
			if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
				return 1, errors.New("the command's output ended without an exit status (did Caddy stop?)")
			}
			return 1, err
		}
		n := binary.BigEndian.Uint32(hdr[1:])
		if n > 16<<20 {
			return 1, fmt.Errorf("malformed command output: a %d-byte frame", n)
		}
		payload := make([]byte, n)
		if _, err := io.ReadFull(r, payload); err != nil {
			return 1, err
		}
		switch hdr[0] {
		case FrameStdout:
			stdout.Write(payload)
		case FrameStderr:
			stderr.Write(payload)
		case FrameExit:
			return strconv.Atoi(string(payload))
		default:
			return 1, fmt.Errorf("malformed command output: frame kind %d", hdr[0])
		}
	}
}

// isTerminalWriter reports whether w is a terminal.
func isTerminalWriter(w io.Writer) bool {
	f, ok := w.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}

// isTerminal reports whether r is a terminal: a command's stdin is sent
// only when it is piped or redirected, as with ssh.
func isTerminal(r io.Reader) bool {
	f, ok := r.(*os.File)
	if !ok {
		return false
	}
	fi, err := f.Stat()
	return err == nil && fi.Mode()&os.ModeCharDevice != 0
}
