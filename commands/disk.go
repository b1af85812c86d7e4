package commands

import (
	"context"
	"fmt"
	"strconv"
	"text/tabwriter"

	"github.com/berth-paas/berth/internal/bytesize"
)

// diskCommands keep the disk from filling: how many releases keep their
// image, a cleanup on demand, and what Berth takes of the disk.
var diskCommands = []command{
	{adminScope, "releases:set", "releases:set APP|--global keep [N]", "Set how many of an app's newest releases keep their image (the current one among them; at least 2; no N: back to the global setting, then the Caddyfile's keep_releases, default 10); older ones go with their images", releasesSet},
	{adminScope, "cleanup", "cleanup [APP]", "Remove now what Berth no longer needs: releases beyond their retention with their images, and the build cache beyond build_cache_max", cleanup},
	{adminScope, "disk:report", "disk:report [APP] [--format json]", "Show the disk Berth uses: release images (per app), its volumes, the build cache, and the retention settings", diskReport},
}

func releasesSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, global := flags["global"]
	for f := range flags {
		if f != "global" {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	app := ""
	if !global {
		if len(pos) == 0 {
			return usageError{"give an app, or --global"}
		}
		app, pos = pos[0], pos[1:]
	}
	if len(pos) == 0 || pos[0] != "keep" {
		return usageError{"the property is keep: releases:set APP|--global keep N"}
	}
	n := 0
	switch len(pos) {
	case 1:
	case 2:
		if n, err = strconv.Atoi(pos[1]); err != nil || n < 1 {
			return usageError{fmt.Sprintf("keep %q: give a whole number of releases, like 10", pos[1])}
		}
	default:
		return usageError{"keep takes one number"}
	}
	if err := p.Disk.SetKeepReleases(ctx, app, n, out.Stderr); err != nil {
		return err
	}
	what := app
	if global {
		what = "every app without its own setting"
	}
	if n == 0 {
		fmt.Fprintf(out.Stderr, "-----> keep unset for %s\n", what)
	} else {
		fmt.Fprintf(out.Stderr, "-----> %s keeps the images of its newest %d releases\n", what, n)
	}
	return nil
}

func cleanup(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(flags) > 0 || len(pos) > 1 {
		return usageError{"give one app, or none for all"}
	}
	app := ""
	if len(pos) == 1 {
		app = pos[0]
	}
	return p.Disk.Cleanup(ctx, app, out.Stderr)
}

func diskReport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	asJSON, err := wantsJSON(flags)
	if err != nil {
		return err
	}
	for f := range flags {
		if f != "format" {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	if len(pos) > 1 {
		return usageError{"give one app, or none for all"}
	}
	app := ""
	if len(pos) == 1 {
		app = pos[0]
	}
	rep, err := p.Disk.Report(ctx, app)
	if err != nil {
		return err
	}
	if asJSON {
		return writeJSON(out, rep)
	}
	cacheMax := "none (not pruned)"
	if rep.BuildCacheMax >= 0 {
		cacheMax = bytesize.Format(rep.BuildCacheMax)
	}
	title := "Berth"
	if app != "" {
		title = app
	}
	fmt.Fprintf(out.Stdout, "=====> %s disk usage\n", title)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Release images:\t%d (%s)\n", rep.ReleaseImages, humanBytes(rep.ReleaseBytes))
	if app == "" {
		fmt.Fprintf(tw, "Volumes:\t%d (%s)\n", rep.Volumes, humanBytes(rep.VolumeBytes))
		fmt.Fprintf(tw, "Build cache:\t%s in %d records (bound: build_cache_max %s)\n", humanBytes(rep.BuildCacheBytes), rep.BuildCacheRecords, cacheMax)
		fmt.Fprintf(tw, "Keep releases:\t%d (%s)\n", rep.KeepReleases, rep.KeepReleasesFrom)
	}
	tw.Flush()
	if len(rep.Apps) == 0 {
		return nil
	}
	tw = tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "APP\tRELEASES\tIMAGES\tSIZE\tKEEP")
	for _, a := range rep.Apps {
		fmt.Fprintf(tw, "%s\t%d\t%d\t%s\t%d (%s)\n", a.App, a.Releases, a.Images, humanBytes(a.Bytes), a.Keep, a.KeepFrom)
	}
	return tw.Flush()
}

// humanBytes says n in the largest binary unit it fills, to one decimal
// (3.8MiB), as a person reads a disk report.
func humanBytes(n int64) string {
	units := []string{"B", "KiB", "MiB", "GiB", "TiB"}
	f, i := float64(n), 0
	for f >= 1024 && i < len(units)-1 {
		f /= 1024
		i++
	}
	if i == 0 {
		return fmt.Sprintf("%dB", n)
	}
	return fmt.Sprintf("%.1f%s", f, units[i])
}
