package caddymodule

import (
	"os"

	caddycmd "github.com/caddyserver/caddy/v2/cmd"

	"github.com/berth-paas/berth/gitrecv"
)

func init() {
	// git runs this as the pre-receive hook of every app repository; see
	// package gitrecv. It is not meant to be run by hand.
	caddycmd.RegisterCommand(caddycmd.Command{
		Name:  gitrecv.HookCommand,
		Short: "Berth's git pre-receive hook (run by git, not by people)",
		Long:  "git runs this as the pre-receive hook of Berth's app repositories. It hands the push to the running Berth server and relays the build log.",
		Func: func(caddycmd.Flags) (int, error) {
			// Exit directly: Caddy's command wrapper turns status 1 without an
			// error into 0, and a hook that fails must reject the push.
			if code := gitrecv.HookMain(); code != 0 {
				os.Exit(code)
			}
			return 0, nil
		},
	})
}
