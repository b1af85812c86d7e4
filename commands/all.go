package commands

import (
	"context"
	"fmt"
	"strings"
)

// forEachApp runs act on the one app args name, or on every app when args
// are just --all (Dokku's form for ps:restart, ps:stop, ps:start and
// ps:rebuild after a host upgrade). With --all the apps go one at a time,
// in name order, apps never deployed are skipped, and a failing app does not stop the others: the command
// fails at the end, naming each app that failed, so one broken app cannot
// leave the rest un-restarted.
func forEachApp(ctx context.Context, p *Backend, args []string, out IO, act func(app string) error) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, all := flags["all"]
	for f := range flags {
		if f != "all" {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	switch {
	case all && len(pos) > 0:
		// Also what keeps a deploy key, which must name its app first,
		// from reaching every app by adding --all.
		return usageError{"name one app or use --all, not both"}
	case !all && len(pos) != 1:
		return usageError{"name one app (or use --all for every app)"}
	case !all:
		return act(pos[0])
	}
	apps, err := p.List(ctx)
	if err != nil {
		return err
	}
	var failed []string
	for i, a := range apps {
		if a.Release == 0 {
			fmt.Fprintf(out.Stdout, "=====> %s: skipped, never deployed\n", a.Name)
			continue
		}
		// Where a long run over every app is (ps:rebuild --all).
		fmt.Fprintf(out.Stdout, "=====> %s (%d of %d)\n", a.Name, i+1, len(apps))
		if err := act(a.Name); err != nil {
			fmt.Fprintf(out.Stderr, " !     %s: %v\n", a.Name, err)
			failed = append(failed, a.Name)
		}
	}
	if len(failed) > 0 {
		return fmt.Errorf("%d of %d apps failed: %s (see above)", len(failed), len(apps), strings.Join(failed, ", "))
	}
	return nil
}
