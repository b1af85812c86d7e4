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
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berth-paas/berth/internal/berthtest"
)

// BaseImage is the local base image test apps build FROM. No registry is
// reachable, so it is made here from Debian's static busybox.
const BaseImage = "berth-test/busybox"

var (
	caddyBin   string // the binary under test, built once
	moduleRoot string // Berth's module, where go build runs
)

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
	if moduleRoot, err = berthtest.ModuleRoot(); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL:", err)
		return 1
	}
	if err := berthtest.BuildCaddy(moduleRoot, caddyBin, true); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: building caddy with Berth:", err)
		return 1
	}
	if err := berthtest.ImportBusybox(dir, BaseImage); err != nil {
		fmt.Fprintln(os.Stderr, "FAIL: making the base image:", err)
		return 1
	}
	return m.Run()
}

func TestScripts(t *testing.T) {
	testscript.Run(t, scriptParams("testdata", nil))
}

// TestSerialScripts runs the scripts of testdata/serial one at a time,
// after every other script has finished (Go runs top-level tests one
// after another, and each testscript.Run here waits for its script).
// These scripts set build limits on the engine's BuildKit cgroup, which is
// one for every dockerd and every Berth on the host (see
// docker/buildcgroup.go): another script's build starting or ending in
// the middle would raise or lift the limit they assert, or their small
// limit would kill the other script's build. scheduler_swarm is here too:
// its private engine's bridge has the address restore's has, and swarm
// mode makes a host bridge of a fixed name (docker_gwbridge).
func TestSerialScripts(t *testing.T) {
	files, err := filepath.Glob(filepath.Join("testdata", "serial", "*.txtar"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no scripts in testdata/serial (%v)", err)
	}
	for _, f := range files {
		t.Run(strings.TrimSuffix(filepath.Base(f), ".txtar"), func(t *testing.T) {
			testscript.Run(t, scriptParams("", []string{f}))
		})
	}
}

// scriptParams are the suite's testscript parameters: the scripts of dir,
// or the given files when dir is "".
func scriptParams(dir string, files []string) testscript.Params {
	return testscript.Params{
		Dir:                 dir,
		Files:               files,
		Setup:               setup,
		RequireExplicitExec: true,
		Condition:           condition,
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"berth":              cmdBerth,
			"get":                cmdGet,
			"await":              cmdAwait,
			"restart-new-ip":     cmdRestartNewIP,
			"load":               cmdLoad,
			"pebble":             cmdPebble,
			"get-tls":            cmdGetTLS,
			"mkcert":             cmdMkcert,
			"tls-internal":       cmdTLSInternal,
			"serviceimage":       cmdServiceImage,
			"githttp":            cmdGitHTTP,
			"sshconns":           cmdSSHConns,
			"await-log":          cmdAwaitLog,
			"await-containers":   cmdAwaitContainers,
			"freeport":           cmdFreePort,
			"herokuishimage":     cmdHerokuishImage,
			"privdockerd":        cmdPrivateDockerd,
			"ensure-overlay":     cmdEnsureOverlay,
			"swarmworker":        cmdSwarmWorker,
			"cnbbuilder":         cmdCNBBuilder,
			"engine-socket-mode": cmdEngineSocketMode,
			"browser":            cmdBrowser,
			"browser-metrics":    cmdBrowserMetrics,
			"browser-deploy":     cmdBrowserDeploy,
			"browser-config":     cmdBrowserConfig,
			"browser-pages":      cmdBrowserPages,
			"tcp":                cmdTCP,
			"ws":                 cmdWS,
			"wsappimage":         cmdWSAppImage,
			"userregistry":       cmdUserRegistry,
			"wsappbin":           cmdWSAppBin,
		},
	}
}
