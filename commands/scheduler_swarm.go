package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-paas/berth/scheduler/swarm"
)

// schedulerSwarmCommands are the swarm scheduler's settings of an app
// (Dokku's scheduler-k3s:set has the same form: a property, then its
// value; none unsets it).
var schedulerSwarmCommands = []command{
	{adminScope, "scheduler-swarm:set", "scheduler-swarm:set APP placement [CONSTRAINT...]", "Set where the app's swarm tasks may run: Swarm's placement constraints (node.role==manager, node.labels.zone!=b, ...; none: any node), from the next deploy (ps:restart). Admin only, as scheduler:set", schedulerSwarmSet},
	{appScope, "scheduler-swarm:report", "scheduler-swarm:report [APP] [--format json]", "Show the app's swarm settings (no APP: every app)", schedulerSwarmReport},
}

func schedulerSwarmSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	for f := range flags {
		return usageError{fmt.Sprintf("unknown option --%s: the swarm settings are per app (scheduler-swarm:set APP placement CONSTRAINT...)", f)}
	}
	if len(pos) < 2 {
		return usageError{"give an app, a property (" + strings.Join(swarm.Properties, ", ") + ") and its constraints (none to clear them), as scheduler-swarm:set APP placement node.role==manager"}
	}
	app, prop := pos[0], pos[1]
	kept, err := p.SwarmSettings.Set(ctx, app, prop, pos[2:])
	if err != nil {
		return err
	}
	if len(kept) == 0 {
		fmt.Fprintf(out.Stderr, "-----> Cleared the placement of %s: its tasks may run on any node from the next deploy (ps:restart %s) or a scale that makes new services\n", app, app)
		return nil
	}
	fmt.Fprintf(out.Stderr, "-----> Set the placement of %s to %s; it applies from the next deploy (ps:restart %s) and to the services a scale makes\n", app, strings.Join(kept, " "), app)
	return nil
}

func schedulerSwarmReport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	for f := range flags {
		if f != "format" {
			return usageError{fmt.Sprintf("unknown option --%s: the swarm settings are per app (give an app, or none for every app; --format json)", f)}
		}
	}
	reports, single, err := gatherReports(ctx, p, pos, false, nil, p.SwarmSettings.Report)
	if err != nil {
		return err
	}
	return writeReports(out, reports, single, asJSON, "scheduler-swarm", func(r swarm.Report) string { return r.App },
		func(tw io.Writer, r swarm.Report) {
			fmt.Fprintf(tw, "Scheduler swarm placement:\t%s\n", strings.Join(r.Placement, " "))
		})
}
