package caddymodule

import (
	"errors"
	"fmt"
	"os"
	"os/user"
	"path/filepath"
	"slices"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/caddyserver/caddy/v2"

	"github.com/berth-paas/berth/gitrecv"
)

// homeKeys are the admin keys Berth takes when no authorized_keys file is
// given: the public keys in the .ssh directory of the user who runs it,
// so that the first run on a fresh machine needs no key file and whoever
// started Berth can push to it from the same account.
type homeKeys struct {
	Dir   string   // the .ssh directory read
	Files []string // the *.pub files the keys came from, in order
	Keys  []gossh.PublicKey
}

// userSSHDir is the .ssh directory whose public keys are the admins' when
// no authorized_keys is given: that of the user who ran sudo when Berth
// runs as root under sudo (sudo sets HOME to root's, whose ~/.ssh is not
// where the person at the keyboard keeps keys), else $HOME/.ssh.
func userSSHDir() (string, error) {
	return sshDirFor(os.Geteuid(), os.Getenv("SUDO_USER"), user.Lookup, os.UserHomeDir)
}

// sshDirFor is userSSHDir's rule, given the process's effective user ID,
// SUDO_USER, and how to look a user and the home directory up.
func sshDirFor(euid int, sudoUser string, lookup func(string) (*user.User, error), homeDir func() (string, error)) (string, error) {
	if sudoUser != "" && sudoUser != "root" && euid == 0 {
		if u, err := lookup(sudoUser); err == nil && u.HomeDir != "" {
			return filepath.Join(u.HomeDir, ".ssh"), nil
		}
	}
	home, err := homeDir()
	if err != nil {
		return "", fmt.Errorf("no authorized_keys file is given, and this user's home directory is unknown (%v): name a file of OpenSSH public keys with authorized_keys FILE in the berth block", err)
	}
	return filepath.Join(home, ".ssh"), nil
}

// readHomeKeys reads every public key in dir/*.pub (OpenSSH certificates,
// *-cert.pub, are left out: Berth takes plain keys only). A file that is
// not a public key is an error naming it, as a bad line of an
// authorized_keys file is; no key at all is an error saying what to do.
func readHomeKeys(dir string) (homeKeys, error) {
	hk := homeKeys{Dir: dir}
	files, err := filepath.Glob(filepath.Join(dir, "*.pub"))
	if err != nil {
		return hk, err
	}
	slices.Sort(files)
	for _, f := range files {
		if strings.HasSuffix(f, "-cert.pub") {
			continue
		}
		data, err := os.ReadFile(f)
		if err != nil {
			return hk, fmt.Errorf("no authorized_keys file is given, so the admin keys are %s/*.pub, and %s cannot be read: %w (name a file of OpenSSH public keys with authorized_keys FILE in the berth block)", dir, f, err)
		}
		keys, err := gitrecv.ParseAuthorizedKeys(data)
		if err != nil {
			return hk, fmt.Errorf("no authorized_keys file is given, so the admin keys are %s/*.pub, and %s is not a plain public key: %w (move it out of %s, or name a file of OpenSSH public keys with authorized_keys FILE in the berth block)", dir, f, err, dir)
		}
		if len(keys) == 0 {
			continue
		}
		hk.Files = append(hk.Files, f)
		hk.Keys = append(hk.Keys, keys...)
	}
	if len(hk.Keys) == 0 {
		return hk, errors.New(noHomeKeysMessage(dir))
	}
	return hk, nil
}

// noHomeKeysMessage is the refusal to start without any admin key.
func noHomeKeysMessage(dir string) string {
	return fmt.Sprintf("no authorized_keys file is given and %s has no public key (*.pub), so nobody could push: "+
		"make a key with `ssh-keygen -t ed25519` as the user who will push (and run Berth as that user, or under sudo from it), "+
		"or list the keys that may push in a file (OpenSSH authorized_keys format) and name it with `authorized_keys FILE` in the berth block", dir)
}

// takeHomeKeys reads the admin keys from the running user's ~/.ssh/*.pub
// and logs which files they came from: the user must see whose keys may
// push, since no config named them.
func (a *App) takeHomeKeys() ([]gossh.PublicKey, error) {
	dir, err := userSSHDir()
	if err != nil {
		return nil, err
	}
	hk, err := readHomeKeys(dir)
	if err != nil {
		return nil, err
	}
	fps := make([]string, len(hk.Keys))
	for i, k := range hk.Keys {
		fps[i] = gossh.FingerprintSHA256(k)
	}
	a.log.Info("no authorized_keys file is given: the admin keys (who may push and run every command) are this user's public keys; name a file with authorized_keys FILE in the berth block to choose others",
		"files", hk.Files, "keys", fps)
	return hk.Keys, nil
}

// AdminSocketEnv names the environment variable the shipped default
// Caddyfile takes its admin socket from (admin unix/{$BERTH_ADMIN_SOCKET:...}).
const AdminSocketEnv = "BERTH_ADMIN_SOCKET"

// UserAdminSocket is the admin socket of the default config for the user
// who runs Berth: DefaultAdminSocket as root; else a socket in the user's
// runtime directory ($XDG_RUNTIME_DIR, which only that user may enter),
// else in Caddy's data directory, since /run is root's.
//
// The data directory is created (0700) if need be: on a first run nothing
// has made it yet, and Caddy's listen would fail with "bind: no such file
// or directory".
func UserAdminSocket() string {
	return adminSocketFor(os.Geteuid(), os.Getenv("XDG_RUNTIME_DIR"), caddy.AppDataDir)
}

// adminSocketFor is UserAdminSocket's rule, given the effective user ID,
// XDG_RUNTIME_DIR and how to find Caddy's data directory.
func adminSocketFor(euid int, runtimeDir string, dataDir func() string) string {
	if euid == 0 {
		return DefaultAdminSocket
	}
	if runtimeDir != "" {
		return filepath.Join(runtimeDir, "berth-admin.sock")
	}
	dir := dataDir()
	// An error shows when Caddy binds the socket, naming the path.
	_ = os.MkdirAll(dir, 0o700)
	return filepath.Join(dir, "berth-admin.sock")
}

// adminSocketCandidates are the admin sockets `caddy berth` tries, in
// order, when told no address: the environment's, Caddyfile.example's,
// and the default config's for this user.
func adminSocketCandidates() []string {
	var c []string
	if s := os.Getenv(AdminSocketEnv); s != "" {
		c = append(c, s)
	}
	c = append(c, DefaultAdminSocket)
	if s := UserAdminSocket(); s != DefaultAdminSocket {
		c = append(c, s)
	}
	return c
}
