package commands

import (
	"context"
	"strings"

	"github.com/berth-paas/berth/docker"
)

var runCommands = []command{
	{appScope, "run", "run APP [--] CMD [ARGS...]", "Run a command in a one-off container of the app, with its config; stdin attached, its exit status returned (ssh -t for a terminal)", run},
	{appScope, "enter", "enter APP [PROCESS] [-- CMD...]", "Run a shell (or CMD) inside a running container of the app (PROCESS: web, web.2, worker...)", enter},
}

func streams(out IO) docker.Streams {
	s := docker.Streams{Stdin: out.Stdin, Stdout: out.Stdout, Stderr: out.Stderr}
	if t := out.Terminal; t != nil {
		s.TTY, s.Size, s.Resize = true, [2]uint{t.Width, t.Height}, t.Resize
	}
	return s
}

func run(ctx context.Context, p *Backend, args []string, out IO) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		return usageError{"name one app, then the command"}
	}
	app, cmd := args[0], args[1:]
	if len(cmd) > 0 && cmd[0] == "--" {
		cmd = cmd[1:]
	}
	code, err := p.Run(ctx, app, cmd, streams(out))
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitStatus(code)
	}
	return nil
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
	code, err := p.Enter(ctx, app, process, rest, streams(out))
	if err != nil {
		return err
	}
	if code != 0 {
		return ExitStatus(code)
	}
	return nil
}
