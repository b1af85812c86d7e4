package berthtest

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// fakeCaddy writes a shell script that stands in for the caddy binary:
// these tests are of the process handling, not of Caddy.
func fakeCaddy(t *testing.T, script string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "caddy")
	if err := os.WriteFile(path, []byte("#!/bin/sh\n"+script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestCaddyStartReportsTheLogOfAnEarlyExit(t *testing.T) {
	c := &Caddy{Bin: fakeCaddy(t, "echo \"args: $*\"\necho 'Error: adapting config: bad directive' >&2\nexit 1\n"),
		Dir: t.TempDir(), Config: "/w/Caddyfile", Adapter: "caddyfile", Ports: []int{1}}
	_, err := c.Start()
	if err == nil {
		t.Fatal("Start succeeded")
	}
	if !strings.Contains(err.Error(), "exited during start") || !strings.Contains(err.Error(), "bad directive") ||
		!strings.Contains(err.Error(), "args: run --config /w/Caddyfile --adapter caddyfile") {
		t.Errorf("error: %v", err)
	}
}

func TestCaddyStartWaitsForItsPortsAndStopEndsIt(t *testing.T) {
	var ps Ports
	var port int
	if err := ps.Take(&port); err != nil {
		t.Fatal(err)
	}
	// busybox nc stands in for a server that listens only after a while,
	// so Start must wait for it; HOME must be the instance's.
	bin := fakeCaddy(t, "echo \"home $HOME\"\nsleep 0.3\nexec busybox nc -l -p "+itoa(port)+"\n")
	c := &Caddy{Bin: bin, Dir: t.TempDir(), Config: "Caddyfile", Ports: []int{port}, StartLimit: 20 * time.Second}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	if !c.Running() || c.Pid() == 0 {
		t.Errorf("running %v, pid %d", c.Running(), c.Pid())
	}
	if _, err := c.Start(); err == nil {
		t.Error("a second Start succeeded")
	}
	if err := c.Stop(syscall.SIGTERM, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	if c.Running() {
		t.Error("still running after Stop")
	}
	if got, want := c.LogTail(5), "home "+filepath.Join(c.Dir, "home"); got != want {
		t.Errorf("log %q, want %q", got, want)
	}
	if err := c.Stop(syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("Stop of a stopped process: %v", err)
	}
}

func TestCaddyStopKillsWhatIgnoresTheSignal(t *testing.T) {
	c := &Caddy{Bin: fakeCaddy(t, "trap '' TERM\nwhile :; do sleep 0.1; done\n"), Dir: t.TempDir(), Config: "Caddyfile"}
	if _, err := c.Start(); err != nil {
		t.Fatal(err)
	}
	time.Sleep(200 * time.Millisecond) // let the shell set its trap
	err := c.Stop(syscall.SIGTERM, 500*time.Millisecond)
	if err == nil || !strings.Contains(err.Error(), "did not stop") {
		t.Errorf("Stop: %v", err)
	}
	select {
	case <-c.Exited():
	default:
		t.Error("the process still runs")
	}
}

// Reload passes the admin address when given, and leaves it to the
// config file when not; a failed reload says what caddy said.
func TestCaddyReloadArguments(t *testing.T) {
	out := filepath.Join(t.TempDir(), "args")
	c := &Caddy{Bin: fakeCaddy(t, "echo \"$*\" >> "+out+"\n"), Dir: t.TempDir(), Config: "/w/Caddyfile"}
	if err := c.Reload("127.0.0.1:2019"); err != nil {
		t.Fatal(err)
	}
	if err := c.Reload(""); err != nil {
		t.Fatal(err)
	}
	data, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	want := "reload --config /w/Caddyfile --address 127.0.0.1:2019 --force\nreload --config /w/Caddyfile --force\n"
	if string(data) != want {
		t.Errorf("arguments:\n%s\nwant:\n%s", data, want)
	}
	c.Bin = fakeCaddy(t, "echo 'Error: sending configuration: connection refused' >&2\nexit 1\n")
	if err := c.Reload(""); err == nil || !strings.Contains(err.Error(), "connection refused") {
		t.Errorf("Reload of a failing caddy: %v", err)
	}
}

func itoa(n int) string { return strconv.Itoa(n) }
