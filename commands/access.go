package commands

import (
	"errors"
	"slices"
	"strings"

	"github.com/berth-paas/berth/platform"
)

// scope says who may run a command. Every table entry states one; the
// zero value is no scope, which TestTableEntries refuses and Authorize
// treats as admin-only.
type scope int

const (
	_ scope = iota // no scope stated
	// openScope: any authorized key (help, version).
	openScope
	// appScope: a deploy key (ssh-keys:add --app APP) on its own app, as
	// well as admin keys. The command takes the app as its first argument
	// (its usage reads "NAME APP ...", which TestTableEntries checks) and
	// acts on that app only. Commands that can reach beyond the app (other
	// apps' networks, the host's files, capabilities, shared services) are
	// not app-scoped, even when they name an app.
	appScope
	// adminScope: admin keys only (the Caddyfile's authorized_keys and
	// keys added without --app). Commands that act on several apps or on
	// Berth itself.
	adminScope
)

func (s scope) String() string {
	switch s {
	case openScope:
		return "open"
	case appScope:
		return "app"
	case adminScope:
		return "admin"
	}
	return "none"
}

// lookup finds a command of the table by name.
func lookup(name string) (command, bool) {
	i := slices.IndexFunc(table, func(c command) bool { return c.name == name })
	if i < 0 {
		return command{}, false
	}
	return table[i], true
}

// ErrForbidden is returned when a deploy key asks for what it may not do.
var ErrForbidden = errors.New("forbidden")

// Authorize checks that a deploy key scoped to app may run args: an open
// command, or an app-scoped command whose first argument is exactly app,
// with no --global form. The command's own parsing takes its first
// argument as the app, so the check and the command agree on which app it
// acts on.
//
// The global options are resolved first, as Exec resolves them, so that
// `--app other ps:report` is checked as `ps:report other`.
func Authorize(app string, args []string) error {
	args, _, err := resolve(args)
	if err != nil {
		return err // Exec would refuse the command line too
	}
	if len(args) == 0 {
		return nil // help
	}
	name := args[0]
	c, found := lookup(name) // an unknown command has no scope: admin-only
	if !found && isHelpRequest(name) {
		return nil // a namespace's help (apps, apps:help), as open as help
	}
	if c.scope == openScope {
		return nil
	}
	if c.scope != appScope {
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
