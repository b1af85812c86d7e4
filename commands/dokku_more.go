package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/applogs"
	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/platform"
)

// dokkuCommands are Dokku commands that Berth took on for its users'
// scripts (docs/DOKKU.md): git:set, git:unlock, url, urls.
var dokkuCommands = []command{
	{appScope, "git:set", "git:set APP|--global deploy-branch|keep-git-dir|rev-env-var [VALUE]", "Set a git property of the app; without VALUE, back to the default (deploy-branch: the global one, else the first push of main or master chooses; rev-env-var: GIT_REV; keep-git-dir: false); --global: deploy-branch of the apps that set none", gitSet},
	{appScope, "git:unlock", "git:unlock APP [--force]", "Accepted for Dokku's scripts: Berth keeps no clone folder to remove, and a deploy's lock ends with the deploy", gitUnlock},
	{appScope, "url", "url APP", "Show the app's first URL", urlCmd},
	{appScope, "urls", "urls APP [--quiet]", "Show every URL of the app, one a line", urlsCmd},
	{appScope, "logs:failed", "logs:failed APP|--all", "Print the log of the app's last failed deploy (every app's with --all)", logsFailed},
	{appScope, "logs:set", "logs:set APP max-size [SIZE]", "Set the app's log retention (20m, 1g, unlimited; no SIZE: the default, 10m), from the next deploy or ps:restart; a deploy key may set up to 10m or what an admin key set", logsSet},
	{appScope, "logs:report", "logs:report APP [--format json]", "Show the app's log settings", logsReport},
	{appScope, "docker-options:list", "docker-options:list APP [--process TYPE] --phase build|deploy|run", "List the app's docker options of one phase (--process: of that type's deploy options), one a line", dockerOptionsList},
	{appScope, "certs:show", "certs:show APP crt|key", "Print the app's custom certificate or (admin keys) its key (PEM), as certs:add took them", withCerts(certsShow)},
}

func gitSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, global := flags["global"]; global {
		if len(pos) < 1 || len(pos) > 2 || pos[0] != "deploy-branch" {
			return usageError{"git:set --global takes deploy-branch [BRANCH] (rev-env-var and keep-git-dir are per app)"}
		}
		value := ""
		if len(pos) == 2 {
			value = pos[1]
		}
		if err := p.Build.SetGlobalDeployBranch(ctx, value); err != nil {
			return err
		}
		settingLine(out.Stdout, pos[0], value)
		// The global branch reaches only the apps without one of their
		// own, and every app's first push of main or master pins one: say
		// which apps it does not reach, rather than be silently ignored.
		own, err := p.Build.OwnDeployBranches(ctx)
		if err != nil {
			return err
		}
		if len(own) > 0 {
			var list []string
			for _, name := range slices.Sorted(maps.Keys(own)) {
				list = append(list, fmt.Sprintf("%s (%s)", name, own[name]))
			}
			fmt.Fprintf(out.Stdout, "       %d of the apps keep their own deploy branch, which wins over the global one: %s; git:set APP deploy-branch with no branch makes an app follow the global one\n", len(own), strings.Join(list, ", "))
		}
		return nil
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app, a property (deploy-branch, keep-git-dir or rev-env-var) and, to set it, a value"}
	}
	app, key := pos[0], pos[1]
	value, unset := "", len(pos) == 2
	if !unset {
		value = pos[2]
	}
	switch key {
	case "deploy-branch":
		if err := p.Build.SetDeployBranch(ctx, app, value); err != nil {
			return err
		}
	case "rev-env-var":
		if err := p.Build.SetGitRevEnvVar(ctx, app, value, unset); err != nil {
			return err
		}
	case "keep-git-dir":
		switch value {
		case "", "false":
			if _, err := p.App(ctx, app); err != nil {
				return err
			}
		default:
			return fmt.Errorf("keep-git-dir %q is not supported: Berth builds from the commit's files (git archive) and has no .git directory to keep; the commit is in %s (git:set %s rev-env-var)", value, "GIT_REV", app)
		}
	default:
		return usageError{fmt.Sprintf("unknown git property %q; git:set takes deploy-branch, keep-git-dir or rev-env-var", key)}
	}
	if unset {
		fmt.Fprintf(out.Stdout, "=====> Unsetting %s\n", key)
	} else {
		fmt.Fprintf(out.Stdout, "=====> Setting %s to %s\n", key, value)
	}
	return nil
}

func gitUnlock(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args, "force")
	if err != nil {
		return err
	}
	if _, err := p.App(ctx, app); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> %s has no clone folder to remove: Berth builds from the repository itself, and a deploy's lock ends with the deploy\n", app)
	return nil
}

func appURLs(ctx context.Context, p *Backend, app string) ([]string, error) {
	dom, err := part(p.Domains, "domains")
	if err != nil {
		return nil, err
	}
	r, err := dom.Report(ctx, app)
	if err != nil {
		return nil, err
	}
	return r.URLs, nil
}

