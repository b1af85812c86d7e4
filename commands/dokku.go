package commands

import (
	"fmt"
	"regexp"
	"slices"
	"strings"
)

// This file holds what makes Berth's command line read like the `dokku`
// binary's (docs/DOKKU.md): the global options before the command, the
// flags a command accepts (read from its usage line, so that an unknown
// flag is an error and never ignored). The single-value report lookups
// (`ps:report APP --ps-restart-policy`) are in dokkureport.go, --quiet in
// dokkuquiet.go.

// globals are the options the `dokku` binary takes before the command.
type globals struct {
	app     string // --app APP: the app argument the command line left out
	force   bool   // --force: the command's own --force
	quiet   bool   // --quiet: no "----->" progress lines
	rm      bool   // --rm, --rm-container: run's container is always removed
	version bool   // --version, -v
}

// globalUsage lists the global options for error messages.
const globalUsage = "--app APP, --force, --quiet, --trace, --rm, --rm-container, --version"

// readGlobals reads the global options in front of args and returns how
// many words they take.
func readGlobals(args []string) (int, globals, error) {
	var g globals
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		switch name {
		case "--app":
			if !hasValue {
				if i+1 >= len(args) {
					return i, g, usageError{"--app needs an app name: --app APP COMMAND ..."}
				}
				i++
				value = args[i]
			}
			if value == "" || strings.HasPrefix(value, "-") {
				return i, g, usageError{"--app needs an app name: --app APP COMMAND ..."}
			}
			g.app = value
			continue
		case "--force":
			g.force = true
		case "--quiet":
			g.quiet = true
		case "--trace":
			// Dokku turns on shell tracing; Berth has no shell scripts to
			// trace. Accepted so that scripts that pass it keep working.
		case "--rm", "--rm-container":
			g.rm = true
		case "--version", "-v":
			g.version = true
		default:
			return i, g, usageError{fmt.Sprintf("unknown global option %s; the options before the command are %s", args[i], globalUsage)}
		}
		if hasValue {
			return i, g, usageError{fmt.Sprintf("%s takes no value", name)}
		}
	}
	return i, g, nil
}

// CommandLine returns args from the command's name on: the global
// options in front (--app APP, --quiet, ...), read the way the commands
// read them, left out. Berth's log redacts the secrets of a command line
// by its command (config:set's values), so it must find the command
// where the commands do. A command line whose global options are wrong
// (and which no command runs) is cut after its leading option words
// (and --app's value).
func CommandLine(args []string) []string {
	i, _, err := readGlobals(args)
	if err != nil {
		for i = 0; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
			if args[i] == "--app" {
				i++ // its value, whatever it is
			}
		}
		i = min(i, len(args))
	}
	return args[i:]
}

// resolve reads the global options in front of the command and returns
// the command line the command runs: --app APP becomes the command's first
// argument and --force the command's --force. Exec and Authorize both
// call it, so the app a deploy key is checked against is the app the
// command acts on.
func resolve(args []string) ([]string, globals, error) {
	i, g, err := readGlobals(args)
	if err != nil {
		return nil, g, err
	}
	rest := args[i:]
	if len(rest) == 0 {
		if g.app != "" || g.force || g.rm {
			return nil, g, usageError{"name a command after the global options"}
		}
		return rest, g, nil
	}
	cmd, ok := lookup(rest[0])
	if !ok {
		return rest, g, nil // Exec says it is not a command
	}
	out := []string{rest[0]}
	switch {
	case g.app == "":
	case strings.Contains(cmd.usage, "APP|--global") && slices.Contains(rest[1:], "--global"):
		// The global form, which Dokku's remote client sends --app before
		// as before any other (domains:report --global): it acts on no app.
	case takesAppFirst(cmd) && len(rest) > 1 && rest[1] == g.app:
		// Named twice: Dokku's remote client sends --app from the git
		// remote and the app the user typed (`dokku apps:destroy blog`
		// becomes `--app blog apps:destroy blog`); the dokku binary's
		// commands read the first and ignore the second.
	case takesAppFirst(cmd):
		out = append(out, g.app)
	case slices.Contains(acceptedFlags(cmd), "app"):
		// ssh-keys:add has an --app of its own (a deploy key's app): a
		// global --app must not be dropped there, and taking it as the
		// command's would make a guess about what the caller meant.
		return nil, g, usageError{fmt.Sprintf("--app before the command is for commands that take an app first; give %s its own option (usage: %s)", cmd.name, cmd.usage)}
	default:
		// Dokku's remote client (contrib/dokku_client.sh) sends --app,
		// from the `dokku` git remote, before every command it does not
		// know to take none (apps:list, report, postgres:create, ...),
		// and the dokku binary then leaves it out: so does Berth.
	}
	out = append(out, rest[1:]...)
	if g.force {
		if !slices.Contains(acceptedFlags(cmd), "force") {
			return nil, g, usageError{fmt.Sprintf("--force has no meaning for %s (usage: %s)", cmd.name, cmd.usage)}
		}
		// After the arguments: the app stays first, where Authorize
		// reads it (no command that takes --force passes arguments on).
		out = append(out, "--force")
	}
	if g.rm && cmd.name != "run" {
		return nil, g, usageError{fmt.Sprintf("--rm is for run (its container is always removed); %s takes no container", cmd.name)}
	}
	return out, g, nil
}

