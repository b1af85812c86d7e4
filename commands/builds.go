package commands

import (
	"context"
	"fmt"
	"io"
	"strconv"
	"text/tabwriter"
	"time"

	"github.com/berth-paas/berth/platform"
)

// buildCommands show the app's builds: each deploy's record and log.
var buildCommands = []command{
	{appScope, "builds:list", "builds:list APP [--format json]", fmt.Sprintf("List the app's last %d builds (deploys), newest first: id, when, status, release", platform.KeepBuilds), buildsList},
	{appScope, "builds:output", "builds:output APP [ID|current] [--from BYTES]", "Print a build's log, as the deployer saw it (default, or current: the latest build); --from skips its first BYTES", buildsOutput},
}

func buildsList(ctx context.Context, p *Backend, args []string, out IO) error {
	app, asJSON, err := oneAppAndFormat(args)
	if err != nil {
		return err
	}
	builds, err := p.Builds(ctx, app)
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
	_, log, err := p.BuildOutput(ctx, pos[0], id)
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
