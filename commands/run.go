package commands

import (
	"context"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/oneoff"
)

var runCommands = []command{
	{appScope, "run", "run APP [-e|--env KEY=VALUE]... [--no-tty] [--] CMD|PROCFILE_TYPE [ARGS...]", "Run a command (or a Procfile entry) in a one-off container of the app, with its config and -e vars; stdin attached, its exit status returned (ssh -t for a terminal). Dokku's form, flags before APP, works too", run},
	{appScope, "run:detached", "run:detached APP [-e|--env KEY=VALUE]... [--] CMD|PROCFILE_TYPE [ARGS...]", "Start a command (or a Procfile entry) in a one-off container that runs on its own; prints its name (run:list, run:stop). It is removed when it exits", runDetached},
	{appScope, "run:list", "run:list [APP] [--format json|stdout]", "List the app's running one-off containers (every app's without APP; admin keys)", runList},
	{appScope, "run:logs", "run:logs APP [--container NAME] [-t|--tail] [-n|--num N] [-q|--quiet] | --container NAME ...", "Show the output of the app's running one-off containers, or of the one named (-t follows it; -n lines per container, default 100; -q the program's lines only)", runLogs},
	{appScope, "run:stop", "run:stop APP [--container NAME] | --container NAME", "Stop (and remove) the app's running one-off containers, or the one named (of APP when given; a deploy key names its app)", runStop},
	{appScope, "enter", "enter APP [PROCESS] [-- CMD...]", "Run a shell (or CMD) inside a running container of the app (PROCESS: web, web.2, worker...)", enter},
}

func streams(out IO) docker.Streams {
	s := docker.Streams{Stdin: out.Stdin, Stdout: out.Stdout, Stderr: out.Stderr}
	if t := out.Terminal; t != nil {
		s.TTY, s.Size, s.Resize = true, [2]uint{t.Width, t.Height}, t.Resize
	}
	return s
}

// runArgs are run's and run:detached's arguments.
type runArgs struct {
	app   string
	cmd   []string
	env   map[string]string
	noTTY bool
}

// parseRunArgs reads `[FLAGS] APP [FLAGS] [--] CMD...`: Dokku puts run's
// flags (-e/--env KEY=VALUE, --no-tty) before the app; `--app APP run
// ...` puts the app first, so the same flags are read right after the
// app too. The first argument that is not one of them (or "--") starts
// the command, and from there every argument is the command's: `run APP
// ls -e` passes -e to ls.
func parseRunArgs(args []string, detached bool) (runArgs, error) {
	r := runArgs{env: map[string]string{}}
	flag := func(i int) (int, bool, error) {
		a := args[i]
		switch {
		case a == "-e" || a == "--env":
			if i+1 >= len(args) {
				return 0, false, usageError{a + " needs KEY=VALUE"}
			}
			return 2, true, r.setEnv(args[i+1])
		case strings.HasPrefix(a, "--env="):
			return 1, true, r.setEnv(strings.TrimPrefix(a, "--env="))
		case a == "--no-tty" && !detached:
			r.noTTY = true
			return 1, true, nil
		}
		return 0, false, nil
	}
	i := 0
	for i < len(args) && strings.HasPrefix(args[i], "-") {
		n, ok, err := flag(i)
		if err != nil {
			return r, err
		}
		if !ok {
			return r, usageError{fmt.Sprintf("unknown flag %s; before the app, run takes -e/--env KEY=VALUE and --no-tty", args[i])}
		}
		i += n
	}
	if i >= len(args) {
		return r, usageError{"name one app, then the command"}
	}
	r.app = args[i]
	i++
	for i < len(args) {
		if args[i] == "--" {
			i++
			break
		}
		n, ok, err := flag(i)
		if err != nil {
			return r, err
		}
		if !ok {
			break
		}
		i += n
	}
	r.cmd = args[i:]
	return r, nil
}

func (r *runArgs) setEnv(kv string) error {
	k, v, ok := strings.Cut(kv, "=")
	if !ok || k == "" || strings.ContainsAny(k, " \t\n") {
		return usageError{fmt.Sprintf("-e/--env takes KEY=VALUE, not %q", kv)}
	}
	r.env[k] = v
	return nil
}

func run(ctx context.Context, p *Backend, args []string, out IO) error {
	r, err := parseRunArgs(args, false)
	if err != nil {
		return err
	}
	if r.noTTY {
		out.Terminal = nil
	}
	code, err := p.OneOff.Run(ctx, r.app, r.cmd, oneoff.Options{Env: r.env, Notes: out.Stderr}, streams(out))
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitStatus(code)
	}
	return nil
}

