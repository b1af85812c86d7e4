package commands

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"strings"
	"text/tabwriter"

	"github.com/berth-paas/berth/appspec"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// resourceCommands limit and reserve an app's resources (Dokku's
// resource:*) and pass it extra docker run options (docker-options:*).
var resourceCommands = []command{
	{appScope, "resource:limit", "resource:limit APP [--cpu N] [--memory SIZE] [--memory-swap SIZE] [--process-type TYPE]", "Limit the app's CPUs and memory (SIZE: 512m, 1g; a bare number is MB), from the next deploy or ps:restart; no option shows the limits", resourceSet("limit")},
	{appScope, "resource:reserve", "resource:reserve APP [--memory SIZE] [--process-type TYPE] [--cpu N]", "Reserve memory for the app's containers (a soft limit), from the next deploy or ps:restart; no option shows the reservations (--cpu, Dokku's, is refused: Docker cannot reserve CPU)", resourceSet("reserve")},
	{appScope, "resource:limit-clear", "resource:limit-clear APP [--process-type TYPE]", "Remove the limits of a type (_default_ for the defaults), or all of them", resourceClear("limit")},
	{appScope, "resource:reserve-clear", "resource:reserve-clear APP [--process-type TYPE]", "Remove the reservations of a type (_default_ for the defaults), or all of them", resourceClear("reserve")},
	{appScope, "resource:report", "resource:report APP [--format json]", "Show the app's resource limits and reservations", resourceReport},
	{adminScope, "docker-options:add", "docker-options:add APP build|deploy|run|deploy,run OPTION... [--process TYPE]...", "Add docker run options (a supported subset, never run by a shell) to the app's containers (deploy; --process: of those types only) or one-offs (run), or build options (build: --build-arg K=V, --target STAGE, --secret id=ID,env=CONFIG_KEY), from the next deploy", dockerOptionsAdd},
	{adminScope, "docker-options:remove", "docker-options:remove APP build|deploy|run|deploy,run OPTION... [--process TYPE]...", "Remove docker run options that were added (--process: from those types' options)", dockerOptionsRemove},
	{adminScope, "docker-options:clear", "docker-options:clear APP [build|deploy|run|deploy,run] [--process TYPE]...", "Remove all the app's docker run options (of the phases; --process: the types' deploy options, which are kept otherwise)", dockerOptionsClear},
	{appScope, "docker-options:report", "docker-options:report APP [--format json]", "Show the app's docker run options by phase", dockerOptionsReport},
}

func resourceSet(kind string) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		allowed := []string{"cpu", "memory", "memory-swap", "process-type"}
		if kind == "reserve" {
			allowed = []string{"cpu", "memory", "process-type"}
		}
		pos, flags, err := parseFlags(args, allowed...)
		if err != nil {
			return err
		}
		for f := range flags {
			if !slices.Contains(allowed, f) {
				return usageError{fmt.Sprintf("unknown flag --%s; use --%s", f, strings.Join(allowed, ", --"))}
			}
		}
		if len(pos) != 1 {
			return usageError{"name one app"}
		}
		app, typ := pos[0], flags["process-type"]
		r := platform.Resources{CPU: flags["cpu"], Memory: flags["memory"], MemorySwap: flags["memory-swap"]}
		for _, f := range []string{"cpu", "memory", "memory-swap"} {
			if v, ok := flags[f]; ok && v == "" {
				return usageError{fmt.Sprintf("--%s needs a value", f)}
			}
		}
		if r == (platform.Resources{}) {
			return showResources(ctx, p, app, kind, out)
		}
		if err := p.AppSpec.SetResources(ctx, app, kind, typ, r); err != nil {
			return err
		}
		if typ == "" {
			typ = "every process type"
		}
		what := "Limited"
		if kind == "reserve" {
			what = "Reserved"
		}
		fmt.Fprintf(out.Stdout, "-----> %s %s for %s of %s; it applies from the next deploy or ps:restart %s\n", what, describeResources(r), typ, app, app)
		return nil
	}
}

func describeResources(r platform.Resources) string {
	var parts []string
	if r.CPU != "" {
		parts = append(parts, "cpu="+r.CPU)
	}
	if r.Memory != "" {
		parts = append(parts, "memory="+r.Memory)
	}
	if r.MemorySwap != "" {
		parts = append(parts, "memory-swap="+r.MemorySwap)
	}
	return strings.Join(parts, " ")
}

