// Package tests is Berth's end-to-end suite. It builds the real caddy
// binary with Berth inside, starts it on free loopback ports with its own
// state, and drives it the way a user does: the real git and OpenSSH
// clients, HTTP requests through Caddy, and a real Docker engine. Each
// scenario is a testscript file under testdata/ that reads like a terminal
// session.
//
// Docker, git, ssh and a static busybox are required: without them the
// suite fails, it never skips.
package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"
)

// BaseImage is the local base image test apps build FROM. No registry is
// reachable, so it is made here from Debian's static busybox.
const BaseImage = "berth-test/busybox"

var caddyBin string // the binary under test, built once

func TestMain(m *testing.M) {
	os.Exit(run(m))
}

func run(m *testing.M) int {
	if name := os.Getenv(envEnsureNetwork); name != "" {
		return ensureNetworkChild(name) // a racer of TestEnsureNetworkRace
	}
	for _, tool := range []string{"docker", "git", "ssh", "ssh-keygen", "curl"} {
		if _, err := exec.LookPath(tool); err != nil {
			fmt.Fprintf(os.Stderr, "FAIL: %s is required for the end-to-end tests (see .ci/run): %v\n", tool, err)
			return 1
		}
	}
	if out, err := exec.Command("docker", "info", "--format", "{{.ServerVersion}}").CombinedOutput(); err != nil {
		fmt.Fprintf(os.Stderr, "FAIL: no Docker engine answers (start dockerd; .ci/run does): %v\n%s", err, out)
		return 1
	}
	dir, err := os.MkdirTemp("", "berth-e2e-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	caddyBin = filepath.Join(dir, "caddy")
	build := exec.Command("go", "build", "-race", "-o", caddyBin, "../cmd/caddy")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: building caddy with Berth:", err)
		return 1
	}
	if err := makeBaseImage(dir); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: making the base image:", err)
		return 1
	}
	return m.Run()
}

// makeBaseImage imports a static busybox as BaseImage.
func makeBaseImage(dir string) error {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return fmt.Errorf("busybox is required (apt-get install busybox-static): %w", err)
	}
	if out, _ := exec.Command("file", "-L", busybox).Output(); len(out) > 0 && !bytes.Contains(out, []byte("statically linked")) {
		return fmt.Errorf("%s is not statically linked; install busybox-static", busybox)
	}
	root := filepath.Join(dir, "rootfs")
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, applet := range []string{"sh", "httpd", "echo", "cat", "ls", "sleep", "mkdir", "env", "nc", "true", "false", "wget"} {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			return err
		}
	}
	tar := exec.Command("tar", "-C", root, "-c", ".")
	imp := exec.Command("docker", "import", "-", BaseImage)
	pipe, err := tar.StdoutPipe()
	if err != nil {
		return err
	}
	imp.Stdin = pipe
	var out bytes.Buffer
	imp.Stdout, imp.Stderr = &out, &out
	if err := tar.Start(); err != nil {
		return err
	}
	if err := imp.Run(); err != nil {
		return fmt.Errorf("docker import: %v: %s", err, out.String())
	}
	return tar.Wait()
}

func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata",
		Setup:               setup,
		RequireExplicitExec: true,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"berth":            cmdBerth,
			"get":              cmdGet,
			"await":            cmdAwait,
			"restart-new-ip":   cmdRestartNewIP,
			"load":             cmdLoad,
			"pebble":           cmdPebble,
			"get-tls":          cmdGetTLS,
			"mkcert":           cmdMkcert,
			"tls-internal":     cmdTLSInternal,
			"serviceimage":     cmdServiceImage,
			"githttp":          cmdGitHTTP,
			"sshconns":         cmdSSHConns,
			"await-log":        cmdAwaitLog,
			"await-containers": cmdAwaitContainers,
			"freeport":         cmdFreePort,
		},
	})
}