func runDetached(ctx context.Context, p *Backend, args []string, out IO) error {
	r, err := parseRunArgs(args, true)
	if err != nil {
		return err
	}
	if len(r.cmd) == 0 {
		return usageError{"give the command to run (a detached run has no terminal for a shell)"}
	}
	name, err := p.OneOff.Detached(ctx, r.app, r.cmd, oneoff.Options{Env: r.env, Notes: out.Stderr})
	if err != nil {
		return err
	}
	fmt.Fprintln(out.Stdout, name)
	return nil
}

func runList(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	if len(pos) > 1 {
		return usageError{"name at most one app"}
	}
	app := ""
	if len(pos) == 1 {
		app = pos[0]
	}
	format := flags["format"]
	if format != "" && format != "json" && format != "stdout" {
		return usageError{fmt.Sprintf("unknown format %q; use --format json|stdout", format)}
	}
	cs, err := p.OneOff.List(ctx, app)
	if err != nil {
		return err
	}
	if format == "json" {
		return json.NewEncoder(out.Stdout).Encode(cs)
	}
	if app == "" {
		fmt.Fprintln(out.Stdout, "=====> run containers")
	} else {
		fmt.Fprintf(out.Stdout, "=====> %s run containers\n", app)
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tCOMMAND\tCREATED")
	for _, c := range cs {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", c.Name, c.Command, c.Created.Format(time.RFC3339))
	}
	return tw.Flush()
}

// runLogs is Dokku's run:logs APP|--container NAME [-t] [-n N] [-q].
func runLogs(ctx context.Context, p *Backend, args []string, out IO) error {
	app, opts, err := parseRunLogArgs(args)
	if err != nil {
		return err
	}
	return p.OneOff.Logs(ctx, app, opts, out.Stdout, out.Stderr)
}

// parseRunLogArgs reads run:logs' arguments, in any order. A container
// is named APP.run.NNNN; with an app too, it must be that app's (Dokku's
// checks), which is how a deploy key, which names its app first, reads one.
func parseRunLogArgs(args []string) (string, oneoff.LogOptions, error) {
	opts := oneoff.LogOptions{Lines: 100}
	app := ""
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := strings.CutPrefix(a, "--container="); ok {
			opts.Container = v
			continue
		}
		switch a {
		case "-t", "--tail":
			opts.Follow = true
		case "-q", "--quiet":
			opts.Raw = true
		case "-n", "--num", "--container":
			if i+1 >= len(args) {
				return "", opts, usageError{a + " needs a value"}
			}
			i++
			if a == "--container" {
				opts.Container = args[i]
				continue
			}
			n, err := strconv.Atoi(args[i])
			if err != nil {
				return "", opts, usageError{a + " takes a number of lines"}
			}
			opts.Lines = n
		default:
			if app != "" || strings.HasPrefix(a, "-") {
				return "", opts, usageError{"unexpected " + strconv.Quote(a)}
			}
			app = a
		}
	}
	if opts.Container != "" {
		parts := strings.Split(opts.Container, ".")
		if len(parts) < 3 || parts[len(parts)-2] != "run" {
			return "", opts, usageError{fmt.Sprintf("%q is not a run container's name (APP.run.NNNN; run:list shows them)", opts.Container)}
		}
		if owner := strings.Join(parts[:len(parts)-2], "."); app != "" && owner != app {
			return "", opts, usageError{fmt.Sprintf("container %s is not %s's", opts.Container, app)}
		}
	} else if app == "" {
		return "", opts, usageError{"name an app, or --container NAME"}
	}
	return app, opts, nil
}

func runStop(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "container")
	if err != nil {
		return err
	}
	container, byName := flags["container"]
	switch {
	case byName && container == "":
		return usageError{"--container needs a name (run:list shows them)"}
	case len(pos) > 1, !byName && len(pos) != 1:
		return usageError{"name one app, --container NAME, or both (the app's container of that name)"}
	}
	// With both, only the app's container of that name is stopped: that
	// is how a deploy key, which must name its app first, stops one run.
	app := ""
	if len(pos) == 1 {
		app = pos[0]
	}
	names, err := p.OneOff.Stop(ctx, app, container)
	for _, n := range names {
		fmt.Fprintf(out.Stdout, "-----> Stopped %s\n", n)
	}
	if err == nil && len(names) == 0 {
		fmt.Fprintf(out.Stdout, "-----> No run containers of %s are running\n", app)
	}
	return err
}

func enter(ctx context.Context, p *Backend, args []string, out IO) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"name one app"}
	}
	app, rest := args[0], args[1:]
	process := ""
	if len(rest) > 0 && rest[0] != "--" {
		process, rest = rest[0], rest[1:]
	}
	if len(rest) > 0 && rest[0] == "--" {
		rest = rest[1:]
	}
	code, err := p.OneOff.Enter(ctx, app, process, rest, streams(out))
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitStatus(code)
	}
	return nil
}
