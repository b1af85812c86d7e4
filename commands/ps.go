package commands

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/pssettings"
)

// processCommands run and configure an app's processes.
var processCommands = []command{
	{appScope, "ps:report", "ps:report APP [--format json]", "Show the app's processes, their state and restarts", psReport},
	{appScope, "ps:scale", "ps:scale APP [TYPE=N ...]", "Show or set how many containers of each process type run", psScale},
	{appScope, "ps:restart", "ps:restart APP|--all", "Replace the app's containers with fresh ones, without downtime", psRestart},
	{appScope, "ps:set", "ps:set APP|--global procfile-path|restart-policy|stop-timeout-seconds VALUE", "Set a process setting (restart-policy: on-failure:10, always, unless-stopped, no; procfile-path: where the Procfile is in the source, from the next deploy; no value: Procfile); --global: restart-policy or stop-timeout-seconds of apps that set none", psSet},
	{appScope, "config:set", "config:set APP|--global KEY=VALUE ... [--no-restart] [--encoded]", "Set config vars and roll out a release with them (--encoded: the values are base64, as Dokku takes them)", configSet},
	{appScope, "config:unset", "config:unset APP|--global KEY ... [--no-restart]", "Remove config vars and roll out a release without them", configUnset},
	{appScope, "config:get", "config:get APP|--global KEY", "Print one config var", configGet},
	{appScope, "config:show", "config:show APP|--global [--format json]", "Show the app's config vars", configShow},
	{appScope, "checks:disable", "checks:disable APP [TYPE,...]", "Replace the types' containers with downtime, unchecked", checksAction("disable")},
	{appScope, "checks:enable", "checks:enable APP [TYPE,...]", "Check the types' new containers before they take traffic (the default)", checksAction("enable")},
	{appScope, "checks:skip", "checks:skip APP [TYPE,...]", "Start the types' new containers beside the old ones, without checks", checksAction("skip")},
	{appScope, "checks:report", "checks:report APP [--format json]", "Show the app's checks settings", checksReport},
	{appScope, "checks:set", "checks:set APP|--global wait-to-retire SECONDS", "Set how long old containers may finish in-flight requests", checksSet},
}

func writeJSON(out IO, v any) error {
	enc := json.NewEncoder(out.Stdout)
	enc.SetIndent("", "  ")
	return enc.Encode(v)
}

