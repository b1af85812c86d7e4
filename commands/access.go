package commands

import (
	"errors"
	"github.com/berth-paas/berth/platform"
	"slices"
	"strings"
)

// appCommands may be run by a deploy key (ssh-keys:add --app APP) on its
// own app: each takes the app as its first argument. Every other command
// acts on several apps or on Berth itself and is for admin keys only; a
// command added to the table is admin-only until it is listed here.
var appCommands = []string{
	"apps:exists", "apps:report", "apps:lock", "apps:unlock",
	"checks:disable", "checks:enable", "checks:skip", "checks:report", "checks:set",
	"config:set", "config:unset", "config:get", "config:show", "config:keys", "config:export", "config:clear",
	"domains:report",
	"enter", "logs", "run",
	"ps:report", "ps:scale", "ps:restart", "ps:set", "ps:stop", "ps:start", "ps:rebuild",
	"releases", "rollback",
	"builds:list", "builds:output", "git:report",
	// Networks, storage and docker-options can reach beyond the app (other
	// apps' networks, the host's files, capabilities), so only their
	// reports are here; resources only constrain the app itself (and a deploy
	// key may not change them once an admin has: platform.AsDeployKey).
	"network:report", "storage:list", "storage:report", "docker-options:report",
	"resource:limit", "resource:reserve", "resource:limit-clear", "resource:reserve-clear", "resource:report",
	"certs:add", "certs:update", "certs:remove", "certs:report", "tls:set", "tls:report",
}

// openCommands may be run by any authorized key.
var openCommands = []string{"help", "version"}

// ErrForbidden is returned when a deploy key asks for what it may not do.
var ErrForbidden = errors.New("forbidden")

// Authorize checks that a deploy key scoped to app may run args: an open
// command, or an app command whose first argument is exactly app, with no
// --global form. The command's own parsing takes its first argument as the
// app, so the check and the command agree on which app it acts on.
func Authorize(app string, args []string) error {
	if len(args) == 0 {
		return nil // help
	}
	name := args[0]
	if slices.Contains(openCommands, name) {
		return nil
	}
	if !slices.Contains(appCommands, name) {
		return platform.Errorf(ErrForbidden, "this key may only deploy and manage app %s; %s is for admin keys", app, name)
	}
	if len(args) < 2 || args[1] != app {
		return platform.Errorf(ErrForbidden, "this key may only manage app %s: name it first (%s %s ...)", app, name, app)
	}
	for _, a := range args[2:] {
		if a == "--global" || strings.HasPrefix(a, "--global=") {
			return platform.Errorf(ErrForbidden, "this key may not change global settings")
		}
	}
	return nil
}
