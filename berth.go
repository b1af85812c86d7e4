// Package berth is Berth's entry point as a Caddy plugin: importing it
// registers Berth's Caddy modules. xcaddy builds it by module path
// (`--with github.com/berth-paas/berth`), which needs no look-up of a
// sub-package path on the module proxy.
package berth

import (
	_ "embed"

	_ "github.com/berth-paas/berth/caddymodule"
)

// DefaultCaddyfile is the shipped default configuration, the Caddyfile
// beside this file: `caddy run` with no config serves it (cmd/caddy), so
// that a first run serves at once on any machine.
//
//go:embed Caddyfile
var DefaultCaddyfile []byte