func psReport(ctx context.Context, p *Backend, args []string, out IO) error {
	app, flags, err := oneApp(args, "format")
	if err != nil {
		return err
	}
	r, err := p.Deploy.Report(ctx, app)
	if err != nil {
		return err
	}
	figures := figuresOf(p.Metrics, app, r.Processes)
	if flags["format"] == "json" {
		return writeJSON(out, struct {
			platform.ProcessReport
			Metrics appFigures `json:"metrics"`
		}{r, figures})
	}
	fmt.Fprintf(out.Stdout, "=====> %s ps information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	// Dokku's keys first (ps:report APP --deployed, --running, --processes),
	// then Berth's.
	fmt.Fprintf(tw, "Deployed:\t%t\n", r.Deployed)
	fmt.Fprintf(tw, "Processes:\t%d\n", len(r.Processes))
	fmt.Fprintf(tw, "Running:\t%s\n", runningState(r.Processes))
	fmt.Fprintf(tw, "Status:\t%s\n", r.Status)
	fmt.Fprintf(tw, "Release:\tv%d\n", r.Release)
	// Dokku's names (ps:report APP --ps-restart-policy).
	fmt.Fprintf(tw, "Ps restart policy:\t%s\n", r.RestartPolicy)
	fmt.Fprintf(tw, "Ps global restart policy:\t%s\n", r.GlobalRestartPolicy)
	// Dokku's three keys: the app's own (empty: none), the global one,
	// and the one that applies.
	fmt.Fprintf(tw, "Ps stop timeout seconds:\t%s\n", orEmptyInt(r.AppStopTimeout))
	fmt.Fprintf(tw, "Ps global stop timeout seconds:\t%s\n", orEmptyInt(r.GlobalStopTimeout))
	fmt.Fprintf(tw, "Ps computed stop timeout seconds:\t%d\n", r.StopTimeout)
	computed := r.ProcfilePath
	if computed == "" {
		computed = "Procfile"
	}
	fmt.Fprintf(tw, "Ps computed procfile path:\t%s\n", computed)
	fmt.Fprintf(tw, "Ps procfile path:\t%s\n", r.ProcfilePath)
	fmt.Fprintf(tw, "Formation:\t%s\n", formatFormation(r.Formation))
	if d := r.LastDeploy; d != nil {
		line := fmt.Sprintf("v%d %s", d.Release, d.Status)
		if d.Error != "" {
			line += ": " + strings.SplitN(d.Error, "\n", 2)[0]
		}
		fmt.Fprintf(tw, "Last deploy:\t%s\n", line)
	}
	if n := r.FormationCheck; n != nil {
		fmt.Fprintf(tw, "Formation check:\t%s %s\n", n.At.Format(time.RFC3339), n.Text)
	}
	for _, ps := range r.Processes {
		detail := ps.State
		if ps.Detail != "" {
			detail += " (" + ps.Detail + ")"
		}
		fmt.Fprintf(tw, "Status %s.%d:\t%s, %d restarts\n", ps.Type, ps.Index, detail, ps.Restarts)
	}
	// Berth's figures (docs/DOKKU.md), after every key scripts knew.
	figures.trafficLines(tw, "Ps")
	figures.containerLines(tw, r.Processes)
	return tw.Flush()
}

// runningState is Dokku's ps:report Running: true when every container
// runs, false when none does (or there is none), else mixed.
func runningState(ps []platform.ProcessStatus) string {
	running := 0
	for _, p := range ps {
		if p.State == "running" {
			running++
		}
	}
	switch {
	case running > 0 && running == len(ps):
		return "true"
	case running == 0:
		return "false"
	}
	return "mixed"
}

// orEmptyInt prints 0 (not set) as nothing, as Dokku's reports do.
func orEmptyInt(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

func orDefault(s, def string) string {
	if s == "" {
		return def + " (the default)"
	}
	return s
}

func formatFormation(f map[string]int) string {
	var parts []string
	for _, t := range slices.Sorted(maps.Keys(f)) {
		parts = append(parts, fmt.Sprintf("%s=%d", t, f[t]))
	}
	if len(parts) == 0 {
		return "-"
	}
	return strings.Join(parts, " ")
}

func psScale(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) == 0 {
		return usageError{"name one app"}
	}
	app := pos[0]
	if len(pos) == 1 {
		f, err := p.Deploy.Formation(ctx, app)
		if err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "%s\n", formatFormation(f))
		return nil
	}
	want, err := platform.ParseScale(pos[1:])
	if err != nil {
		return usageError{err.Error()}
	}
	if err := p.Deploy.Scale(ctx, app, want, out.Stderr); err != nil {
		return err
	}
	a, err := p.App(ctx, app)
	if err != nil {
		return err
	}
	if a.Current == 0 {
		fmt.Fprintf(out.Stdout, "-----> %s is not deployed yet; its first deploy runs %s\n", app, formatFormation(a.Formation))
		return nil
	}
	if a.Stopped {
		fmt.Fprintf(out.Stdout, "-----> %s is stopped; its formation is now %s\n", app, formatFormation(a.Formation))
		return nil
	}
	fmt.Fprintf(out.Stdout, "-----> %s now runs %s\n", app, formatFormation(a.Formation))
	return nil
}

func psRestart(ctx context.Context, p *Backend, args []string, out IO) error {
	return forEachApp(ctx, p, args, out, func(app string) error {
		return p.Deploy.Restart(ctx, app, out.Stderr)
	})
}

func psSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, global := flags["global"]; global {
		if len(pos) < 1 || len(pos) > 2 || (pos[0] != "restart-policy" && pos[0] != "stop-timeout-seconds") {
			return usageError{"ps:set --global restart-policy|stop-timeout-seconds [VALUE] (no value: back to on-failure:10, or 30 seconds); procfile-path is per app"}
		}
		value := ""
		if len(pos) == 2 {
			value = pos[1]
		}
		if pos[0] == "stop-timeout-seconds" {
			n, err := parseStopTimeout(value, "ps:set --global stop-timeout-seconds")
			if err != nil {
				return err
			}
			if err := p.Processes.SetGlobalStopTimeout(ctx, n); err != nil {
				return err
			}
			fmt.Fprintf(out.Stdout, "-----> Set the global stop-timeout-seconds to %s; apps that set none stop their containers with it from now on\n", orDefault(value, strconv.Itoa(platform.DefaultStopTimeoutSeconds)))
			return nil
		}
		if err := p.Processes.SetGlobalRestartPolicy(ctx, value); err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Set the global restart-policy to %s; apps that set none get it from their next deploy or ps:restart\n", orDefault(value, platform.DefaultRestartPolicy))
		return nil
	}
	if len(pos) == 2 && (pos[1] == "procfile-path" || pos[1] == "stop-timeout-seconds") {
		pos = append(pos, "") // no value: back to the default
	}
	if len(pos) != 3 {
		return usageError{"give an app, a setting and its value"}
	}
	app, key, value := pos[0], pos[1], pos[2]
	switch key {
	case "restart-policy":
		if err := p.Processes.SetRestartPolicy(ctx, app, value); err != nil {
			return err
		}
	case "procfile-path":
		if err := p.Processes.SetProcfilePath(ctx, app, value); err != nil {
			return err
		}
	case "stop-timeout-seconds":
		n, err := parseStopTimeout(value, "ps:set "+app+" stop-timeout-seconds")
		if err != nil {
			return err
		}
		if err := p.Processes.SetStopTimeout(ctx, app, n); err != nil {
			return err
		}
	default:
		return usageError{fmt.Sprintf("unknown setting %q: use procfile-path, restart-policy or stop-timeout-seconds", key)}
	}
	fmt.Fprintf(out.Stdout, "-----> Set %s of %s to %s\n", key, app, value)
	return nil
}

