package caddymodule

import (
	"crypto/sha256"
	"encoding/hex"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-paas/berth/gitrecv"
)

// A state directory too deep for a unix socket path used to put the hook
// socket at a name in the temporary directory that anyone could compute
// and make first, which kept Berth from starting. Something in the way at
// that old name must not matter now, and the socket's directory must be
// private.
func TestHookSocketOfADeepStateDirIsPrivate(t *testing.T) {
	tmp := t.TempDir()
	t.Setenv("TMPDIR", tmp)
	stateDir := filepath.Join(t.TempDir(), strings.Repeat("deep/", 25))
	// What another local user could make at the old name: something Berth
	// cannot remove.
	sum := sha256.Sum256([]byte(stateDir))
	old := filepath.Join(tmp, "berth-"+hex.EncodeToString(sum[:6])+".sock")
	if err := os.MkdirAll(filepath.Join(old, "squatter"), 0o755); err != nil {
		t.Fatal(err)
	}

	socket, dir, err := hookSocketPath(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	if dir == "" || filepath.Dir(socket) != dir || !strings.HasPrefix(dir, tmp) {
		t.Fatalf("socket %s in dir %q: want a new directory in %s", socket, dir, tmp)
	}
	fi, err := os.Stat(dir)
	if err != nil {
		t.Fatal(err)
	}
	if perm := fi.Mode().Perm(); perm != 0o700 {
		t.Fatalf("socket directory %s has mode %o, want 700", dir, perm)
	}
	r := gitrecv.NewReceiver(nil, nil, nil, nil, "", socket, slog.Default())
	if err := r.Start(); err != nil {
		t.Fatalf("the hook socket does not start with something at the old name %s: %v", old, err)
	}
	if err := r.Close(t.Context()); err != nil {
		t.Fatal(err)
	}
	(&core{socketDir: dir}).removeSocketDir()
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Fatalf("the socket directory %s is left behind: %v", dir, err)
	}

	// A second Berth with the same deep state directory gets its own.
	s2, d2, err := hookSocketPath(stateDir)
	if err != nil {
		t.Fatal(err)
	}
	defer os.RemoveAll(d2)
	if s2 == socket {
		t.Fatalf("the socket path %s is predictable", s2)
	}
}
