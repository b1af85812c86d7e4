package main

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth"
)

func TestRunWithNoConfigServesTheDefault(t *testing.T) {
	t.Chdir(t.TempDir()) // no ./Caddyfile
	cfg := t.TempDir()
	t.Setenv("XDG_CONFIG_HOME", cfg)
	t.Setenv("BERTH_ADMIN_SOCKET", "/somewhere/admin.sock")
	got, err := withDefaultConfig([]string{"caddy", "run", "--watch"})
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(cfg, "caddy", "berth", "Caddyfile.default")
	if want := []string{"caddy", "run", "--config", path, "--adapter", "caddyfile", "--watch"}; !slices.Equal(got, want) {
		t.Fatalf("args %q, want %q", got, want)
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(string(data), string(berth.DefaultCaddyfile)) {
		t.Error("the written config is not the built-in default")
	}
	if os.Getenv("BERTH_ADMIN_SOCKET") != "/somewhere/admin.sock" {
		t.Error("a BERTH_ADMIN_SOCKET given was replaced")
	}
}

func TestRunWithAConfigIsLeftAlone(t *testing.T) {
	t.Chdir(t.TempDir())
	t.Setenv("XDG_CONFIG_HOME", t.TempDir())
	for _, args := range [][]string{
		{"caddy", "run", "--config", "x"},
		{"caddy", "run", "--config=x"},
		{"caddy", "run", "-c", "x"},
		{"caddy", "run", "--resume"},
		{"caddy", "run", "--adapter", "json"},
		{"caddy", "adapt"},
		{"caddy", "berth", "apps:list"},
		{"caddy"},
	} {
		got, err := withDefaultConfig(slices.Clone(args))
		if err != nil || !slices.Equal(got, args) {
			t.Errorf("%q became %q (%v)", args, got, err)
		}
	}
	// An adjacent Caddyfile is Caddy's to read.
	os.WriteFile("Caddyfile", []byte(":80\n"), 0o600)
	if got, _ := withDefaultConfig([]string{"caddy", "run"}); !slices.Equal(got, []string{"caddy", "run"}) {
		t.Errorf("with ./Caddyfile: %q", got)
	}
}
