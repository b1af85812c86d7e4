package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// cnbBuilder is the CNB builder of the pack tests, made once per run.
var cnbBuilder struct {
	once sync.Once
	err  error
	took time.Duration
}

// cmdCNBBuilder makes the images berth-test/builder:latest and
// berth-test/run:latest with cnb/build-builder.sh (the CNB lifecycle
// compiled from the Go module proxy, a shell buildpack), once per test
// run: the scripts that build with pack call it first. The first call
// takes minutes on a machine without Go's build cache of the lifecycle;
// its time is logged.
//
//	cnbbuilder
func cmdCNBBuilder(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: cnbbuilder")
	}
	cnbBuilder.once.Do(func() {
		script, err := filepath.Abs(filepath.Join("cnb", "build-builder.sh"))
		if err != nil {
			cnbBuilder.err = err
			return
		}
		start := time.Now()
		out, err := exec.Command(script).CombinedOutput()
		cnbBuilder.took = time.Since(start)
		if err != nil {
			cnbBuilder.err = fmt.Errorf("cnb/build-builder.sh: %v\n%s", err, out)
		}
	})
	ts.Logf("the CNB test builder was ready in %s (once per run)", cnbBuilder.took.Round(time.Second))
	ts.Check(cnbBuilder.err)
}

// cmdEngineSocketMode sets the permission bits of the suite engine's
// unix socket (DOCKER_HOST, or /var/run/docker.sock) to MODE, in octal,
// and sets them back when the script ends, failed or not. Only serial
// scripts may use it: every script beside would meet the changed socket.
//
//	engine-socket-mode MODE
func cmdEngineSocketMode(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: engine-socket-mode MODE")
	}
	mode, err := strconv.ParseUint(args[0], 8, 32)
	ts.Check(err)
	sock := "/var/run/docker.sock"
	if host := ts.Getenv("DOCKER_HOST"); host != "" {
		path, ok := strings.CutPrefix(host, "unix://")
		if !ok {
			ts.Fatalf("engine-socket-mode: the engine %s is not a unix socket", host)
		}
		sock = path
	}
	fi, err := os.Stat(sock)
	ts.Check(err)
	was := fi.Mode().Perm()
	ts.Defer(func() { os.Chmod(sock, was) })
	ts.Check(os.Chmod(sock, os.FileMode(mode)))
	ts.Logf("%s: mode %o (was %o)", sock, mode, was)
}