// takesAppFirst reports whether a command's first argument is an app, as
// its usage line says ("NAME APP ..." or "NAME APP|--global ...").
func takesAppFirst(c command) bool {
	f := strings.Fields(c.usage)
	return len(f) > 1 && (f[1] == "APP" || f[1] == "[APP]" || strings.HasPrefix(f[1], "APP|") || f[1] == "OLD")
}

var (
	flagInUsage   = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	formatInUsage = regexp.MustCompile(`--format ([a-z|]+)`)
)

// acceptedFlags are the --flags a command's usage line names: the usage
// line is the one list of what a command takes.
func acceptedFlags(c command) []string {
	var names []string
	for _, m := range flagInUsage.FindAllStringSubmatch(c.usage, -1) {
		names = append(names, m[1])
	}
	return names
}

// formats are the --format values a command's usage line names.
func formats(c command) []string {
	m := formatInUsage.FindStringSubmatch(c.usage)
	if m == nil {
		return nil
	}
	return strings.Split(m[1], "|")
}

// passesArgsOn: commands whose arguments (after the app, or after --) are
// another program's, which Berth must not read as its own flags.
func passesArgsOn(name string) bool {
	switch name {
	case "run", "run:detached", "docker-options:add", "docker-options:remove":
		return true
	}
	return false
}

// ownArgs are the arguments Berth reads as its own: those before "--",
// and for run only the app (everything after it is the command).
func ownArgs(c command, args []string) []string {
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	if passesArgsOn(c.name) && len(args) > 1 {
		args = args[:1]
	}
	return args
}

// wantsHelp reports whether the command line asks for the command's usage.
func wantsHelp(c command, args []string) bool {
	own := ownArgs(c, args)
	return slices.Contains(own, "--help") || slices.Contains(own, "-h")
}

// checkFlags refuses a --flag the command does not take and a --format
// value it does not know, naming the valid ones.
func checkFlags(c command, args []string) error {
	accepted := acceptedFlags(c)
	own := ownArgs(c, args)
	for i, a := range own {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !slices.Contains(accepted, name) {
			if len(accepted) == 0 {
				return usageError{fmt.Sprintf("unknown flag --%s; %s takes no flags", name, c.name)}
			}
			return usageError{fmt.Sprintf("unknown flag --%s; %s takes --%s", name, c.name, strings.Join(accepted, ", --"))}
		}
		if name != "format" {
			continue
		}
		if !hasValue {
			if i+1 >= len(own) {
				continue // the command says --format needs a value
			}
			value = own[i+1]
		}
		if valid := formats(c); !slices.Contains(valid, value) {
			return usageError{fmt.Sprintf("unknown format %q; use --format %s", value, strings.Join(valid, "|"))}
		}
	}
	return nil
}
