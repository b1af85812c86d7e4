package commands

import (
	"errors"
	"slices"
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
			if slices.Contains(openCommands, c.name) {
				continue
			}
			if err := Authorize("mine", args); !errors.Is(err, ErrForbidden) {
				t.Errorf("Authorize(mine, %q) = %v; want forbidden", args, err)
			}
		}
	}
}

func TestAuthorizeOwnAppCommandsAreAllowed(t *testing.T) {
	for _, name := range appCommands {
		if err := Authorize("mine", []string{name, "mine", "x"}); err != nil {
			t.Errorf("%s on its own app: %v", name, err)
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

func TestAppCommandsAreInTheTable(t *testing.T) {
	// A name listed here but missing from the table would hide a typo.
	for _, name := range appCommands {
		if !slices.ContainsFunc(table, func(c command) bool { return c.name == name }) {
			t.Errorf("appCommands lists %s, which is not a command", name)
		}
	}
}

func FuzzAuthorize(f *testing.F) {
	f.Add("config:set", "mine", "A=b")
	f.Add("logs", "-p", "mine")
	f.Add("domains:add", "mine", "--global")
	f.Fuzz(func(t *testing.T, name, a1, a2 string) {
		args := []string{name, a1, a2}
		if Authorize("mine", args) != nil {
			return
		}
		// Whatever is allowed names the key's app first and is an app
		// command or an open one.
		if !slices.Contains(openCommands, name) && (a1 != "mine" || !slices.Contains(appCommands, name)) {
			t.Fatalf("allowed %q", args)
		}
	})
}
