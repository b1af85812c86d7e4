package berthtest

import (
	"os"
	"path/filepath"
	"testing"
)

func TestLogTail(t *testing.T) {
	path := filepath.Join(t.TempDir(), "caddy.log")
	if got := LogTail(path, 3); got != "" {
		t.Errorf("missing file: %q", got)
	}
	if err := os.WriteFile(path, []byte("1\n2\n3\n4\n5\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if got := LogTail(path, 3); got != "3\n4\n5" {
		t.Errorf("last 3 = %q", got)
	}
	if got := LogTail(path, 10); got != "1\n2\n3\n4\n5" {
		t.Errorf("last 10 of 5 = %q", got)
	}
}
