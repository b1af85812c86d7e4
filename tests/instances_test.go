package tests

import (
	"strconv"

	"github.com/rogpeppe/go-internal/testscript"
)

// cmdFreePort sets each named environment variable to a free TCP port on
// the loopback address, for a script that starts a second Berth of its
// own (with `exec caddy run` and a Caddyfile that reads them as {$NAME}).
//
//	freeport NAME...
func cmdFreePort(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: freeport NAME...")
	}
	inst := ts.Value(instanceKey{}).(*instance)
	for _, name := range args {
		// From the script's ports: never one its own Berth holds.
		var port int
		ts.Check(inst.ports.Take(&port))
		ts.Setenv(name, strconv.Itoa(port))
	}
}
