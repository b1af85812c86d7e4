package commands

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

func TestAuthorizeEveryCommandNamingAnotherAppIsRefused(t *testing.T) {
	for _, c := range table {
		for _, args := range [][]string{
			{c.name, "other"},
			{c.name, "other", "mine"},
			{c.name, "--app", "mine", "other"},
			{c.name},
		} {
			if c.scope == openScope {
				continue
			}
			if err := Authorize("mine", args); !errors.Is(err, ErrForbidden) {
				t.Errorf("Authorize(mine, %q) = %v; want forbidden", args, err)
			}
		}
	}
}

func TestAuthorizeOwnAppCommandsAreAllowed(t *testing.T) {
	n := 0
	for _, c := range table {
		if c.scope != appScope {
			continue
		}
		n++
		if err := Authorize("mine", []string{c.name, "mine", "x"}); err != nil {
			t.Errorf("%s on its own app: %v", c.name, err)
		}
	}
	if n == 0 {
		t.Fatal("no app-scoped command in the table")
	}
}

func TestAuthorizeOpenCommandsAreAllowed(t *testing.T) {
	for _, args := range [][]string{nil, {"help"}, {"version"}, {"help", "other"}} {
		if err := Authorize("mine", args); err != nil {
			t.Errorf("Authorize(mine, %q) = %v; want allowed", args, err)
		}
	}
}

func TestAuthorizeNoAdminCommandForADeployKey(t *testing.T) {
	// An admin-scoped command is refused however it is called, naming the
	// key's app first or not.
	n := 0
	for _, c := range table {
		if c.scope != adminScope {
			continue
		}
		n++
		for _, args := range [][]string{{c.name}, {c.name, "mine"}, {c.name, "mine", "mine"}, {c.name, "--app", "mine"}} {
			if err := Authorize("mine", args); !errors.Is(err, ErrForbidden) {
				t.Errorf("Authorize(mine, %q) = %v; want forbidden", args, err)
			}
		}
	}
	if n == 0 {
		t.Fatal("no admin command in the table")
	}
}

func TestAuthorizeUnknownCommandIsForAdmins(t *testing.T) {
	err := Authorize("mine", []string{"no-such:command", "mine"})
	if !errors.Is(err, ErrForbidden) || !strings.Contains(err.Error(), "is for admin keys") {
		t.Errorf("unknown command by a deploy key: %v; want forbidden, for admin keys", err)
	}
}

func TestAuthorizeMessages(t *testing.T) {
	// tests/testdata/keys.txtar and the security scripts read these.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"apps:create", "mine"}, "this key may only deploy and manage app mine; apps:create is for admin keys"},
		{[]string{"config:show", "other"}, "this key may only manage app mine: name it first (config:show mine ...)"},
		{[]string{"config:set", "mine", "--global", "A=b"}, "this key may not change global settings"},
	} {
		if err := Authorize("mine", tc.args); err == nil || err.Error() != tc.want {
			t.Errorf("Authorize(mine, %q) = %v; want %q", tc.args, err, tc.want)
		}
	}
}

func TestAuthorizeAdminCommandsAreRefusedEvenOnOwnApp(t *testing.T) {
	for _, name := range []string{"apps:create", "apps:destroy", "apps:list", "ssh-keys:add", "ssh-keys:list", "ssh-keys:remove", "domains:add", "domains:set",
		"network:create", "network:destroy", "network:set", "storage:mount", "storage:unmount", "docker-options:add", "docker-options:remove", "docker-options:clear"} {
		if err := Authorize("mine", []string{name, "mine"}); !errors.Is(err, ErrForbidden) {
			t.Errorf("%s by a deploy key: %v; want forbidden", name, err)
		}
	}
}

func TestAuthorizeGlobalFormsAreRefused(t *testing.T) {
	for _, args := range [][]string{
		{"domains:report", "mine", "--global"},
		{"config:set", "mine", "--global=1", "A=b"},
	} {
		if err := Authorize("mine", args); !errors.Is(err, ErrForbidden) {
			t.Errorf("Authorize(mine, %q) = %v; want forbidden", args, err)
		}
	}
}

func FuzzAuthorize(f *testing.F) {
	f.Add("config:set", "mine", "A=b")
	f.Add("logs", "-p", "mine")
	f.Add("domains:add", "mine", "--global")
	f.Add("--app", "mine", "config:show")
	f.Add("--app=other", "config:show", "mine")
	f.Add("--force", "apps:destroy", "mine")
	f.Fuzz(func(t *testing.T, name, a1, a2 string) {
		args := []string{name, a1, a2}
		if Authorize("mine", args) != nil {
			return
		}
		// Whatever is allowed names the key's app first, once the global
		// options are resolved as Exec resolves them, and is an app command
		// or an open one.
		resolved, _, err := resolve(args)
		if err != nil {
			t.Fatalf("allowed %q, which Exec refuses: %v", args, err)
		}
		if len(resolved) == 0 || slices.Contains(namespaces(), resolved[0]) {
			return // help, or a namespace's help ("config")
		}
		c, _ := lookup(resolved[0])
		if c.scope != openScope && (len(resolved) < 2 || resolved[1] != "mine" || c.scope != appScope) {
			t.Fatalf("allowed %q (resolved %q)", args, resolved)
		}
	})
}

// A swarm task's port is published on every interface of its node, a
// weaker boundary than docker-local's: a deploy key may not move its own
// app there (an admin does, knowing the firewall it needs).
func TestADeployKeyMayNotChooseItsAppsScheduler(t *testing.T) {
	if err := Authorize("mine", []string{"scheduler:set", "mine", "selected", "swarm"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("scheduler:set by a deploy key on its own app: %v; want forbidden", err)
	}
	if err := Authorize("mine", []string{"scheduler:report", "mine"}); err != nil {
		t.Fatalf("scheduler:report by a deploy key on its own app: %v", err)
	}
	// Placement moves the app's tasks between nodes: the admin's, too.
	if err := Authorize("mine", []string{"scheduler-swarm:set", "mine", "placement", "node.role==worker"}); !errors.Is(err, ErrForbidden) {
		t.Fatalf("scheduler-swarm:set by a deploy key on its own app: %v; want forbidden", err)
	}
	if err := Authorize("mine", []string{"scheduler-swarm:report", "mine"}); err != nil {
		t.Fatalf("scheduler-swarm:report by a deploy key on its own app: %v", err)
	}
}
