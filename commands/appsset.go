package commands

import (
	"context"
	"fmt"
)

// appsSetCommands is Dokku's apps:set: its one property,
// disable-autocreation, is global.
var appsSetCommands = []command{
	{adminScope, "apps:set", "apps:set --global disable-autocreation [true|false]", "Refuse pushes to apps that do not exist (true), or let a push create its app (false or no value: the default)", appsSet},
}

func appsSet(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, global := flags["global"]
	if !global {
		if len(pos) >= 2 && pos[1] == "disable-autocreation" {
			return usageError{"disable-autocreation is global only: apps:set --global disable-autocreation true"}
		}
		return usageError{"apps:set takes --global disable-autocreation [true|false]"}
	}
	if len(pos) < 1 || len(pos) > 2 {
		return usageError{"give the property disable-autocreation and, to set it, true or false"}
	}
	key, value := pos[0], ""
	if len(pos) == 2 {
		value = pos[1]
	}
	if key != "disable-autocreation" {
		return usageError{fmt.Sprintf("unknown apps property %q; apps:set takes --global disable-autocreation", key)}
	}
	if value != "" && value != "true" && value != "false" {
		return usageError{fmt.Sprintf("disable-autocreation %q: give true or false (no value: the default, false)", value)}
	}
	g, err := part(p.Globals, "the global settings")
	if err != nil {
		return err
	}
	if err := g.SetDisableAutocreation(ctx, value == "true"); err != nil {
		return err
	}
	// Dokku's lines.
	settingLine(out.Stdout, key, value)
	return nil
}