// parseStopTimeout reads a stop-timeout-seconds value: 1 to 3600, or ""
// (Dokku's form for unsetting), which is 0 to the platform: the global
// setting, else the default. 0 itself is refused: it read as "stop at
// once" but meant "unset", so the command printed one thing and did
// another.
func parseStopTimeout(value, unset string) (int, error) {
	if value == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(value)
	if err != nil || n < 1 || n > pssettings.MaxStopTimeoutSeconds {
		return 0, usageError{fmt.Sprintf("stop-timeout-seconds %q: give a whole number of seconds from 1 to %d; to unset it, give no value (%s)", value, pssettings.MaxStopTimeoutSeconds, unset)}
	}
	return n, nil
}

func configSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, encoded := flags["encoded"]
	parseAssignments := func(args []string) (map[string]string, error) {
		set, err := parseAssignments(args)
		if err != nil || !encoded {
			return set, err
		}
		return decodeValues(set)
	}
	if _, global := flags["global"]; global {
		set, err := parseAssignments(pos)
		if err != nil || len(set) == 0 {
			return usageError{"give at least one KEY=VALUE after --global"}
		}
		g, err := part(p.Globals, "the global settings")
		if err != nil {
			return err
		}
		if err := g.SetConfig(ctx, set, nil); err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Set %s globally; apps get it from their next deploy or ps:restart\n", strings.Join(slices.Sorted(maps.Keys(set)), ", "))
		return nil
	}
	if len(pos) < 2 {
		return usageError{"give an app and at least one KEY=VALUE"}
	}
	set, err := parseAssignments(pos[1:])
	if err != nil {
		return err
	}
	_, noRestart := flags["no-restart"]
	if err := p.Deploy.SetConfig(ctx, pos[0], set, nil, noRestart, out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Set %s on %s\n", strings.Join(slices.Sorted(maps.Keys(set)), ", "), pos[0])
	return nil
}

func configUnset(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, global := flags["global"]; global {
		if len(pos) == 0 {
			return usageError{"give at least one KEY after --global"}
		}
		g, err := part(p.Globals, "the global settings")
		if err != nil {
			return err
		}
		if err := g.SetConfig(ctx, nil, pos); err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Unset %s globally\n", strings.Join(pos, ", "))
		return nil
	}
	if len(pos) < 2 {
		return usageError{"give an app and at least one KEY"}
	}
	_, noRestart := flags["no-restart"]
	if err := p.Deploy.SetConfig(ctx, pos[0], nil, pos[1:], noRestart, out.Stderr); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Unset %s on %s\n", strings.Join(pos[1:], ", "), pos[0])
	return nil
}

func configGet(ctx context.Context, p *Backend, args []string, out IO) error {
	owner, cfg, pos, _, err := configOf(ctx, p, args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give an app (or --global) and a KEY"}
	}
	v, ok := cfg[pos[0]]
	if !ok {
		return fmt.Errorf("%s has no config var %s", owner, pos[0])
	}
	fmt.Fprintln(out.Stdout, v)
	return nil
}

func configShow(ctx context.Context, p *Backend, args []string, out IO) error {
	app, cfg, pos, flags, err := configOf(ctx, p, args, "format")
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"give one app, or --global"}
	}
	if flags["format"] == "json" {
		if cfg == nil {
			cfg = map[string]string{}
		}
		return writeJSON(out, cfg)
	}
	fmt.Fprintf(out.Stdout, "=====> %s env vars\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, k := range slices.Sorted(maps.Keys(cfg)) {
		fmt.Fprintf(tw, "%s:\t%s\n", k, cfg[k])
	}
	return tw.Flush()
}

func checksAction(action string) func(context.Context, *Backend, []string, IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		pos, _, err := parseFlags(args)
		if err != nil {
			return err
		}
		if len(pos) < 1 || len(pos) > 2 {
			return usageError{"give an app and, optionally, comma-separated process types"}
		}
		var types []string
		if len(pos) == 2 {
			types = strings.Split(pos[1], ",")
		}
		if err := p.Processes.SetChecks(ctx, pos[0], action, types); err != nil {
			return err
		}
		what := "all process types"
		if len(types) > 0 {
			what = strings.Join(types, ", ")
		}
		done := map[string]string{"disable": "disabled", "enable": "enabled", "skip": "skipped"}[action]
		fmt.Fprintf(out.Stdout, "-----> Checks %s for %s of %s\n", done, what, pos[0])
		return nil
	}
}

