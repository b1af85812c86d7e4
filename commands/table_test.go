package commands

import (
	"flag"
	"fmt"
	"os"
	"strings"
	"testing"
)

// scopeOf is the scope of the named command; none for an unknown one.
func scopeOf(name string) scope {
	c, _ := lookup(name)
	return c.scope
}

// TestTableEntries checks what every entry of the table must have.
func TestTableEntries(t *testing.T) {
	if len(table) == 0 {
		t.Fatal("the table is empty")
	}
	seen := map[string]bool{}
	for _, c := range table {
		switch c.scope {
		case openScope, appScope, adminScope:
		default:
			t.Errorf("%s states no scope: begin its entry with openScope, appScope or adminScope", c.name)
		}
		if c.name == "" || strings.ContainsAny(c.name, " \t") {
			t.Errorf("command %q: a name is one word", c.name)
		}
		if seen[c.name] {
			t.Errorf("%s is in the table twice", c.name)
		}
		seen[c.name] = true
		if c.usage != c.name && !strings.HasPrefix(c.usage, c.name+" ") {
			t.Errorf("%s: usage %q does not start with the command's name", c.name, c.usage)
		}
		if c.summary == "" {
			t.Errorf("%s has no summary", c.name)
		}
		if c.run == nil {
			t.Errorf("%s has nothing to run", c.name)
		}
		// Authorize lets a deploy key run an app command when its first
		// argument is the key's app: the command must read its first
		// argument as the app ([APP]: an admin may leave it out).
		if c.scope == appScope && !strings.HasPrefix(c.usage, c.name+" APP") && !strings.HasPrefix(c.usage, c.name+" [APP]") {
			t.Errorf("%s is app-scoped, but its usage %q does not take the app first", c.name, c.usage)
		}
	}
}

var update = flag.Bool("update", false, "rewrite testdata/deploy-key-commands.txt from the table")

// TestDeployKeyCommands pins what a deploy key may run:
// testdata/deploy-key-commands.txt lists every open and app-scoped
// command, so that a command a deploy key gains shows in review as a
// change of that file. (Admin commands, the default for anything that
// acts beyond one app, are not listed: adding one, or a service type,
// changes nothing there.) After a deliberate change, run
// go test ./commands -run TestDeployKeyCommands -update.
func TestDeployKeyCommands(t *testing.T) {
	var b strings.Builder
	fmt.Fprintln(&b, "# The commands a deploy key may run (scope open or app, see access.go); every other one is admin-only.")
	fmt.Fprintln(&b, "# Written by go test ./commands -run TestDeployKeyCommands -update.")
	for _, c := range table {
		if c.scope == openScope || c.scope == appScope {
			fmt.Fprintf(&b, "%-4s %s\n", c.scope, c.name)
		}
	}
	const file = "testdata/deploy-key-commands.txt"
	if *update {
		if err := os.WriteFile(file, []byte(b.String()), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./commands -run TestDeployKeyCommands -update to write it)", err)
	}
	if got := b.String(); got != string(want) {
		t.Errorf("what a deploy key may run differs from %s; if the change is meant, run go test ./commands -run TestDeployKeyCommands -update and review the diff.\ngot:\n%s", file, got)
	}
}
