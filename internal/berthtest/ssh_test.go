package berthtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The suite's config, byte for byte as tests/ wrote it before it used
// this package: admin and stranger through aliases, host keys checked.
const suiteSSHConfig = `Host 127.0.0.1 berth stranger
	HostName 127.0.0.1
	Port 2222
	User berth
	IdentitiesOnly yes
	StrictHostKeyChecking accept-new
	UserKnownHostsFile /w/.ssh/known_hosts
	LogLevel ERROR
	BatchMode yes
Host 127.0.0.1 berth
	IdentityFile /w/.ssh/id_ed25519
Host stranger
	IdentityFile /w/.ssh/stranger
`

func suiteSSH() SSHClient {
	return SSHClient{
		Port: 2222, User: "berth", KnownHosts: "/w/.ssh/known_hosts",
		Identities: []SSHIdentity{
			{Hosts: []string{"127.0.0.1", "berth"}, Key: "/w/.ssh/id_ed25519"},
			{Hosts: []string{"stranger"}, Key: "/w/.ssh/stranger"},
		},
	}
}

func TestSSHClientRendersTheSuitesConfig(t *testing.T) {
	if got := suiteSSH().String(); got != suiteSSHConfig {
		t.Errorf("got:\n%s\nwant:\n%s", got, suiteSSHConfig)
	}
}

// sshG is what OpenSSH's client makes of config for host (ssh -G reads
// the config and prints the result without connecting).
func sshG(t *testing.T, config SSHClient, host string) map[string]string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "config")
	if err := config.Write(path); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command("ssh", "-G", "-F", path, host).CombinedOutput()
	if err != nil {
		t.Fatalf("ssh -G: %v\n%s", err, out)
	}
	got := map[string]string{}
	for _, line := range strings.Split(string(out), "\n") {
		k, v, _ := strings.Cut(line, " ")
		if _, seen := got[k]; !seen { // identityfile repeats; the first is the one offered first
			got[k] = v
		}
	}
	return got
}

func TestSSHClientConfigIsWhatOpenSSHReads(t *testing.T) {
	for host, key := range map[string]string{"berth": "/w/.ssh/id_ed25519", "stranger": "/w/.ssh/stranger"} {
		got := sshG(t, suiteSSH(), host)
		for k, want := range map[string]string{
			"hostname": "127.0.0.1", "port": "2222", "user": "berth", "identityfile": key,
			"identitiesonly": "yes", "stricthostkeychecking": "accept-new", "batchmode": "yes",
			"userknownhostsfile": "/w/.ssh/known_hosts",
		} {
			if got[k] != want {
				t.Errorf("%s: %s = %q, want %q", host, k, got[k], want)
			}
		}
	}
	// The benchmark's: no port, no user (the URL gives them), host keys
	// not checked.
	bench := SSHClient{Identities: []SSHIdentity{{Hosts: []string{"127.0.0.1"}, Key: "/b/admin"}}}
	got := sshG(t, bench, "127.0.0.1")
	if got["stricthostkeychecking"] != "false" && got["stricthostkeychecking"] != "no" {
		t.Errorf("stricthostkeychecking = %q", got["stricthostkeychecking"])
	}
	if got["port"] != "22" || got["identityfile"] != "/b/admin" || got["userknownhostsfile"] != "/dev/null" {
		t.Errorf("port %q, identityfile %q, userknownhostsfile %q", got["port"], got["identityfile"], got["userknownhostsfile"])
	}
}

func TestSSHKeyMakesAnEd25519Pair(t *testing.T) {
	dir := t.TempDir()
	private, public, err := SSHKey(dir, "admin")
	if err != nil {
		t.Fatal(err)
	}
	if private != filepath.Join(dir, "admin") || !strings.HasPrefix(public, "ssh-ed25519 ") || !strings.HasSuffix(strings.TrimSpace(public), " admin") {
		t.Errorf("private %s, public %q", private, public)
	}
	// ssh-keygen derives the same public key from the private one: the
	// pair belongs together and has no passphrase.
	out, err := exec.Command("ssh-keygen", "-y", "-P", "", "-f", private).Output()
	if err != nil {
		t.Fatal(err)
	}
	if f := strings.Fields(public); len(f) < 2 || !strings.Contains(string(out), f[1]) {
		t.Errorf("ssh-keygen -y gives %q, the .pub holds %q", out, public)
	}
}
