package commands

import (
	"cmp"
	"context"
	"fmt"
	"text/tabwriter"
)

// builderDockerfileCommands set and show how the Dockerfile builder
// finds an app's Dockerfile (Dokku's builder-dockerfile:*). Build
// arguments and the target stage are build-phase docker-options.
var builderDockerfileCommands = []command{
	{appScope, "builder-dockerfile:set", "builder-dockerfile:set APP|--global dockerfile-path [PATH]", "Build the app from the Dockerfile at PATH in its repository (no PATH: the global one, else the root's Dockerfile), from the next deploy; --global: of the apps that set none", builderDockerfileSet},
	{appScope, "builder-dockerfile:report", "builder-dockerfile:report APP|--global [--format json] [--builder-dockerfile-KEY]", "Show the app's Dockerfile builder settings", builderDockerfileReport},
}

func builderDockerfileSet(ctx context.Context, p *Backend, args []string, out IO) error {
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
	if global {
		pos = append([]string{""}, pos...)
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app, dockerfile-path and the path (no path for the root's Dockerfile)"}
	}
	app, key := pos[0], pos[1]
	if key != "dockerfile-path" {
		return usageError{fmt.Sprintf("unknown setting %q: builder-dockerfile has dockerfile-path", key)}
	}
	path := ""
	if len(pos) == 3 {
		path = pos[2]
	}
	if global {
		if err := p.Build.SetGlobalDockerfilePath(ctx, path); err != nil {
			return err
		}
		if path == "" {
			fmt.Fprintln(out.Stderr, "-----> Unset the global dockerfile-path: apps that set none build from the root's Dockerfile from their next deploy")
			return nil
		}
		fmt.Fprintf(out.Stderr, "-----> Set the global dockerfile-path to %s; apps that set none build from it from their next deploy\n", path)
		return nil
	}
	if err := p.Build.SetDockerfilePath(ctx, app, path); err != nil {
		return err
	}
	if path == "" {
		fmt.Fprintf(out.Stderr, "-----> Unset dockerfile-path of %s: it builds from the root's Dockerfile from the next deploy\n", app)
		return nil
	}
	fmt.Fprintf(out.Stderr, "-----> Set dockerfile-path of %s to %s; it applies from the next deploy\n", app, path)
	return nil
}

// builderDockerfileReport prints Dokku's report keys: the app's own
// dockerfile-path, the global one (always "Dockerfile" in Berth) and the
// one a build uses. A --KEY flag prints that value alone, as Dokku's
// reports do.
func builderDockerfileReport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	_, global := flags["global"]
	delete(flags, "global")
	if global == (len(pos) == 1) || len(pos) > 1 {
		return usageError{"name one app, or --global"}
	}
	app := ""
	if !global {
		app = pos[0]
	}
	r, err := p.Build.DockerfileReport(ctx, app)
	if err != nil {
		return err
	}
	// Dokku shows the root's Dockerfile as "Dockerfile", not as nothing.
	globalPath := cmp.Or(r.GlobalPath, "Dockerfile")
	type key struct{ flag, label, value string }
	keys := []key{{"builder-dockerfile-global-dockerfile-path", "Builder dockerfile global dockerfile path", globalPath}}
	name := "--global" // Dokku's heading of a global report
	if !global {
		name = r.App
		keys = []key{
			{"builder-dockerfile-computed-dockerfile-path", "Builder dockerfile computed dockerfile path", cmp.Or(r.ComputedPath, globalPath)},
			keys[0],
			{"builder-dockerfile-dockerfile-path", "Builder dockerfile dockerfile path", r.Path},
		}
	}
	asJSON := false
	for f := range flags {
		if f == "format" {
			if asJSON, err = wantsJSON(flags); err != nil {
				return err
			}
			continue
		}
		found := false
		for _, k := range keys {
			if k.flag == f {
				fmt.Fprintln(out.Stdout, k.value)
				found = true
			}
		}
		if !found {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
		return nil
	}
	if asJSON {
		m := map[string]string{}
		for _, k := range keys {
			m[k.flag] = k.value
		}
		return writeJSON(out, m)
	}
	fmt.Fprintf(out.Stdout, "=====> %s builder-dockerfile information\n", name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, k := range keys {
		fmt.Fprintf(tw, "%s:\t%s\n", k.label, k.value)
	}
	return tw.Flush()
}
