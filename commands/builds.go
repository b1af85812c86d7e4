package commands

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/buildconfig"
	"github.com/berth-paas/berth/platform"
)

// buildCommands show the app's builds: each deploy's record and log.
var buildCommands = []command{
	{appScope, "builds:list", "builds:list APP [--format json]", fmt.Sprintf("List the app's last builds (deploys; %d unless builds:set retention says otherwise), newest first: id, when, status, release", platform.KeepBuilds), buildsList},
	{appScope, "builds:output", "builds:output APP [ID|current] [--from BYTES]", "Print a build's log, as the deployer saw it (default, or current: the latest build); --from skips its first BYTES", buildsOutput},
	{appScope, "builds:report", "builds:report APP|--global [--format json]", "Show the app's latest build (id, status, source, times, exit code) and how many builds are kept (no APP: every app)", buildsReport},
	{appScope, "builds:set", "builds:set APP|--global retention [N]", fmt.Sprintf("Set how many builds of the app are kept (from the end of its next deploy; no value: the global setting, else %d)", platform.KeepBuilds), buildsSet},
	{appScope, "builds:cancel", "builds:cancel APP", "Cancel the app's deploy under way, as Ctrl-C on git push does: it stops at its step, leaves nothing behind, and the running release keeps serving", buildsCancel},
}

// buildSource is Dokku's name (--build-source) of what started a build.
func buildSource(reason string) string {
	switch reason {
	case "push":
		return "git-hook"
	case "rebuild":
		return "ps:rebuild"
	case "sync":
		return "git:sync"
	case "image":
		return "git:from-image"
	}
	return reason
}

// buildExitCode is Dokku's --build-exit-code: 0 for a build that
// succeeded, 1 for one that failed, -1 for one cancelled (Dokku's value
// for a killed build), nothing while it runs.
func buildExitCode(status string) string {
	switch status {
	case "succeeded":
		return "0"
	case "failed", platform.BuildDamaged:
		return "1"
	case platform.BuildCanceled:
		return "-1"
	}
	return ""
}

