package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/platform"
)

// networkCommands manage the Docker networks apps share (Dokku's
// network:*).
var networkCommands = []command{
	{adminScope, "network:create", "network:create NETWORK", "Create a network apps can share (attachable bridge)", networkCreate},
	{adminScope, "network:destroy", "network:destroy NETWORK [--force]", "Remove a network network:create made; refused while an app uses it", networkDestroy},
	{adminScope, "network:exists", "network:exists NETWORK", "Exit 0 if the network exists", networkExists},
	{adminScope, "network:info", "network:info NETWORK [--format json]", "Show a network: driver, subnets, attached containers, apps that use it", networkInfo},
	{adminScope, "network:list", "network:list [--format json]", "List Berth's networks and any other network an app uses, with their apps", networkList},
	{appScope, "network:report", "network:report APP|--global [--format json]", "Show the app's network properties: its own, the global ones and those that apply", networkReport},
	{adminScope, "network:set", "network:set APP|--global initial-network|attach-post-create|attach-post-deploy [NETWORK...] | tld [SUFFIX]", "Set (or, with no value, clear) a network property (tld: a DNS suffix of the aliases); --global: for apps that set none; applies from the next deploy or ps:restart", networkSet},
}

func oneName(args []string, what string, allowed ...string) (string, map[string]string, error) {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return "", nil, err
	}
	for f := range flags {
		if !strings.Contains(" "+strings.Join(allowed, " ")+" ", " "+f+" ") {
			return "", nil, usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	if len(pos) != 1 {
		return "", nil, usageError{"name one " + what}
	}
	return pos[0], flags, nil
}

func networkCreate(ctx context.Context, p *Backend, args []string, out IO) error {
	name, _, err := oneName(args, "network")
	if err != nil {
		return err
	}
	if err := p.AppSpec.CreateNetwork(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Created network %s; attach apps with network:set APP attach-post-deploy %s\n", name, name)
	return nil
}

func networkDestroy(ctx context.Context, p *Backend, args []string, out IO) error {
	// --force is accepted for Dokku's scripts: Berth does not ask.
	name, _, err := oneName(args, "network", "force")
	if err != nil {
		return err
	}
	if err := p.AppSpec.DestroyNetwork(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Destroyed network %s\n", name)
	return nil
}

func networkExists(ctx context.Context, p *Backend, args []string, out IO) error {
	name, _, err := oneName(args, "network")
	if err != nil {
		return err
	}
	if _, err := p.AppSpec.NetworkInfo(ctx, name); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Network %s exists\n", name)
	return nil
}

func networkInfo(ctx context.Context, p *Backend, args []string, out IO) error {
	name, flags, err := oneName(args, "network", "format")
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	n, err := p.AppSpec.NetworkInfo(ctx, name)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, n)
	}
	fmt.Fprintf(out.Stdout, "=====> %s network information\n", name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Network driver:\t%s\n", n.Driver)
	fmt.Fprintf(tw, "Network internal:\t%t\n", n.Internal)
	fmt.Fprintf(tw, "Network subnets:\t%s\n", strings.Join(n.Subnets, " "))
	fmt.Fprintf(tw, "Network made by Berth:\t%t\n", n.Berth)
	fmt.Fprintf(tw, "Network apps:\t%s\n", strings.Join(n.Apps, " "))
	fmt.Fprintf(tw, "Network containers:\t%s\n", strings.Join(n.Containers, " "))
	return tw.Flush()
}

func networkList(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"network:list takes no arguments"}
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	nets, err := p.AppSpec.Networks(ctx)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, nets)
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NETWORK\tDRIVER\tBERTH\tAPPS")
	for _, n := range nets {
		apps := strings.Join(n.Apps, " ")
		if apps == "" {
			apps = "-"
		}
		fmt.Fprintf(tw, "%s\t%s\t%t\t%s\n", n.Name, n.Driver, n.Berth, apps)
	}
	return tw.Flush()
}

func networkReport(ctx context.Context, p *Backend, args []string, out IO) error {
	app, global, asJSON, err := appOrGlobalReport(args)
	if err != nil {
		return err
	}
	g, err := p.AppSpec.GlobalNetworks(ctx)
	if err != nil {
		return err
	}
	type row struct{ key, value string }
	list := func(n []string) string { return strings.Join(n, " ") }
	globals := []row{
		{"global-attach-post-create", list(g.AttachPostCreate)},
		{"global-attach-post-deploy", list(g.AttachPostDeploy)},
		{"global-initial-network", g.InitialNetwork},
		{"global-tld", g.TLD},
	}
	name, rows := "--global", globals // Dokku's heading of a global report
	if !global {
		a, err := p.App(ctx, app)
		if err != nil {
			return err
		}
		c, err := p.AppSpec.ComputedNetworks(ctx, a)
		if err != nil {
			return err
		}
		if asJSON {
			// Berth's JSON of an app: its own settings, as before, with
			// the computed and global ones beside them.
			return writeJSON(out, struct {
				platform.NetworkSettings
				Computed platform.NetworkSettings `json:"computed"`
				Global   platform.NetworkSettings `json:"global"`
			}{a.Networks, c, g})
		}
		name = a.Name
		rows = slices.Concat([]row{
			{"attach-post-create", list(a.Networks.AttachPostCreate)},
			{"attach-post-deploy", list(a.Networks.AttachPostDeploy)},
			{"computed-attach-post-create", list(c.AttachPostCreate)},
			{"computed-attach-post-deploy", list(c.AttachPostDeploy)},
			{"computed-initial-network", c.InitialNetwork},
			{"computed-tld", c.TLD},
		}, globals, []row{
			{"initial-network", a.Networks.InitialNetwork},
			{"tld", a.Networks.TLD},
		})
	} else if asJSON {
		return writeJSON(out, g)
	}
	fmt.Fprintf(out.Stdout, "=====> %s network information\n", name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		fmt.Fprintf(tw, "Network %s:\t%s\n", strings.ReplaceAll(r.key, "-", " "), r.value)
	}
	return tw.Flush()
}

func networkSet(ctx context.Context, p *Backend, args []string, out IO) error {
	if len(args) >= 2 && args[0] == "--global" {
		key, nets := args[1], args[2:]
		if err := p.AppSpec.SetGlobalNetwork(ctx, key, nets); err != nil {
			return err
		}
		if len(nets) == 0 {
			fmt.Fprintf(out.Stdout, "-----> Cleared the global %s; it applies from each app's next deploy or ps:restart\n", key)
			return nil
		}
		fmt.Fprintf(out.Stdout, "-----> Set the global %s to %s, for the apps that set none; it applies from each app's next deploy or ps:restart\n", key, strings.Join(nets, " "))
		return nil
	}
	if len(args) < 2 || strings.HasPrefix(args[0], "-") {
		return usageError{"name an app (or --global) and a property"}
	}
	app, key, nets := args[0], args[1], args[2:]
	if err := p.AppSpec.SetNetwork(ctx, app, key, nets); err != nil {
		return err
	}
	if len(nets) == 0 {
		fmt.Fprintf(out.Stdout, "-----> Cleared %s of %s; it applies from the next deploy or ps:restart %s\n", key, app, app)
		return nil
	}
	fmt.Fprintf(out.Stdout, "-----> Set %s of %s to %s; it applies from the next deploy or ps:restart %s\n", key, app, strings.Join(nets, " "), app)
	return nil
}