func urlCmd(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	urls, err := appURLs(ctx, p, app)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return fmt.Errorf("%s has no URL: give it a domain (domains:add %s DOMAIN)", app, app)
	}
	fmt.Fprintln(out.Stdout, urls[0])
	return nil
}

func urlsCmd(ctx context.Context, p *Backend, args []string, out IO) error {
	app, flags, err := oneApp(args, "quiet")
	if err != nil {
		return err
	}
	urls, err := appURLs(ctx, p, app)
	if err != nil {
		return err
	}
	if len(urls) == 0 {
		return fmt.Errorf("%s has no URL: give it a domain (domains:add %s DOMAIN)", app, app)
	}
	if _, quiet := flags["quiet"]; !quiet {
		fmt.Fprintf(out.Stdout, "=====> %s URLs\n", app)
	}
	for _, u := range urls {
		fmt.Fprintln(out.Stdout, u)
	}
	return nil
}

func logsFailed(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, all := flags["all"]
	var apps []string
	switch {
	case all && len(pos) == 0:
		list, err := p.List(ctx)
		if err != nil {
			return err
		}
		for _, a := range list {
			apps = append(apps, a.Name)
		}
	case !all && len(pos) == 1:
		apps = pos
	default:
		return usageError{"name one app, or --all"}
	}
	for _, app := range apps {
		if all {
			fmt.Fprintf(out.Stdout, "=====> %s failed deploy log\n", app)
		}
		found, err := p.Logs.FailedDeploy(ctx, app, out.Stdout)
		if err != nil {
			return err
		}
		if !found {
			fmt.Fprintf(out.Stdout, "-----> %s has no failed deploy among the builds Berth keeps of it\n", app)
		}
	}
	return nil
}

func logsSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app, max-size and, to set it, a size"}
	}
	if pos[1] != "max-size" {
		return usageError{fmt.Sprintf("unknown logs property %q; logs:set takes max-size (Berth has no vector log shipping)", pos[1])}
	}
	value := ""
	if len(pos) == 3 {
		value = pos[2]
	}
	if err := p.Logs.SetMaxSize(ctx, pos[0], value); err != nil {
		return err
	}
	if value == "" {
		fmt.Fprintln(out.Stdout, "=====> Unsetting max-size")
	} else {
		fmt.Fprintf(out.Stdout, "=====> Setting max-size to %s\n", value)
	}
	fmt.Fprintf(out.Stderr, "       It applies from the next deploy or ps:restart %s\n", pos[0])
	return nil
}

func logsReport(ctx context.Context, p *Backend, args []string, out IO) error {
	a, asJSON, err := appToReport(ctx, p, args)
	if err != nil {
		return err
	}
	set, computed := applogs.MaxSizes(a)
	r := struct {
		App             string `json:"app"`
		MaxSize         string `json:"max_size"`
		ComputedMaxSize string `json:"computed_max_size"`
		GlobalMaxSize   string `json:"global_max_size"`
	}{a.Name, set, computed, applogs.DefaultMaxSize}
	if asJSON {
		return writeJSON(out, r)
	}
	fmt.Fprintf(out.Stdout, "=====> %s logs information\n", a.Name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Logs computed max size:\t%s\n", r.ComputedMaxSize)
	fmt.Fprintf(tw, "Logs global max size:\t%s\n", r.GlobalMaxSize)
	fmt.Fprintf(tw, "Logs max size:\t%s\n", r.MaxSize)
	return tw.Flush()
}

func certsShow(ctx context.Context, c *certs.Certs, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"give an app and crt or key"}
	}
	// An admin may have installed the certificate (a wildcard shared by
	// several apps): its key is not the app's to hand out, so a deploy
	// key reads the certificate only.
	if pos[1] == "key" && platform.IsDeployKey(ctx) {
		return platform.Errorf(ErrForbidden, "certs:show %s key prints a private key, which only an admin key may read (the certificate may be an admin's, shared with other apps); this key may read the certificate: certs:show %s crt", pos[0], pos[0])
	}
	pem, err := c.ShowCertificate(ctx, pos[0], pos[1])
	if err != nil {
		return err
	}
	fmt.Fprint(out.Stdout, pem)
	return nil
}

func dockerOptionsList(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "phase", "process")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"name one app, and --phase"}
	}
	phase, ok := flags["phase"]
	switch {
	case !ok || phase == "":
		return usageError{"give --phase build, deploy or run"}
	case phase != "build" && phase != appspec.PhaseDeploy && phase != appspec.PhaseRun:
		return usageError{fmt.Sprintf("unknown phase %q; use --phase build, deploy or run", phase)}
	}
	key := phase
	if typ, ok := flags["process"]; ok {
		if phase != appspec.PhaseDeploy {
			return usageError{fmt.Sprintf("--process is for the deploy phase only (the %s phase has no process types)", phase)}
		}
		key = appspec.ProcessPhase(typ)
	}
	a, err := p.App(ctx, pos[0])
	if err != nil {
		return err
	}
	for _, opt := range a.DockerOptions[key] {
		fmt.Fprintln(out.Stdout, opt)
	}
	return nil
}
