package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/platform"
)

// moreCommands are the domains, apps and config commands beyond the first
// ones.
var moreCommands = []command{
	{adminScope, "domains:add", "domains:add APP|--global DOMAIN ...", "Add domains to an app (or global domains); routing follows at once", domainsAction("add")},
	{adminScope, "domains:remove", "domains:remove APP|--global DOMAIN ...", "Remove domains from an app (or global domains)", domainsAction("remove")},
	{adminScope, "domains:set", "domains:set APP|--global DOMAIN ...", "Replace an app's domains (or the global domains)", domainsAction("set")},
	{adminScope, "domains:clear", "domains:clear APP|--global", "Remove all of an app's own domains (or the added global domains)", domainsAction("clear")},
	{adminScope, "domains:add-global", "domains:add-global DOMAIN ...", "Add global domains (as domains:add --global)", globalDomains("add")},
	{adminScope, "domains:remove-global", "domains:remove-global DOMAIN ...", "Remove global domains (as domains:remove --global)", globalDomains("remove")},
	{adminScope, "domains:set-global", "domains:set-global DOMAIN ...", "Replace the global domains (as domains:set --global)", globalDomains("set")},
	{adminScope, "domains:clear-global", "domains:clear-global", "Remove the added global domains (as domains:clear --global)", globalDomains("clear")},
	{appScope, "domains:report", "domains:report APP|--global [--format json]", "Show an app's domains (or the global domains)", domainsReport},
	{appScope, "apps:exists", "apps:exists APP", "Exit 0 if the app exists, 1 if not", appsExists},
	{appScope, "apps:lock", "apps:lock APP", "Refuse deploys of the app until apps:unlock", appsLock(true)},
	{appScope, "apps:unlock", "apps:unlock APP", "Accept deploys of the app again", appsLock(false)},
	{appScope, "apps:locked", "apps:locked APP", "Exit 0 if the app is locked (deploys refused), 1 if not", appsLocked},
	{appScope, "apps:report", "apps:report APP [--format json]", "Show the app: domains, release, deploy branch, lock, processes", appsReport},
	{appScope, "config:keys", "config:keys APP|--global", "List the names of the app's config vars", configKeys},
	{appScope, "config:export", "config:export APP|--global [--format shell|json|envfile]", "Print the app's config vars for a shell, as JSON or as an env file", configExport},
	{appScope, "config:clear", "config:clear APP|--global [--no-restart]", "Remove every config var and roll out a release without them", configClear},
}

func domainsAction(action string) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		pos, flags, err := parseFlags(args)
		if err != nil {
			return err
		}
		_, global := flags["global"]
		wantDomains := action != "clear"
		if global {
			if wantDomains && len(pos) == 0 || !wantDomains && len(pos) != 0 {
				return usageError{"give the domains after --global"}
			}
			dom, err := part(p.Domains, "domains")
			if err != nil {
				return err
			}
			if err := dom.ChangeGlobal(ctx, action, pos); err != nil {
				return err
			}
			fmt.Fprintf(out.Stdout, "-----> Global domains: %s done\n", action)
			return nil
		}
		if len(pos) == 0 || wantDomains && len(pos) < 2 && action != "set" || !wantDomains && len(pos) != 1 {
			return usageError{"give an app, then the domains"}
		}
		dom, err := part(p.Domains, "domains")
		if err != nil {
			return err
		}
		if err := dom.Change(ctx, pos[0], action, pos[1:]); err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Domains of %s: %s done\n", pos[0], action)
		return nil
	}
}

// globalDomains are Dokku's domains:*-global commands: the --global form
// of the domains command.
func globalDomains(action string) func(context.Context, *Backend, []string, IO) error {
	run := domainsAction(action)
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		return run(ctx, p, append([]string{"--global"}, args...), out)
	}
}

