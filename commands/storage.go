package commands

import (
	"context"
	"fmt"
	"strings"
	"text/tabwriter"
)

// storageCommands mount host paths and named volumes into an app's
// containers (Dokku's storage:*).
var storageCommands = []command{
	{adminScope, "storage:mount", "storage:mount APP /host/path:/container/path[:ro] | VOLUME:/container/path[:ro]", "Mount a host path or named volume into the app's containers, from the next deploy (and run, now)", storageMount},
	{adminScope, "storage:unmount", "storage:unmount APP SOURCE:DEST[:ro]", "Remove a mount, from the next deploy", storageUnmount},
	{appScope, "storage:list", "storage:list APP [--format json]", "List the app's mounts", storageList},
	{appScope, "storage:report", "storage:report APP [--format json]", "Show the app's mounts as docker options, for each phase", storageReport},
	{adminScope, "storage:ensure-directory", "storage:ensure-directory NAME [--chown false|herokuish|heroku|packeto|root]", "Make a directory under Berth's storage directory for mounts, and print its path", storageEnsureDirectory},
}

func storageEnsureDirectory(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "chown")
	if err != nil {
		return err
	}
	for f := range flags {
		if f != "chown" {
			return usageError{fmt.Sprintf("unknown flag --%s", f)}
		}
	}
	if len(pos) != 1 {
		return usageError{"name one directory"}
	}
	dir, err := p.AppSpec.EnsureStorageDirectory(pos[0], flags["chown"])
	if err != nil {
		return err
	}
	fmt.Fprintln(out.Stdout, dir)
	fmt.Fprintf(out.Stderr, "-----> Mount it with storage:mount APP %s:/container/path\n", dir)
	return nil
}

func appAndOne(args []string, what string) (string, string, error) {
	if len(args) != 2 || args[0] == "" || args[0][0] == '-' {
		return "", "", usageError{"name one app and one " + what}
	}
	return args[0], args[1], nil
}

func storageMount(ctx context.Context, p *Backend, args []string, out IO) error {
	app, mount, err := appAndOne(args, "mount")
	if err != nil {
		return err
	}
	if err := p.AppSpec.Mount(ctx, app, mount); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Mounted %s on %s; the app's containers get it from the next deploy or ps:restart %s\n", mount, app, app)
	return nil
}

func storageUnmount(ctx context.Context, p *Backend, args []string, out IO) error {
	app, mount, err := appAndOne(args, "mount")
	if err != nil {
		return err
	}
	if err := p.AppSpec.Unmount(ctx, app, mount); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Unmounted %s from %s; the app's containers lose it from the next deploy or ps:restart %s\n", mount, app, app)
	return nil
}

func storageList(ctx context.Context, p *Backend, args []string, out IO) error {
	a, asJSON, err := appToReport(ctx, p, args)
	if err != nil {
		return err
	}
	app := a.Name
	if asJSON {
		mounts := a.Storage
		if mounts == nil {
			mounts = []string{}
		}
		return writeJSON(out, mounts)
	}
	fmt.Fprintf(out.Stdout, "=====> %s volume bind-mounts:\n", app)
	for _, m := range a.Storage {
		fmt.Fprintf(out.Stdout, "     %s\n", m)
	}
	return nil
}

// storageReport is Dokku's storage report: the mounts as the -v options
// of each phase. Berth builds with none (a Dockerfile build reads only
// the pushed tree); deploys and run get every mount.
func storageReport(ctx context.Context, p *Backend, args []string, out IO) error {
	a, asJSON, err := appToReport(ctx, p, args)
	if err != nil {
		return err
	}
	var opts []string
	for _, m := range a.Storage {
		opts = append(opts, "-v "+m)
	}
	deploy := strings.Join(opts, " ")
	if asJSON {
		return writeJSON(out, map[string]string{
			"storage-build-mounts":  "",
			"storage-deploy-mounts": deploy,
			"storage-run-mounts":    deploy,
		})
	}
	fmt.Fprintf(out.Stdout, "=====> %s storage information\n", a.Name)
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintf(tw, "Storage build mounts:\t\n")
	fmt.Fprintf(tw, "Storage deploy mounts:\t%s\n", deploy)
	fmt.Fprintf(tw, "Storage run mounts:\t%s\n", deploy)
	return tw.Flush()
}