// retentionValue prints a retention setting, nothing when unset.
func retentionValue(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// buildsReport is Dokku's builds:report: the latest build's keys and the
// retention. Dokku's --build-pid is empty: Berth builds inside its own
// process, and there is no build process to signal (builds:cancel does
// that).
func buildsReport(ctx context.Context, p *Backend, args []string, out IO) error {
	app, global, asJSON, err := appOrGlobalReport(args)
	if err != nil {
		return err
	}
	settings, err := p.Build.BuildsSettings(ctx, app)
	if err != nil {
		return err
	}
	type kv struct{ key, value string }
	var rows []kv
	if !global {
		builds, err := p.Deploy.Builds(ctx, app)
		if err != nil {
			return err
		}
		var b platform.Build
		if len(builds) > 0 {
			b = builds[0]
		}
		id, started, finished := "", "", ""
		if b.ID > 0 {
			id = strconv.Itoa(b.ID)
		}
		if !b.Started.IsZero() {
			started = b.Started.Format(time.RFC3339)
		}
		if !b.Finished.IsZero() {
			finished = b.Finished.Format(time.RFC3339)
		}
		kind := ""
		if b.ID > 0 {
			kind = "build" // every Berth build makes a new image (Dokku's "deploy" kind re-deploys one)
		}
		rows = append(rows,
			kv{"build-exit-code", buildExitCode(b.Status)},
			kv{"build-finished-at", finished},
			kv{"build-id", id},
			kv{"build-kind", kind},
			kv{"build-pid", ""},
			kv{"build-source", buildSource(b.Reason)},
			kv{"build-started-at", started},
			kv{"build-status", b.Status},
			kv{"builds-computed-retention", strconv.Itoa(settings.ComputedRetention)},
		)
	}
	rows = append(rows, kv{"builds-global-retention", retentionValue(settings.GlobalRetention)})
	if !global {
		rows = append(rows, kv{"builds-retention", retentionValue(settings.Retention)})
	}
	if asJSON {
		// Dokku's JSON keys: the builds- prefix trimmed, and the legacy
		// prefixed key too (Dokku emits both during 0.38.x).
		m := map[string]string{}
		for _, r := range rows {
			m[r.key] = r.value
			if k, ok := strings.CutPrefix(r.key, "builds-"); ok {
				m[k] = r.value
			}
		}
		return writeJSON(out, m)
	}
	name := app
	if global {
		name = "--global" // Dokku's heading of a global report
	}
	fmt.Fprintf(out.Stdout, "=====> %s builds information\n", name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, r := range rows {
		label := strings.ReplaceAll(r.key, "-", " ")
		fmt.Fprintf(tw, "%s%s:\t%s\n", strings.ToUpper(label[:1]), label[1:], r.value)
	}
	return tw.Flush()
}

func buildsSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, global, err := setArgs(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app (or --global), the property retention and its value (none to unset it)"}
	}
	app, key, value := pos[0], pos[1], ""
	if len(pos) == 3 {
		value = pos[2]
	}
	if key != "retention" {
		return usageError{fmt.Sprintf("unknown builds property %q; the one Berth has is retention", key)}
	}
	if value == "none" {
		value = "" // what the usage line offers for unsetting
	}
	n := 0
	if value != "" {
		if n, err = strconv.Atoi(value); err != nil {
			return usageError{fmt.Sprintf("retention %q: give a whole number of builds to keep, from 1 to %d", value, buildconfig.MaxBuildRetention)}
		}
		if n == 0 {
			return usageError{fmt.Sprintf("retention 0: give a whole number of builds to keep, from 1 to %d (no value unsets it)", buildconfig.MaxBuildRetention)}
		}
	}
	if global {
		err = p.Build.SetGlobalBuildRetention(ctx, n)
	} else {
		err = p.Build.SetBuildRetention(ctx, app, n)
	}
	if err != nil {
		return err
	}
	// Dokku's lines.
	settingLine(out.Stdout, key, value)
	return nil
}

func buildsCancel(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	if d := p.Deploy.Deploying(app); !d {
		if _, err := p.App(ctx, app); err != nil {
			return err
		}
		fmt.Fprintln(out.Stdout, "-----> App not currently deploying") // Dokku's line
		return nil
	}
	fmt.Fprintln(out.Stdout, "-----> Killing app deploy") // Dokku's line
	b, running, err := p.Deploy.CancelDeploy(ctx, app)
	switch {
	case err != nil:
		return err
	case !running:
		fmt.Fprintln(out.Stdout, "-----> The deploy ended before it could be cancelled")
	case b.Status != platform.BuildCanceled:
		fmt.Fprintf(out.Stdout, "-----> Build %d of %s had got past cancelling and ended %s\n", b.ID, app, b.Status)
	default:
		fmt.Fprintf(out.Stdout, "-----> Cancelled build %d of %s; nothing of it is left, and the previous release keeps serving\n", b.ID, app)
	}
	return nil
}

func buildsList(ctx context.Context, p *Backend, args []string, out IO) error {
	app, asJSON, err := oneAppAndFormat(args)
	if err != nil {
		return err
	}
	builds, err := p.Deploy.Builds(ctx, app)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, builds)
	}
	fmt.Fprintf(out.Stdout, "=====> %s builds\n", app)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "ID\tSTARTED\tDURATION\tSTATUS\tRELEASE\tMADE BY")
	for _, b := range builds {
		duration := "-"
		if !b.Finished.IsZero() {
			duration = b.Finished.Sub(b.Started).Round(100 * time.Millisecond).String()
		}
		release := "-"
		if b.Release > 0 {
			release = fmt.Sprintf("v%d", b.Release)
		}
		by := b.Reason
		switch {
		case b.GitRev != "":
			by += " " + b.GitRev[:min(7, len(b.GitRev))]
		case b.Image != "":
			by += " " + b.Image
		}
		started := "-"
		if !b.Started.IsZero() {
			started = b.Started.Format(time.RFC3339)
		}
		fmt.Fprintf(tw, "%d\t%s\t%s\t%s\t%s\t%s\n", b.ID, started, duration, b.Status, release, by)
	}
	if err := tw.Flush(); err != nil {
		return err
	}
	for _, b := range builds {
		if b.Status == platform.BuildDamaged {
			fmt.Fprintf(out.Stderr, " !     %s\n", b.Error)
		}
	}
	return nil
}

func buildsOutput(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "from")
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"give an app and, optionally, a build id from builds:list"}
	}
	// --from skips the log's first bytes: the dashboard's live build log
	// reads only what it has not sent yet, not the whole log each poll.
	var from int64
	if v, ok := flags["from"]; ok {
		if from, err = strconv.ParseInt(v, 10, 64); err != nil || from < 0 {
			return usageError{fmt.Sprintf("--from %q is not a byte offset (0 or more)", v)}
		}
	}
	id := 0
	if len(pos) == 2 && pos[1] != "current" { // Dokku's name for the latest
		if id, err = strconv.Atoi(pos[1]); err != nil || id <= 0 {
			return usageError{fmt.Sprintf("%q is not a build id; builds:list %s shows them", pos[1], pos[0])}
		}
	}
	_, log, err := p.Deploy.BuildOutput(ctx, pos[0], id)
	if err != nil {
		return err
	}
	defer log.Close()
	if from > 0 {
		if sk, ok := log.(io.Seeker); ok {
			if _, err := sk.Seek(from, io.SeekStart); err != nil {
				return err
			}
		} else if _, err := io.CopyN(io.Discard, log, from); err != nil && err != io.EOF {
			return err
		}
	}
	_, err = io.Copy(out.Stdout, log)
	return err
}
