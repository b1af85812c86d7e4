package commands

import (
	"context"
	"strconv"

	"github.com/berth-paas/berth/applogs"
)

var logCommands = []command{
	{appScope, "logs", "logs APP [-t|--tail] [-n|--num N] [-p|--ps PROCESS]", "Show the app's output (-t follows it until you disconnect; -n lines per container, default 100, at most max_log_lines (10000), -1 that many; -p web or web.1)", logs},
}

func logs(ctx context.Context, p *Backend, args []string, out IO) error {
	app, opts, err := parseLogArgs(args)
	if err != nil {
		return err
	}
	return p.Logs.Show(ctx, app, opts, out.Stdout, out.Stderr)
}

// parseLogArgs reads logs' APP [-t] [-n N] [-p PROCESS], in any order.
func parseLogArgs(args []string) (string, applogs.Options, error) {
	opts := applogs.Options{Lines: 100}
	var app string
	for i := 0; i < len(args); i++ {
		switch a := args[i]; a {
		case "-t", "--tail":
			opts.Follow = true
		case "-n", "--num", "-p", "--ps":
			if i+1 >= len(args) {
				return "", opts, usageError{a + " needs a value"}
			}
			i++
			if a == "-p" || a == "--ps" {
				opts.Process = args[i]
				continue
			}
			n, err := strconv.Atoi(args[i])
			if err != nil {
				return "", opts, usageError{"-n takes a number of lines"}
			}
			opts.Lines = n
		default:
			if app != "" || len(a) > 0 && a[0] == '-' {
				return "", opts, usageError{"unexpected " + strconv.Quote(a)}
			}
			app = a
		}
	}
	if app == "" {
		return "", opts, usageError{"name one app"}
	}
	return app, opts, nil
}