func domainsReport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	_, global := flags["global"]
	var r platform.DomainsReport
	switch {
	case global && len(pos) == 0:
		dom, err := part(p.Domains, "domains")
		if err != nil {
			return err
		}
		r.Global = dom.GlobalDomains()
		r.Own = []string{}
	case !global && len(pos) == 1:
		dom, err := part(p.Domains, "domains")
		if err != nil {
			return err
		}
		if r, err = dom.Report(ctx, pos[0]); err != nil {
			return err
		}
	default:
		return usageError{"give an app, or --global"}
	}
	if flags["format"] == "json" {
		return writeJSON(out, r)
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	if r.App != "" {
		fmt.Fprintf(out.Stdout, "=====> %s domains information\n", r.App)
		fmt.Fprintf(tw, "Domains app enabled:\t%t\n", r.Enabled == nil || *r.Enabled)
		fmt.Fprintf(tw, "Domains app default:\t%s\n", strings.Join(r.Default, " "))
		fmt.Fprintf(tw, "Domains app vhosts:\t%s\n", strings.Join(r.Own, " "))
		fmt.Fprintf(tw, "Domains app urls:\t%s\n", strings.Join(r.URLs, " "))
	} else {
		fmt.Fprintf(out.Stdout, "=====> Global domains information\n")
	}
	fmt.Fprintf(tw, "Domains global vhosts:\t%s\n", strings.Join(r.Global, " "))
	return tw.Flush()
}

func appsExists(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	if err := platform.ValidateAppName(app); err != nil {
		return err
	}
	ok, err := p.Exists(ctx, app)
	if err != nil {
		return err
	}
	if !ok {
		return platform.Errorf(platform.ErrAppNotFound, "app %s does not exist", app)
	}
	fmt.Fprintf(out.Stdout, "-----> App %s exists\n", app)
	return nil
}

func appsLock(locked bool) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		app, _, err := oneApp(args)
		if err != nil {
			return err
		}
		if err := p.UpdateApp(ctx, app, func(a *platform.App) error { a.Locked = locked; return nil }); err != nil {
			return err
		}
		what := "unlocked"
		if locked {
			what = "locked: deploys are refused until apps:unlock"
		}
		fmt.Fprintf(out.Stdout, "-----> %s is %s\n", app, what)
		return nil
	}
}

// appsLocked answers as Dokku's: exit status 0 and "Deploy lock exists"
// when locked, status 1 and "Deploy lock does not exist" when not.
func appsLocked(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	a, err := p.App(ctx, app)
	if err != nil {
		return err
	}
	if !a.Locked {
		return fmt.Errorf("Deploy lock does not exist for %s", app)
	}
	fmt.Fprintf(out.Stdout, "Deploy lock exists for %s\n", app)
	return nil
}