func showResources(ctx context.Context, p *Backend, app, kind string, out IO) error {
	a, err := p.App(ctx, app)
	if err != nil {
		return err
	}
	m := a.Resources.Limits
	title := "limits"
	if kind == "reserve" {
		m, title = a.Resources.Reservations, "reservations"
	}
	fmt.Fprintf(out.Stdout, "=====> %s resource %s\n", app, title)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, typ := range slices.Sorted(maps.Keys(m)) {
		fmt.Fprintf(tw, "%s:\t%s\n", typ, describeResources(m[typ]))
	}
	return tw.Flush()
}

func resourceClear(kind string) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		pos, flags, err := parseFlags(args, "process-type")
		if err != nil {
			return err
		}
		for f := range flags {
			if f != "process-type" {
				return usageError{fmt.Sprintf("unknown flag --%s", f)}
			}
		}
		if len(pos) != 1 {
			return usageError{"name one app"}
		}
		typ, one := flags["process-type"]
		if err := p.AppSpec.ClearResources(ctx, pos[0], kind, typ, !one); err != nil {
			return err
		}
		what := "every process type"
		if one {
			what = typ
		}
		fmt.Fprintf(out.Stdout, "-----> Cleared the resource %ss of %s for %s; it applies from the next deploy or ps:restart %s\n", kind, pos[0], what, pos[0])
		return nil
	}
}

func resourceReport(ctx context.Context, p *Backend, args []string, out IO) error {
	a, asJSON, err := appToReport(ctx, p, args)
	if err != nil {
		return err
	}
	app := a.Name
	if asJSON {
		return writeJSON(out, a.Resources)
	}
	fmt.Fprintf(out.Stdout, "=====> %s resource information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, kind := range []struct {
		name string
		m    map[string]platform.Resources
	}{{"limit", a.Resources.Limits}, {"reserve", a.Resources.Reservations}} {
		for _, typ := range slices.Sorted(maps.Keys(kind.m)) {
			r := kind.m[typ]
			for _, f := range []struct{ name, v string }{{"cpu", r.CPU}, {"memory", r.Memory}, {"memory-swap", r.MemorySwap}} {
				if f.v != "" {
					fmt.Fprintf(tw, "Resource %s %s %s:\t%s\n", typ, kind.name, f.name, f.v)
				}
			}
		}
	}
	if appspec.AdminOwned(a.Resources) {
		fmt.Fprintf(tw, "Resource settings:\tset by an admin; only an admin key can change them\n")
	}
	return tw.Flush()
}

// optionArgs reads APP PHASES OPTION...: an option given as one argument
// with spaces in it is split into words like a shell would (quotes and
// backslashes only), and never run by one.
// processArgs takes Dokku's --process TYPE flags (any number, before the
// app or after the options: Dokku honours both) out of args, and returns
// the phases' keys: each phase as it is without --process, else the
// types' deploy keys ("deploy.web"), since only the deploy phase has
// process types.
func processArgs(args []string) (rest, types []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if v, ok := strings.CutPrefix(a, "--process="); ok {
			types = append(types, v)
			continue
		}
		if a != "--process" {
			rest = append(rest, a)
			continue
		}
		if i+1 >= len(args) || strings.HasPrefix(args[i+1], "-") {
			return nil, nil, usageError{"--process needs a process type: --process web"}
		}
		i++
		types = append(types, args[i])
	}
	return rest, types, nil
}

// processPhases turns phases into the keys --process TYPE... names.
func processPhases(phases, types []string) ([]string, error) {
	if len(types) == 0 {
		return phases, nil
	}
	var keys []string
	for _, ph := range phases {
		if ph != appspec.PhaseDeploy {
			return nil, usageError{fmt.Sprintf("--process is for the deploy phase only (the %s phase has no process types)", ph)}
		}
	}
	for _, t := range types {
		keys = append(keys, appspec.ProcessPhase(t))
	}
	return keys, nil
}

