package commands

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/berth-paas/berth/scheduler/swarm"
)

// schedulerSwarmCommands are the swarm scheduler's settings of an app
// (Dokku's scheduler-k3s:set has the same form: a property, then its
// value; none unsets it).
var schedulerSwarmCommands = []command{
	{adminScope, "scheduler-swarm:set", "scheduler-swarm:set APP placement [CONSTRAINT...] | --global node-engine NODE [tcp://HOST:PORT --tls-dir DIR|--plain-tcp]", "Set where the app's swarm tasks may run: Swarm's placement constraints (node.role==manager, node.labels.zone!=b, ...; none: any node), from the next deploy (ps:restart). --global node-engine: the Docker engine endpoint of another swarm node (TLS client files ca.pem, cert.pem, key.pem in DIR; plain TCP only with --plain-tcp, on a private network), for enter and ps:report's figures of the tasks there; no endpoint removes it. Admin only, as scheduler:set", schedulerSwarmSet},
	{appScope, "scheduler-swarm:report", "scheduler-swarm:report APP|--global [--format json]", "Show the app's swarm settings (no APP: every app; --global, admin only: the node engines)", schedulerSwarmReport},
}

func schedulerSwarmSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "tls-dir")
	if err != nil {
		return err
	}
	if _, global := flags["global"]; global {
		return schedulerSwarmSetGlobal(ctx, p, pos, flags, out)
	}
	for f := range flags {
		return usageError{fmt.Sprintf("unknown option --%s: an app's swarm setting is scheduler-swarm:set APP placement CONSTRAINT... (--tls-dir and --plain-tcp go with --global node-engine)", f)}
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

// schedulerSwarmSetGlobal is scheduler-swarm:set --global node-engine
// NODE [ENDPOINT (--tls-dir DIR | --plain-tcp)].
func schedulerSwarmSetGlobal(ctx context.Context, p *Backend, pos []string, flags map[string]string, out IO) error {
	for f := range flags {
		if f != "global" && f != "tls-dir" && f != "plain-tcp" {
			return usageError{fmt.Sprintf("unknown option --%s: scheduler-swarm:set --global node-engine NODE tcp://HOST:PORT takes --tls-dir DIR or --plain-tcp", f)}
		}
	}
	if v, ok := flags["plain-tcp"]; ok && v != "" {
		return usageError{"--plain-tcp takes no value"}
	}
	if len(pos) < 2 || len(pos) > 3 || pos[0] != "node-engine" {
		if len(pos) > 0 && !slices.Contains(swarm.GlobalProperties, pos[0]) {
			return usageError{fmt.Sprintf("unknown global scheduler-swarm property %q: use %s (scheduler-swarm:set --global node-engine NODE tcp://HOST:PORT --tls-dir DIR)", pos[0], strings.Join(swarm.GlobalProperties, ", "))}
		}
		return usageError{"give node-engine, a node (its ID or hostname, docker node ls) and its engine's endpoint (none to remove it), as scheduler-swarm:set --global node-engine NODE tcp://HOST:2376 --tls-dir DIR"}
	}
	node, endpoint := pos[1], ""
	if len(pos) == 3 {
		endpoint = pos[2]
	}
	_, plain := flags["plain-tcp"]
	kept, err := p.SwarmSettings.SetNodeEngine(ctx, node, endpoint, flags["tls-dir"], plain)
	if err != nil {
		return err
	}
	if endpoint == "" {
		fmt.Fprintf(out.Stderr, "-----> Removed the engine of node %s: enter and ps:report's figures no longer reach its tasks\n", node)
		return nil
	}
	how := "TLS with " + kept.TLSDir
	if kept.PlainTCP {
		how = "plain TCP (no TLS: keep that network private to Berth and the node)"
	}
	fmt.Fprintf(out.Stderr, "-----> Set the engine of node %s (%s) to %s, %s: it answered as that node; enter and ps:report's figures reach its tasks\n", kept.Hostname, kept.Node, kept.Endpoint, how)
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
		if f != "format" && f != "global" {
			return usageError{fmt.Sprintf("unknown option --%s: give an app, --global (the node engines), or none for every app; --format json", f)}
		}
	}
	_, global := flags["global"]
	reports, single, err := gatherReports(ctx, p, pos, global, p.SwarmSettings.GlobalReport, p.SwarmSettings.Report)
	if err != nil {
		return err
	}
	return writeReports(out, reports, single, asJSON, "scheduler-swarm", func(r swarm.Report) string { return r.App },
		func(tw io.Writer, r swarm.Report) {
			if r.App != "" {
				fmt.Fprintf(tw, "Scheduler swarm placement:\t%s\n", strings.Join(r.Placement, " "))
				return
			}
			if len(r.NodeEngines) == 0 {
				fmt.Fprintf(tw, "Scheduler swarm node engines:\tnone\n")
			}
			for _, n := range r.NodeEngines {
				how := "tls " + n.TLSDir
				if n.PlainTCP {
					how = "plain tcp"
				}
				fmt.Fprintf(tw, "Scheduler swarm node engine %s:\t%s (%s; node %s)\n", n.Hostname, n.Endpoint, how, n.Node)
			}
		})
}
