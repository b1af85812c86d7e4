package commands

import (
	"context"
	"fmt"
	"strconv"
	"strings"
	"text/tabwriter"
)

// buildpacksCommands are Dokku's buildpacks plugin: an app's buildpack
// list, handed to the buildpack builders (pack: buildpack IDs of its
// builder image; herokuish: buildpack URLs), and the stack, the image
// those builds run in.
//
// buildpacks:set-property is for admin keys only: the stack is the image
// the CNB lifecycle runs in as root with the engine's socket, which is the
// host.
var buildpacksCommands = []command{
	{appScope, "buildpacks:add", "buildpacks:add APP BUILDPACK [--index N]", "Add a buildpack to the app's list (at position N, from 1; default: last); applies from the next build", buildpacksChange("add")},
	{appScope, "buildpacks:set", "buildpacks:set APP BUILDPACK [--index N]", "Set the buildpack at position N (default: the first) of the app's list", buildpacksChange("set")},
	{appScope, "buildpacks:remove", "buildpacks:remove APP BUILDPACK", "Remove a buildpack from the app's list", buildpacksChange("remove")},
	{appScope, "buildpacks:clear", "buildpacks:clear APP", "Empty the app's buildpack list: the builder detects buildpacks again", buildpacksChange("clear")},
	{appScope, "buildpacks:list", "buildpacks:list APP", "List the app's buildpacks, in order", buildpacksList},
	{appScope, "buildpacks:report", "buildpacks:report APP|--global [--format json] [--buildpacks-KEY]", "Show the app's buildpacks and stack (the builder image of pack builds)", buildpacksReport},
	{adminScope, "buildpacks:set-property", "buildpacks:set-property APP|--global stack [IMAGE]", "Set (or, without IMAGE, clear) the stack: the builder image buildpack builds run in (pack's default: heroku/builder:24)", buildpacksSetProperty},
}

// Dokku's buildpacks commands take --index before the app
// (buildpacks:add --index 1 APP URL); parseFlags takes it anywhere.
func buildpacksChange(action string) func(ctx context.Context, p *Backend, args []string, out IO) error {
	return func(ctx context.Context, p *Backend, args []string, out IO) error {
		pos, flags, err := parseFlags(args, "index")
		if err != nil {
			return err
		}
		index := 0
		for f, v := range flags {
			if f != "index" || action == "remove" || action == "clear" {
				return usageError{fmt.Sprintf("unknown flag --%s", f)}
			}
			if index, err = strconv.Atoi(v); err != nil || index < 1 {
				return usageError{fmt.Sprintf("--index takes a position from 1, not %q", v)}
			}
		}
		want := 2
		if action == "clear" {
			want = 1
		}
		if len(pos) != want {
			if want == 1 {
				return usageError{"name one app"}
			}
			return usageError{"name an app and one buildpack"}
		}
		app, url := pos[0], ""
		if want == 2 {
			url = pos[1]
		}
		if err := p.Build.ChangeBuildpacks(ctx, app, action, url, index); err != nil {
			return err
		}
		switch action {
		case "add":
			fmt.Fprintf(out.Stdout, "-----> Added %s to the buildpacks of %s; it applies from the next build\n", url, app)
		case "set":
			fmt.Fprintf(out.Stdout, "-----> Set %s in the buildpacks of %s; it applies from the next build\n", url, app)
		case "remove":
			fmt.Fprintf(out.Stdout, "-----> Removed %s from the buildpacks of %s\n", url, app)
		case "clear":
			fmt.Fprintf(out.Stdout, "-----> Cleared the buildpacks of %s: the builder detects them\n", app)
		}
		return nil
	}
}

func buildpacksList(ctx context.Context, p *Backend, args []string, out IO) error {
	app, _, err := oneApp(args)
	if err != nil {
		return err
	}
	r, err := p.Build.BuildpacksInfo(ctx, app)
	if err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "=====> %s buildpack urls\n", app)
	for _, b := range r.List {
		fmt.Fprintln(out.Stdout, b)
	}
	return nil
}

func buildpacksReport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	global := false
	if _, ok := flags["global"]; ok {
		global = true
		delete(flags, "global")
	}
	asJSON := false
	if _, ok := flags["format"]; ok {
		if asJSON, err = wantsJSON(flags); err != nil {
			return err
		}
		delete(flags, "format")
	}
	if global == (len(pos) == 1) || len(pos) > 1 {
		return usageError{"give one app, or --global"}
	}
	app := ""
	if !global {
		app = pos[0]
	}
	r, err := p.Build.BuildpacksInfo(ctx, app)
	if err != nil {
		return err
	}
	values := []struct{ flag, label, value string }{
		{"buildpacks-computed-stack", "Buildpacks computed stack", r.ComputedStack},
		{"buildpacks-global-stack", "Buildpacks global stack", r.GlobalStack},
		{"buildpacks-list", "Buildpacks list", strings.Join(r.List, ",")},
		{"buildpacks-stack", "Buildpacks stack", r.Stack},
	}
	if len(flags) > 1 {
		return usageError{"ask for one --buildpacks-* value at a time"}
	}
	for f := range flags {
		if asJSON {
			return usageError{"--format json shows every value; leave out --" + f}
		}
		for _, v := range values {
			if v.flag == f {
				fmt.Fprintln(out.Stdout, v.value)
				return nil
			}
		}
		return usageError{fmt.Sprintf("unknown flag --%s; the values are --buildpacks-list, --buildpacks-stack, --buildpacks-global-stack and --buildpacks-computed-stack", f)}
	}
	if asJSON {
		return writeJSON(out, r)
	}
	name := app
	if global {
		name = "global"
	}
	fmt.Fprintf(out.Stdout, "=====> %s buildpacks information\n", name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	for _, v := range values {
		fmt.Fprintf(tw, "       %s:\t%s\n", v.label, v.value)
	}
	return tw.Flush()
}

func buildpacksSetProperty(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	global := false
	for f := range flags {
		if f != "global" {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
		global = true
	}
	app := ""
	if !global {
		if len(pos) == 0 {
			return usageError{"name an app (or --global), the property and its value"}
		}
		app, pos = pos[0], pos[1:]
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"name the property (stack) and, to set it, its value"}
	}
	key, value := pos[0], ""
	if len(pos) == 2 {
		value = pos[1]
	}
	if err := p.Build.SetBuildpacksProperty(ctx, app, key, value); err != nil {
		return err
	}
	settingLine(out.Stdout, key, value)
	return nil
}
