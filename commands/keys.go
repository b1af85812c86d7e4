package commands

import (
	"context"
	"errors"
	"fmt"
	"io"
	"text/tabwriter"

	"golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/keys"
)

var keyCommands = []command{
	{adminScope, "ssh-keys:add", "ssh-keys:add [--app APP] NAME [FILE]  (public key in FILE on the server, or on stdin)", "Add a key that may push and run commands; with --app, only on that app", sshKeysAdd},
	{adminScope, "ssh-keys:list", "ssh-keys:list [--format json]", "List the added keys (the Caddyfile's authorized_keys are admins too)", sshKeysList},
	{adminScope, "ssh-keys:remove", "ssh-keys:remove NAME", "Remove an added key", sshKeysRemove},
	{adminScope, "ssh-keys:host", "ssh-keys:host", "Show the SSH host key and its fingerprint, to check what ssh asks at the first connection", sshKeysHost},
}

// sshKeysHost prints the host key's fingerprint as ssh shows it ("ED25519
// key fingerprint is SHA256:...") and the key as a known_hosts entry takes it.
func sshKeysHost(_ context.Context, p *Backend, args []string, out IO) error {
	pos, _, err := parseFlags(args)
	if err != nil {
		return err
	}
	if len(pos) > 0 {
		return usageError{"ssh-keys:host takes no arguments"}
	}
	var key ssh.PublicKey
	if p.SSHHostKey != nil {
		key = p.SSHHostKey()
	}
	if key == nil {
		return errors.New("this Berth has no SSH server running")
	}
	fmt.Fprintf(out.Stdout, "%s\n%s", ssh.FingerprintSHA256(key), ssh.MarshalAuthorizedKey(key))
	return nil
}

func sshKeysAdd(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "app")
	if err != nil {
		return err
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"give the key a name, and the public key in a file on the server or on stdin"}
	}
	// Dokku's ssh-keys:add NAME FILE: a file on the server (the command
	// is for admin keys, who may read it anyway), else stdin.
	in := out.Stdin
	if len(pos) == 2 && pos[1] != "-" {
		f, err := openServerFile(pos[1])
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	if in == nil {
		return usageError{"give the public key in a file on the server or on stdin"}
	}
	line, err := io.ReadAll(io.LimitReader(in, 16<<10))
	if err != nil {
		return err
	}
	key, err := p.Keys.Add(ctx, pos[0], flags["app"], string(line))
	if err != nil {
		return err
	}
	scope := "an admin key"
	if key.App != "" {
		scope = "a deploy key for " + key.App
	}
	fmt.Fprintf(out.Stdout, "-----> Added %s (%s) as %s\n", key.Name, key.Fingerprint, scope)
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
	list, err := p.Keys.List(ctx)
	if err != nil {
		return err
	}
	if flags["format"] == "json" {
		if list == nil {
			list = []keys.Key{}
		}
		return writeJSON(out, list)
	}
	tw := tabwriter.NewWriter(out.Stdout, 0, 4, 2, ' ', 0)
	fmt.Fprintln(tw, "NAME\tFINGERPRINT\tAPP")
	for _, k := range list {
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
	if err := p.Keys.Remove(ctx, pos[0]); err != nil {
		return err
	}
	fmt.Fprintf(out.Stdout, "-----> Removed key %s\n", pos[0])
	return nil
}
