package caddymodule

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"os"
	"os/user"
	"path/filepath"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2"
	gossh "golang.org/x/crypto/ssh"
)

func newPub(t *testing.T, comment string) (gossh.PublicKey, []byte) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	k, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	line := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(k))) + " " + comment + "\n"
	return k, []byte(line)
}

// provisionWithHome provisions a berth app with no authorized_keys as
// Caddy would, with HOME set to home and no sudo in the environment.
func provisionWithHome(t *testing.T, home string) (*App, error) {
	t.Helper()
	t.Setenv("HOME", home)
	t.Setenv("SUDO_USER", "")
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	a := &App{StateDir: t.TempDir()}
	return a, a.Provision(ctx)
}

// Without authorized_keys, the admins are the running user's ~/.ssh/*.pub
// keys: every plain key there, certificates left out.
func TestNoAuthorizedKeysTakesHomeKeys(t *testing.T) {
	home := t.TempDir()
	ssh := filepath.Join(home, ".ssh")
	if err := os.MkdirAll(ssh, 0o700); err != nil {
		t.Fatal(err)
	}
	k1, l1 := newPub(t, "me@laptop")
	k2, l2 := newPub(t, "me@desk")
	for name, data := range map[string][]byte{
		"id_ed25519.pub":      l1,
		"other.pub":           l2,
		"id_ed25519":          []byte("-----BEGIN OPENSSH PRIVATE KEY-----\nnot read\n"),
		"known_hosts":         []byte("host ssh-ed25519 AAAA\n"),
		"id_ed25519-cert.pub": []byte("ssh-ed25519-cert-v01@openssh.com AAAAnotread\n"),
	} {
		if err := os.WriteFile(filepath.Join(ssh, name), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	a, err := provisionWithHome(t, home)
	if err != nil {
		t.Fatal(err)
	}
	if len(a.adminKeys) != 2 {
		t.Fatalf("admin keys: %d, want the 2 in ~/.ssh/*.pub", len(a.adminKeys))
	}
	got := map[string]bool{}
	for _, k := range a.adminKeys {
		got[gossh.FingerprintSHA256(k)] = true
	}
	if !got[gossh.FingerprintSHA256(k1)] || !got[gossh.FingerprintSHA256(k2)] {
		t.Errorf("admin keys are not the ones in ~/.ssh: %v", got)
	}
	hk, err := readHomeKeys(ssh)
	if err != nil {
		t.Fatal(err)
	}
	if want := []string{filepath.Join(ssh, "id_ed25519.pub"), filepath.Join(ssh, "other.pub")}; strings.Join(hk.Files, " ") != strings.Join(want, " ") {
		t.Errorf("files %v, want %v", hk.Files, want)
	}
}

// With no key in ~/.ssh (or no ~/.ssh), Berth does not start, and says
// what to do.
func TestNoAuthorizedKeysAndNoHomeKeysIsAnError(t *testing.T) {
	for name, mk := range map[string]func(home string){
		"no .ssh":    func(string) {},
		"empty .ssh": func(home string) { os.MkdirAll(filepath.Join(home, ".ssh"), 0o700) },
		"private only": func(home string) {
			os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
			os.WriteFile(filepath.Join(home, ".ssh", "id_rsa"), []byte("x"), 0o600)
		},
	} {
		t.Run(name, func(t *testing.T) {
			home := t.TempDir()
			mk(home)
			_, err := provisionWithHome(t, home)
			if err == nil {
				t.Fatal("Berth provisioned with no admin key at all")
			}
			for _, want := range []string{filepath.Join(home, ".ssh") + " has no public key", "ssh-keygen -t ed25519", "authorized_keys FILE"} {
				if !strings.Contains(err.Error(), want) {
					t.Errorf("error %q does not say %q", err, want)
				}
			}
		})
	}
}

// A .pub file that is not a plain key is named, not skipped: its owner
// meant it as a key.
func TestHomeKeyThatIsNotAKeyIsNamed(t *testing.T) {
	home := t.TempDir()
	ssh := filepath.Join(home, ".ssh")
	os.MkdirAll(ssh, 0o700)
	_, l := newPub(t, "ok")
	os.WriteFile(filepath.Join(ssh, "a.pub"), l, 0o600)
	os.WriteFile(filepath.Join(ssh, "b.pub"), []byte("garbage\n"), 0o600)
	_, err := provisionWithHome(t, home)
	if err == nil || !strings.Contains(err.Error(), filepath.Join(ssh, "b.pub")) || !strings.Contains(err.Error(), "authorized_keys FILE") {
		t.Fatalf("error %v, want one naming b.pub and what to do", err)
	}
}

// An authorized_keys file, when given, is the only source of admin keys.
func TestAuthorizedKeysFileWinsOverHome(t *testing.T) {
	home := t.TempDir()
	os.MkdirAll(filepath.Join(home, ".ssh"), 0o700)
	_, homeLine := newPub(t, "home")
	os.WriteFile(filepath.Join(home, ".ssh", "id.pub"), homeLine, 0o600)
	k, l := newPub(t, "file")
	file := filepath.Join(t.TempDir(), "admin_keys")
	os.WriteFile(file, l, 0o600)
	t.Setenv("HOME", home)
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	defer cancel()
	a := &App{StateDir: t.TempDir(), AuthorizedKeys: file}
	if err := a.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	if len(a.adminKeys) != 1 || gossh.FingerprintSHA256(a.adminKeys[0]) != gossh.FingerprintSHA256(k) {
		t.Fatalf("admin keys %v, want only the file's", a.adminKeys)
	}
}

// Under sudo the keys are those of the user who ran sudo, not root's
// (sudo sets HOME to root's); SUDO_USER means nothing to a process that
// is not root, nor when it names root or an unknown user.
func TestHomeKeysUnderSudo(t *testing.T) {
	lookup := func(name string) (*user.User, error) {
		if name == "alice" {
			return &user.User{Username: "alice", HomeDir: "/home/alice"}, nil
		}
		return nil, user.UnknownUserError(name)
	}
	home := func() (string, error) { return "/root", nil }
	for _, c := range []struct {
		euid int
		sudo string
		want string
	}{
		{0, "alice", "/home/alice/.ssh"},
		{0, "", "/root/.ssh"},
		{0, "root", "/root/.ssh"},
		{0, "mallory", "/root/.ssh"},
		{1000, "alice", "/root/.ssh"},
	} {
		got, err := sshDirFor(c.euid, c.sudo, lookup, home)
		if err != nil || got != c.want {
			t.Errorf("euid %d SUDO_USER=%q: %q, %v; want %q", c.euid, c.sudo, got, err, c.want)
		}
	}
	if _, err := sshDirFor(1000, "", lookup, func() (string, error) { return "", errors.New("$HOME is not defined") }); err == nil || !strings.Contains(err.Error(), "authorized_keys FILE") {
		t.Errorf("no home: %v", err)
	}
}

// A first run as a user without XDG_RUNTIME_DIR puts the admin socket in
// Caddy's data directory, which nothing has made yet: it is made, for
// the user alone, so that binding the socket does not fail.
func TestAdminSocketDirIsMadeOnFirstRun(t *testing.T) {
	data := filepath.Join(t.TempDir(), "share", "caddy")
	sock := adminSocketFor(1000, "", func() string { return data })
	if sock != filepath.Join(data, "berth-admin.sock") {
		t.Fatalf("socket %s, want it in %s", sock, data)
	}
	fi, err := os.Stat(data)
	if err != nil || !fi.IsDir() || fi.Mode().Perm() != 0o700 {
		t.Fatalf("data directory: %v, %v; want a directory 0700", fi, err)
	}
	if got := adminSocketFor(1000, "/run/user/1000", func() string { return data }); got != "/run/user/1000/berth-admin.sock" {
		t.Fatalf("with XDG_RUNTIME_DIR: %s", got)
	}
}
