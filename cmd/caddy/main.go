// Command caddy is Caddy with its standard modules and Berth built in, so
// that `go run ./cmd/caddy run` works without xcaddy. Given no config, `run`
// serves Berth's default configuration (the repository's Caddyfile, built
// in): apps on https://APP.localhost:8443 and http://APP.localhost:8080,
// SSH on :2222, admin keys from ~/.ssh/*.pub.
package main

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/caddyserver/caddy/v2"
	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	_ "github.com/caddyserver/caddy/v2/modules/standard"

	"github.com/berth-paas/berth"
	"github.com/berth-paas/berth/caddymodule"
)

func main() {
	args, err := withDefaultConfig(os.Args)
	if err != nil {
		fmt.Fprintln(os.Stderr, "berth:", err)
		os.Exit(1)
	}
	os.Args = args
	caddycmd.Main()
}

// withDefaultConfig makes `caddy run` with no config serve Berth's default
// one. Plain Caddy would run with no apps at all: a server that answers
// nothing, with no word of why. With ./Caddyfile present Caddy reads it
// (the repository's is the default itself); otherwise the built-in copy is
// written to Caddy's config directory and named with --config, so that the
// log says which file runs and `caddy reload --config` can take it.
//
// The default's admin socket is root's /run/berth-admin.sock; for another
// user it is set (BERTH_ADMIN_SOCKET) to one in a directory of theirs,
// where `caddy berth` looks too.
func withDefaultConfig(args []string) ([]string, error) {
	if len(args) < 2 || args[1] != "run" {
		return args, nil
	}
	for _, a := range args[2:] {
		name, _, _ := strings.Cut(strings.TrimLeft(a, "-"), "=")
		if strings.HasPrefix(a, "-") && (name == "config" || name == "c" || name == "adapter" || name == "a" || name == "resume" || name == "r") {
			return args, nil
		}
	}
	if os.Getenv(caddymodule.AdminSocketEnv) == "" {
		os.Setenv(caddymodule.AdminSocketEnv, caddymodule.UserAdminSocket())
	}
	if data, err := os.ReadFile("Caddyfile"); err == nil {
		// Caddy reads it; say what it is when it is the default.
		if bytes.Equal(data, berth.DefaultCaddyfile) {
			announce("./Caddyfile")
		}
		return args, nil
	}
	path := filepath.Join(caddy.AppConfigDir(), "berth", "Caddyfile.default")
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("writing the default config: %w (give one with --config FILE)", err)
	}
	// Written at every start, so that it is always this binary's default.
	header := "# Berth's built-in default configuration, written by `caddy run` at each\n# start when given no config: copy it elsewhere to change it.\n\n"
	if err := os.WriteFile(path, append([]byte(header), berth.DefaultCaddyfile...), 0o600); err != nil {
		return nil, fmt.Errorf("writing the default config: %w (give one with --config FILE)", err)
	}
	announce(path)
	return append(append(args[:2:2], "--config", path, "--adapter", "caddyfile"), args[2:]...), nil
}

// announce says, before Caddy's log starts, where the default config
// serves: the first thing a new user needs.
func announce(path string) {
	fmt.Fprintf(os.Stderr, "berth: no --config: serving Berth's default configuration (%s): apps on https://APP.localhost:%s and http://APP.localhost:%s, git push to ssh://berth@HOST:%s/APP\n",
		path, envOr("BERTH_HTTPS_PORT", "8443"), envOr("BERTH_HTTP_PORT", "8080"), envOr("BERTH_SSH_PORT", "2222"))
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}
