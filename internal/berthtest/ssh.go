package berthtest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
)

// SSHKey makes an ed25519 key pair without a passphrase at dir/name (and
// dir/name.pub) with ssh-keygen, the tool a user runs, and returns the
// private key's path and the public key line. name is the key's comment
// too, so Berth's key listings in a test say whose key it is.
func SSHKey(dir, name string) (private, public string, err error) {
	private = filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", private).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(private + ".pub")
	if err != nil {
		return "", "", err
	}
	return private, string(pub), nil
}

// SSHIdentity names the key the OpenSSH client offers to some hosts (Host
// patterns or aliases of the client config).
type SSHIdentity struct {
	Hosts []string
	Key   string // private key file
}

// SSHClient is an OpenSSH client config (`ssh -F FILE`) for talking to a
// Berth on 127.0.0.1 with the real ssh and git, as a user does. Each
// identity's hosts offer only that key (IdentitiesOnly), so a script can
// push as the admin through one alias and as a stranger through another.
type SSHClient struct {
	// Port and User apply to every host; 0 and "" leave them to the URL
	// (ssh://USER@127.0.0.1:PORT/...), for a caller that talks to several
	// servers.
	Port int
	User string
	// KnownHosts is the file of known host keys, checked for real
	// (accept-new, then strict): a host key that changes across a restart
	// fails. "" turns checking off, for a caller whose servers are
	// short-lived and each has a new key (the benchmark).
	KnownHosts string
	Identities []SSHIdentity
}

// String renders the config: one Host block with every host's settings,
// then one per identity.
func (c SSHClient) String() string {
	var all []string
	for _, id := range c.Identities {
		for _, h := range id.Hosts {
			if !slices.Contains(all, h) {
				all = append(all, h)
			}
		}
	}
	var b strings.Builder
	fmt.Fprintf(&b, "Host %s\n\tHostName 127.0.0.1\n", strings.Join(all, " "))
	if c.Port != 0 {
		fmt.Fprintf(&b, "\tPort %d\n", c.Port)
	}
	if c.User != "" {
		fmt.Fprintf(&b, "\tUser %s\n", c.User)
	}
	b.WriteString("\tIdentitiesOnly yes\n")
	if c.KnownHosts != "" {
		fmt.Fprintf(&b, "\tStrictHostKeyChecking accept-new\n\tUserKnownHostsFile %s\n", c.KnownHosts)
	} else {
		b.WriteString("\tStrictHostKeyChecking no\n\tUserKnownHostsFile /dev/null\n")
	}
	b.WriteString("\tLogLevel ERROR\n\tBatchMode yes\n")
	for _, id := range c.Identities {
		fmt.Fprintf(&b, "Host %s\n\tIdentityFile %s\n", strings.Join(id.Hosts, " "), id.Key)
	}
	return b.String()
}

// Write writes the config to path; ssh refuses a config that others can
// write, so it is the owner's only.
func (c SSHClient) Write(path string) error {
	return os.WriteFile(path, []byte(c.String()), 0o600)
}

// GitSSHCommand is the GIT_SSH_COMMAND that makes git use the config at
// path.
func GitSSHCommand(configPath string) string { return "ssh -F " + configPath }

// GitEnv is the environment for git as a fixed user: HOME (so no user's
// git config leaks in), no system config, and an author and committer,
// so commits are made the same on every machine. It is KEY=VALUE pairs,
// to append to os.Environ() or to set one by one.
func GitEnv(home, name, email string) []string {
	return []string{
		"HOME=" + home,
		"GIT_CONFIG_NOSYSTEM=1",
		"GIT_AUTHOR_NAME=" + name,
		"GIT_AUTHOR_EMAIL=" + email,
		"GIT_COMMITTER_NAME=" + name,
		"GIT_COMMITTER_EMAIL=" + email,
	}
}