func appsReport(ctx context.Context, p *Backend, args []string, out IO) error {
	app, flags, err := oneApp(args, "format")
	if err != nil {
		return err
	}
	a, err := p.App(ctx, app)
	if err != nil {
		return err
	}
	ps, err := p.Deploy.Report(ctx, app)
	if err != nil {
		return err
	}
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return err
	}
	d, err := dom.Report(ctx, app)
	if err != nil {
		return err
	}
	// The release, running containers and URLs apps:list showed before
	// it took Dokku's form.
	var urls []string
	running := map[string]int{}
	if list, err := p.List(ctx); err == nil {
		for _, info := range list {
			if info.Name == app {
				urls, running = info.URLs, info.Processes
			}
		}
	}
	report := map[string]any{
		"urls":          orEmpty(urls),
		"processes":     running,
		"name":          a.Name,
		"created_at":    a.CreatedAt,
		"deploy_branch": a.DeployBranch,
		"locked":        a.Locked,
		"release":       a.Current,
		"hosts":         slices.Concat(d.Default, d.Own),
		"formation":     ps.Formation,
		"running":       ps.Running,
		"failed":        ps.Failed,
		"metrics":       figuresOf(p.Metrics, app, nil),
	}
	if flags["format"] == "json" {
		return writeJSON(out, report)
	}
	fmt.Fprintf(out.Stdout, "=====> %s app information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "App created at:\t%s\n", a.CreatedAt.Format("2006-01-02 15:04:05 MST"))
	fmt.Fprintf(tw, "App deploy branch:\t%s\n", orDash(a.DeployBranch))
	fmt.Fprintf(tw, "App locked:\t%t\n", a.Locked)
	// Dokku's key of apps:set --global disable-autocreation: "true" when
	// set, empty otherwise.
	g, err := part(p.Globals, "the global settings")
	if err != nil {
		return err
	}
	autocreationOff, err := g.AutocreationDisabled(ctx)
	if err != nil {
		return err
	}
	fmt.Fprintf(tw, "App global disable autocreation:\t%s\n", map[bool]string{true: "true"}[autocreationOff])
	fmt.Fprintf(tw, "App release:\tv%d\n", a.Current)
	fmt.Fprintf(tw, "App hosts:\t%s\n", strings.Join(slices.Concat(d.Default, d.Own), " "))
	fmt.Fprintf(tw, "App formation:\t%s\n", formatFormation(ps.Formation))
	fmt.Fprintf(tw, "App processes:\t%s\n", platform.FormatProcesses(running))
	fmt.Fprintf(tw, "App urls:\t%s\n", strings.Join(urls, " "))
	// Berth's figures (docs/DOKKU.md), after every key scripts knew.
	report["metrics"].(appFigures).trafficLines(tw, "App")
	return tw.Flush()
}

func orDash(s string) string {
	if s == "" {
		return "-"
	}
	return s
}

func configKeys(ctx context.Context, p *Backend, args []string, out IO) error {
	_, cfg, pos, _, err := configOf(ctx, p, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"give one app, or --global"}
	}
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		fmt.Fprintln(out.Stdout, k)
	}
	return nil
}

func configExport(ctx context.Context, p *Backend, args []string, out IO) error {
	_, cfg, pos, flags, err := configOf(ctx, p, args, "format")
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"give one app, or --global"}
	}
	keys := slices.Sorted(maps.Keys(cfg))
	switch flags["format"] {
	case "", "shell":
		for _, k := range keys {
			fmt.Fprintf(out.Stdout, "export %s=%s\n", k, platform.ShellQuote(cfg[k]))
		}
	case "envfile":
		for _, k := range keys {
			fmt.Fprintf(out.Stdout, "%s=%s\n", k, platform.ShellQuote(cfg[k]))
		}
	case "json":
		if cfg == nil {
			cfg = map[string]string{}
		}
		return writeJSON(out, cfg)
	default:
		return usageError{fmt.Sprintf("unknown format %q: use shell, json or envfile", flags["format"])}
	}
	return nil
}

func configClear(ctx context.Context, p *Backend, args []string, out IO) error {
	owner, cfg, pos, flags, err := configOf(ctx, p, args)
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"give one app, or --global"}
	}
	if _, global := flags["global"]; global {
		g, err := part(p.Globals, "the global settings")
		if err != nil {
			return err
		}
		if err := g.SetConfig(ctx, nil, slices.Collect(maps.Keys(cfg))); err != nil {
			return err
		}
		fmt.Fprintln(out.Stdout, "-----> Cleared the global config")
		return nil
	}
	app := owner
	_, noRestart := flags["no-restart"]
	if err := p.Deploy.SetConfig(ctx, app, nil, slices.Collect(maps.Keys(cfg)), noRestart, out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Cleared the config of %s\n", app)
	return nil
}

var renameCommands = []command{
	{adminScope, "apps:rename", "apps:rename OLD NEW", "Rename an app: record, repository, images, domains and deploy keys move; it restarts under the new name", appsRename},
	{adminScope, "apps:clone", "apps:clone APP NEW [--ignore-existing]", "Make a new app from an app: config and settings copied, its release started under the new name (--ignore-existing: succeed, doing nothing, when NEW exists)", appsClone},
}

