package commands

import (
	"context"
	"fmt"
	"io"
	"text/tabwriter"

	"github.com/berth-paas/berth/platform"
)

var keyCommands = []command{
	{adminScope, "ssh-keys:add", "ssh-keys:add [--app APP] NAME  (public key on stdin)", "Add a key that may push and run commands; with --app, only on that app", sshKeysAdd},
	{adminScope, "ssh-keys:list", "ssh-keys:list [--format json]", "List the added keys (the Caddyfile's authorized_keys are admins too)", sshKeysList},
	{adminScope, "ssh-keys:remove", "ssh-keys:remove NAME", "Remove an added key", sshKeysRemove},
}

func sshKeysAdd(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "app")
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"give the key a name, and the public key on stdin"}
	}
	if out.Stdin == nil {
		return usageError{"give the public key on stdin"}
	}
	line, err := io.ReadAll(io.LimitReader(out.Stdin, 16<<10))
	if err != nil {
		return err
	}
	key, err := p.AddSSHKey(ctx, pos[0], flags["app"], string(line))
	if err != nil {
		return err
	}
	scope := "an admin key"
	if key.App != "" {
		scope = "a deploy key for " + key.App
	}
	fmt.Fprintf(out.Stderr, "-----> Added %s (%s) as %s\n", key.Name, key.Fingerprint, scope)
	return nil
}

func sshKeysList(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	if len(pos) != 0 {
		return usageError{"ssh-keys:list takes no arguments"}
	}
	keys, err := p.SSHKeys(ctx)
	if err != nil {
		return err
	}
	if flags["format"] == "json" {
		if keys == nil {
			keys = []platform.SSHKey{}
		}
		return writeJSON(out, keys)
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFINGERPRINT\tAPP")
	for _, k := range keys {
		fmt.Fprintf(tw, "%s\t%s\t%s\n", k.Name, k.Fingerprint, orAll(k.App))
	}
	return tw.Flush()
}

func orAll(app string) string {
	if app == "" {
		return "(all: admin)"
	}
	return app
}

func sshKeysRemove(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) != 1 {
		return usageError{"name the key to remove"}
	}
	if err := p.RemoveSSHKey(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stderr, "-----> Removed key %s\n", pos[0])
	return nil
}