func optionArgs(args []string) (app string, phases, words []string, err error) {
	args, types, err := processArgs(args)
	if err != nil {
		return "", nil, nil, err
	}
	defer func() {
		if err == nil {
			phases, err = processPhases(phases, types)
		}
	}()
	if len(args) < 3 || strings.HasPrefix(args[0], "-") {
		return "", nil, nil, usageError{"name an app, the phases (build, deploy, run or deploy,run) and the option"}
	}
	app, phases, words = args[0], strings.Split(args[1], ","), args[2:]
	if len(words) == 1 {
		if words, err = docker.SplitWords(words[0]); err != nil {
			return "", nil, nil, err
		}
	}
	if len(words) == 0 {
		return "", nil, nil, usageError{"give the option, like --memory 512m"}
	}
	return app, phases, words, nil
}

func dockerOptionsAdd(ctx context.Context, p *Backend, args []string, out IO) error {
	app, phases, words, err := optionArgs(args)
	if err != nil {
		return err
	}
	opt, err := p.AppSpec.AddDockerOptions(ctx, app, phases, words)
	if err != nil {
		return err
	}
	warnUnknownTypes(ctx, p, app, phases, out)
	fmt.Fprintf(out.Stdout, "-----> Added %s to the %s options of %s; it applies from the next deploy or ps:restart %s\n", opt, strings.Join(phases, ","), app, app)
	return nil
}

// warnUnknownTypes warns (as Dokku does) of --process types the app's
// serving release does not have: set ahead of the deploy that adds them,
// they apply from then.
func warnUnknownTypes(ctx context.Context, p *Backend, app string, phases []string, out IO) {
	a, err := p.App(ctx, app)
	if err != nil {
		return
	}
	rel, ok := a.CurrentRelease()
	if !ok {
		return
	}
	for _, ph := range phases {
		typ, ok := strings.CutPrefix(ph, appspec.PhaseDeploy+".")
		if _, has := rel.Processes[typ]; ok && !has {
			fmt.Fprintf(out.Stderr, " !     %s's release v%d has no process type %s; the option applies once a deploy adds it\n", app, rel.Version, typ)
		}
	}
}

func dockerOptionsRemove(ctx context.Context, p *Backend, args []string, out IO) error {
	app, phases, words, err := optionArgs(args)
	if err != nil {
		return err
	}
	if err := p.AppSpec.RemoveDockerOptions(ctx, app, phases, words); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Removed it from the %s options of %s; it applies from the next deploy or ps:restart %s\n", strings.Join(phases, ","), app, app)
	return nil
}

func dockerOptionsClear(ctx context.Context, p *Backend, args []string, out IO) error {
	args, types, err := processArgs(args)
	if err != nil {
		return err
	}
	if len(args) < 1 || len(args) > 2 || strings.HasPrefix(args[0], "-") {
		return usageError{"name an app, and optionally the phases"}
	}
	var phases []string
	if len(args) == 2 {
		phases = strings.Split(args[1], ",")
	} else if len(types) > 0 {
		phases = []string{appspec.PhaseDeploy}
	}
	if phases, err = processPhases(phases, types); err != nil {
		return err
	}
	if err := p.AppSpec.ClearDockerOptions(ctx, args[0], phases); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Cleared the docker options of %s; it applies from the next deploy or ps:restart %s\n", args[0], args[0])
	return nil
}

func dockerOptionsReport(ctx context.Context, p *Backend, args []string, out IO) error {
	a, asJSON, err := appToReport(ctx, p, args)
	if err != nil {
		return err
	}
	app := a.Name
	if asJSON {
		opts := a.DockerOptions
		if opts == nil {
			opts = map[string][]string{}
		}
		return writeJSON(out, opts)
	}
	fmt.Fprintf(out.Stdout, "=====> %s docker options information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, ph := range []string{appspec.PhaseBuild, appspec.PhaseDeploy, appspec.PhaseRun} {
		fmt.Fprintf(tw, "Docker options %s:\t%s\n", ph, strings.Join(a.DockerOptions[ph], " "))
	}
	// Dokku's dynamic keys of process types' options
	// (--docker-options-deploy.web), in order.
	for _, key := range slices.Sorted(maps.Keys(a.DockerOptions)) {
		if strings.HasPrefix(key, appspec.PhaseDeploy+".") {
			fmt.Fprintf(tw, "Docker options %s:\t%s\n", key, strings.Join(a.DockerOptions[key], " "))
		}
	}
	return tw.Flush()
}