func checksReport(ctx context.Context, p *Backend, args []string, out IO) error {
	app, flags, err := oneApp(args, "format")
	if err != nil {
		return err
	}
	r, err := p.Processes.Checks(ctx, app)
	if err != nil {
		return err
	}
	wait, global := r.WaitToRetire, r.GlobalWaitToRetire
	report := map[string]any{
		"disabled":              orNone(r.Disabled),
		"skipped":               orNone(r.Skipped),
		"wait_to_retire":        wait,
		"global_wait_to_retire": global,
	}
	if flags["format"] == "json" {
		return writeJSON(out, report)
	}
	fmt.Fprintf(out.Stdout, "=====> %s checks information\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Checks disabled list:\t%s\n", strings.Join(orNone(r.Disabled), ","))
	fmt.Fprintf(tw, "Checks skipped list:\t%s\n", strings.Join(orNone(r.Skipped), ","))
	fmt.Fprintf(tw, "Checks wait to retire:\t%d\n", wait)
	fmt.Fprintf(tw, "Checks global wait to retire:\t%s\n", orEmptyInt(global))
	return tw.Flush()
}

func orNone(list []string) []string {
	if len(list) == 0 {
		return []string{"none"}
	}
	return list
}

func checksSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	if _, global := flags["global"]; global {
		if len(pos) < 1 || len(pos) > 2 || pos[0] != "wait-to-retire" {
			return usageError{"checks:set --global wait-to-retire [SECONDS] (no value: back to 60)"}
		}
		n := 0
		if len(pos) == 2 {
			if n, err = strconv.Atoi(pos[1]); err != nil {
				return usageError{"wait-to-retire takes a whole number of seconds"}
			}
		}
		if err := p.Processes.SetGlobalWaitToRetire(ctx, n); err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Set the global wait-to-retire to %s; apps that set none use it from their next deploy\n", orDefault(orEmptyInt(n), "60"))
		return nil
	}
	if len(pos) != 3 || pos[1] != "wait-to-retire" {
		return usageError{"checks:set APP wait-to-retire SECONDS"}
	}
	n, err := strconv.Atoi(pos[2])
	if err != nil {
		return usageError{"wait-to-retire takes a whole number of seconds"}
	}
	if err := p.Processes.SetWaitToRetire(ctx, pos[0], n); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Set wait-to-retire of %s to %ds\n", pos[0], n)
	return nil
}

// parseAssignments reads config:set's KEY=VALUE arguments: the key runs to
// the first "=", and the value keeps everything after it, later "=" and
// spaces included.
// decodeValues decodes config:set --encoded's base64 values (standard
// encoding, with or without padding, as Dokku's `base64 -d` takes them).
func decodeValues(set map[string]string) (map[string]string, error) {
	out := make(map[string]string, len(set))
	for k, v := range set {
		d, err := base64.StdEncoding.DecodeString(v)
		if err != nil {
			d, err = base64.RawStdEncoding.DecodeString(v)
		}
		if err != nil {
			return nil, usageError{fmt.Sprintf("the value of %s is not base64 (--encoded): %v; encode it with `base64 -w0`, or leave out --encoded", k, err)}
		}
		out[k] = string(d)
	}
	return out, nil
}

func parseAssignments(args []string) (map[string]string, error) {
	set := make(map[string]string, len(args))
	for _, kv := range args {
		k, v, ok := strings.Cut(kv, "=")
		if !ok || k == "" {
			return nil, usageError{fmt.Sprintf("%q is not KEY=VALUE", kv)}
		}
		set[k] = v
	}
	return set, nil
}

// configOf reads the config the arguments name: an app's (the first
// positional argument) or, with --global, the global one. It returns who
// owns it ("the global config" or the app), the vars, the other
// positional arguments and the flags.
func configOf(ctx context.Context, p *Backend, args []string, valued ...string) (string, map[string]string, []string, map[string]string, error) {
	pos, flags, err := parseFlags(args, valued...)
	if err != nil {
		return "", nil, nil, nil, err
	}
	if _, global := flags["global"]; global {
		g, err := part(p.Globals, "the global settings")
		if err != nil {
			return "", nil, nil, nil, err
		}
		return "the global config", g.Config(), pos, flags, nil
	}
	if len(pos) == 0 {
		return "", nil, nil, nil, usageError{"name one app, or --global"}
	}
	cfg, err := p.Deploy.Config(ctx, pos[0])
	return pos[0], cfg, pos[1:], flags, err
}
