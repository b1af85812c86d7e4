package commands

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/berth-paas/berth/registry"
)

// registryCommands choose where swarm apps' images are pushed for the
// swarm's nodes (Dokku's registry plugin): Berth's own registry (the
// Caddyfile's `registry` host) unless registry:set names the user's.
// Admin only: a registry and its credentials decide what code every node
// runs.
var registryCommands = []command{
	{adminScope, "registry:set", "registry:set APP|--global server [HOST[:PORT][/PREFIX]]", "Push the app's swarm images to this registry (as SERVER/APP) instead of Berth's own; no value unsets it. Admin only", registrySet},
	{adminScope, "registry:login", "registry:login [--global|APP] --password-stdin SERVER USER", "Keep the credentials Berth pushes with and the swarm's nodes pull with at SERVER (the password on stdin). Admin only", registryLogin},
	{adminScope, "registry:logout", "registry:logout [--global|APP] SERVER", "Forget the credentials kept for SERVER. Admin only", registryLogout},
	{adminScope, "registry:report", "registry:report [APP|--global] [--format json]", "Show where the app's swarm images go and which logins apply (user names only; no APP: every app). Admin only", registryReport},
}

func registrySet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, global, err := setArgs(args)
	if err != nil {
		return err
	}
	if len(pos) < 2 || len(pos) > 3 {
		return usageError{"give an app (or --global), the property server and a registry (HOST[:PORT][/PREFIX]; none to unset it)"}
	}
	app, key, value := pos[0], pos[1], ""
	if len(pos) == 3 {
		value = pos[2]
	}
	if key != "server" {
		return usageError{fmt.Sprintf("unknown registry property %q: use server", key)}
	}
	if err := p.Registry.SetServer(ctx, app, value); err != nil {
		return err
	}
	who := app
	if global {
		who = "every app that sets none"
	}
	if value == "" {
		fmt.Fprintf(out.Stderr, "-----> Unset the registry server of %s; swarm images go to Berth's registry from the next deploy\n", who)
		return nil
	}
	fmt.Fprintf(out.Stderr, "-----> Set the registry server of %s to %s; it applies from the next deploy (ps:rebuild)\n", who, value)
	return nil
}

func registryLogin(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, global := flags["global"]
	_, stdin := flags["password-stdin"]
	app := ""
	if !global {
		if len(pos) == 0 {
			return usageError{"give an app or --global, then --password-stdin SERVER USER"}
		}
		app, pos = pos[0], pos[1:]
	}
	if len(pos) == 3 {
		// A password in the command would be in Berth's log and the
		// client's shell history.
		return usageError{"give the password on stdin, not in the command: echo \"$PASSWORD\" | ssh berth@HOST registry:login --password-stdin ... SERVER USER"}
	}
	if len(pos) != 2 || !stdin {
		return usageError{"give --password-stdin, SERVER and USER (the password on stdin)"}
	}
	line, err := bufio.NewReader(out.Stdin).ReadString('\n')
	if err != nil && !errors.Is(err, io.EOF) { // a password without a final newline is read to EOF
		return fmt.Errorf("reading the password from stdin: %w", err)
	}
	password := strings.TrimRight(line, "\r\n")
	if password == "" {
		return usageError{"no password on stdin: echo \"$PASSWORD\" | ssh berth@HOST registry:login --password-stdin ... SERVER USER"}
	}
	if err := p.Registry.Login(ctx, app, pos[0], pos[1], password); err != nil {
		return err
	}
	fmt.Fprintf(out.Stderr, "-----> Login kept for %s (user %s)\n", pos[0], pos[1])
	return nil
}

func registryLogout(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := setArgs(args) // --global: pos[0] is "", the global login
	if err != nil {
		return err
	}
	if len(pos) != 2 {
		return usageError{"give an app (or --global) and a SERVER"}
	}
	if err := p.Registry.Logout(ctx, pos[0], pos[1]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stderr, "-----> Forgot the login for %s\n", pos[1])
	return nil
}

func registryReport(ctx context.Context, p *Backend, args []string, out IO) error {
	return reportCommand(ctx, p, args, out, "registry", func(ctx context.Context) (registry.Report, error) { return p.Registry.Report(ctx, "") }, p.Registry.Report,
		func(r registry.Report) string { return r.App },
		func(tw io.Writer, r registry.Report) {
			fmt.Fprintf(tw, "Registry computed server:\t%s\n", r.ComputedServer)
			fmt.Fprintf(tw, "Registry global server:\t%s\n", r.GlobalServer)
			if r.App != "" {
				fmt.Fprintf(tw, "Registry server:\t%s\n", r.Server)
			}
			fmt.Fprintf(tw, "Registry logins:\t%s\n", strings.Join(r.Logins, " "))
		})
}
