package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-paas/berth/scheduler/selector"
)

// schedulerCommands choose what runs an app's processes (Dokku's
// scheduler plugin): docker-local (containers on this host) or swarm.
var schedulerCommands = []command{
	{adminScope, "scheduler:set", "scheduler:set APP|--global selected [docker-local|swarm]", "Choose the scheduler the app's next deploy runs on (docker-local, the default, or swarm; none to unset). Admin only: a swarm task publishes its port on every interface of its node", schedulerSet},
	{appScope, "scheduler:report", "scheduler:report APP|--global [--format json]", "Show the app's scheduler settings and what runs it (no APP: every app)", schedulerReport},
}

func schedulerSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, global, err := setArgs(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app (or --global), the property selected and a scheduler (" + strings.Join(selector.Names, " or ") + "; none to unset it)"}
	}
	app, key, value := pos[0], pos[1], ""
	if len(pos) == 3 {
		value = pos[2]
	}
	if key != "selected" {
		return usageError{fmt.Sprintf("unknown scheduler property %q: use selected", key)}
	}
	who := app
	if global {
		who = "every app that selects none"
		err = p.Scheduler.SetGlobal(ctx, value)
	} else {
		err = p.Scheduler.Set(ctx, app, value)
	}
	if err != nil {
		return err
	}
	if value == "" {
		fmt.Fprintf(out.Stderr, "-----> Unset the scheduler of %s; it applies from the next deploy\n", who)
		return nil
	}
	fmt.Fprintf(out.Stderr, "-----> Set the scheduler of %s to %s; it applies from the next deploy (ps:rebuild)\n", who, value)
	return nil
}

func schedulerReport(ctx context.Context, p *Backend, args []string, out IO) error {
	return reportCommand(ctx, p, args, out, "scheduler", p.Scheduler.GlobalReport, p.Scheduler.Report,
		func(r selector.Report) string { return r.App },
		func(tw io.Writer, r selector.Report) {
			fmt.Fprintf(tw, "Scheduler computed selected:\t%s\n", r.ComputedSelected)
			fmt.Fprintf(tw, "Scheduler global selected:\t%s\n", r.GlobalSelected)
			if r.App != "" {
				fmt.Fprintf(tw, "Scheduler selected:\t%s\n", r.Selected)
				fmt.Fprintf(tw, "Scheduler running:\t%s\n", r.Running)
			}
		})
}