func twoApps(args []string) (string, string, error) {
	pos, _, err := parseFlags(args)
	if err != nil {
		return "", "", err
	}
	if len(pos) != 2 {
		return "", "", usageError{"give the app and the new name"}
	}
	return pos[0], pos[1], nil
}

// flagsOf returns the --flags of args (checkFlags has checked them).
func flagsOf(args []string) map[string]string {
	_, flags, _ := parseFlags(args)
	return flags
}

func appsRename(ctx context.Context, p *Backend, args []string, out IO) error {
	from, to, err := twoApps(args)
	if err != nil {
		return err
	}
	r, err := part(p.Renames, "renames and clones")
	if err != nil {
		return err
	}
	if err := r.Rename(ctx, from, to, out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Renamed %s to %s\n", from, to)
	// A push to the old name would create a new, empty app of that name:
	// the remote has to follow the rename.
	fmt.Fprintf(out.Stdout, "       Update your git remote to the new name (same server and port):\n       git remote set-url berth ssh://berth@SERVER:PORT/%s\n", to)
	return nil
}

func appsClone(ctx context.Context, p *Backend, args []string, out IO) error {
	from, to, err := twoApps(args)
	if err != nil {
		return err
	}
	if _, ignore := flagsOf(args)["ignore-existing"]; ignore {
		if exists, err := p.Exists(ctx, to); err == nil && exists {
			fmt.Fprintf(out.Stderr, " !     Name is already taken: %s exists; nothing was cloned (--ignore-existing)\n", to)
			return nil
		}
	}
	r, err := part(p.Renames, "renames and clones")
	if err != nil {
		return err
	}
	if err := r.Clone(ctx, from, to, out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Cloned %s as %s\n", from, to)
	return nil
}

var reportCommands = []command{
	{adminScope, "report", "report [APP] [--format json]", "Show every report (app, processes, domains, checks, network, storage, resources, docker-options, disk) of one app or of all apps, and of all, Berth's disk usage", report},
}

// appReports are the per-app reports report shows, in order.
var appReports = []string{"apps:report", "ps:report", "domains:report", "checks:report",
	"network:report", "storage:report", "resource:report", "docker-options:report", "disk:report"}

func report(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	var apps []string
	switch len(pos) {
	case 0:
		list, err := p.List(ctx)
		if err != nil {
			return err
		}
		for _, a := range list {
			apps = append(apps, a.Name)
		}
	case 1:
		apps = pos
	default:
		return usageError{"give one app, or none for all"}
	}
	format := []string{}
	if flags["format"] == "json" {
		format = []string{"--format", "json"}
		io := out
		fmt.Fprint(io.Stdout, "[")
		for i, app := range apps {
			if i > 0 {
				fmt.Fprint(io.Stdout, ",")
			}
			fmt.Fprintf(io.Stdout, "\n{\"app\": %q, \"reports\": [", app)
			for j, name := range appReports {
				if j > 0 {
					fmt.Fprint(io.Stdout, ",")
				}
				if err := Exec(ctx, p, slices.Concat([]string{name, app}, format), out); err != nil {
					return err
				}
			}
			fmt.Fprint(io.Stdout, "]}")
		}
		fmt.Fprintln(io.Stdout, "\n]")
		return nil
	}
	for _, app := range apps {
		for _, name := range appReports {
			if err := Exec(ctx, p, []string{name, app}, out); err != nil {
				return err
			}
		}
	}
	if len(pos) == 0 {
		// What all of Berth takes of the disk: volumes and the build
		// cache are no one app's.
		return Exec(ctx, p, []string{"disk:report"}, out)
	}
	return nil
}

func orEmpty(list []string) []string {
	if list == nil {
		return []string{}
	}
	return list
}
