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
	for _, name := range args {
		port, err := freePort()
		ts.Check(err)
		ts.Setenv(name, strconv.Itoa(port))
	}
}
