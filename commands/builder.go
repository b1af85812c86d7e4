package commands

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-paas/berth/buildconfig"
)

// builderCommands choose how apps are built (Dokku's builder plugin).
var builderCommands = []command{
	{appScope, "builder:set", "builder:set APP|--global selected|build-dir [VALUE]", "Choose the app's builder (dockerfile, herokuish, ...; empty: detect it) or the repository directory it builds (empty: the root)", builderSet},
	{appScope, "builder:report", "builder:report APP|--global [--format json]", "Show the app's builder settings, and which builder detection picks for its deployed commit and why (no APP: every app)", builderReport},
}

func builderSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, global, err := setArgs(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app (or --global), a property (selected or build-dir) and its value (none to unset it)"}
	}
	app, key, value := pos[0], pos[1], ""
	if len(pos) == 3 {
		value = pos[2]
	}
	who := app
	if global {
		who = "every app"
	}
	switch key {
	case "selected":
		if global {
			err = p.Build.SetGlobalBuilder(ctx, value)
		} else {
			err = p.Build.SetBuilder(ctx, app, value)
		}
	case "build-dir":
		if global {
			err = p.Build.SetGlobalBuildDir(ctx, value)
		} else {
			err = p.Build.SetBuildDir(ctx, app, value)
		}
	case "skip-cleanup":
		return fmt.Errorf("Berth has no skip-cleanup: it keeps the images of recent releases for rollback and removes the rest itself")
	default:
		return usageError{fmt.Sprintf("unknown builder property %q: use selected or build-dir", key)}
	}
	if err != nil {
		return err
	}
	switch {
	case value == "" && key == "selected":
		fmt.Fprintf(out.Stderr, "-----> Unset the selected builder of %s; the next deploy detects it\n", who)
	case value == "":
		fmt.Fprintf(out.Stderr, "-----> Unset the build directory of %s; the next deploy builds the repository's root\n", who)
	default:
		fmt.Fprintf(out.Stderr, "-----> Set %s of %s to %s; it applies from the next deploy\n", key, who, value)
	}
	return nil
}

func builderReport(ctx context.Context, p *Backend, args []string, out IO) error {
	return reportCommand(ctx, p, args, out, "builder", p.Build.GlobalBuilderReport, p.Build.BuilderReport,
		func(r buildconfig.BuilderReport) string { return r.App },
		func(tw io.Writer, r buildconfig.BuilderReport) {
			if r.App != "" {
				fmt.Fprintf(tw, "Builder build dir:\t%s\n", r.BuildDir)
				fmt.Fprintf(tw, "Builder computed build dir:\t%s\n", r.ComputedBuildDir)
				fmt.Fprintf(tw, "Builder computed selected:\t%s\n", r.ComputedSelected)
				fmt.Fprintf(tw, "Builder detected:\t%s\n", r.Detected)
				fmt.Fprintf(tw, "Builder detected reason:\t%s\n", strings.ReplaceAll(r.DetectedWhy, "\n", " "))
			}
			fmt.Fprintf(tw, "Builder global build dir:\t%s\n", r.GlobalBuildDir)
			fmt.Fprintf(tw, "Builder global selected:\t%s\n", r.GlobalSelected)
			if r.App != "" {
				fmt.Fprintf(tw, "Builder last used:\t%s\n", r.LastBuilder)
				fmt.Fprintf(tw, "Builder selected:\t%s\n", r.Selected)
			}
		})
}
