package gitrecv

import (
	"strings"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/repo"
)

// secretFlags are the options whose values are secrets.
var secretFlags = []string{"password"}

// redact returns the command for Berth's log, with secrets replaced by
// "***": the values of --password, of config:set's KEY=VALUE assignments
// and of run's and run:detached's -e/--env KEY=VALUE (the keys stay, so
// the log still says what was set), and the credentials of URLs (git:sync
// https://user:TOKEN@host/repo.git). The command is found after the
// global options the way the commands find it (`--app blog config:set
// K=V` is what Dokku's client sends).
func redact(args []string) string {
	out := make([]string, len(args))
	at := len(args) - len(commands.CommandLine(args)) // the command's index
	var command string
	if at < len(args) {
		command = args[at]
	}
	config := command == "config:set"
	// registry:login's password belongs on stdin (the command refuses
	// it in the line), but a line that has one must not log it: every
	// word after APP|SERVER and SERVER|USER is hidden.
	login, positional := command == "registry:login", 0
	run := command == "run" || command == "run:detached"
	assignment := func(a string) string {
		if k, _, ok := strings.Cut(a, "="); ok {
			return k + "=***"
		}
		return a
	}
	for i := 0; i < len(args); i++ {
		a := args[i]
		out[i] = repo.RedactURL(a)
		if run && i > at {
			// run's -e values, wherever they are: a word after the
			// app's command that looks like one is hidden too, which
			// costs the log little.
			switch {
			case a == "-e" || a == "--env":
				if i+1 < len(args) {
					i++
					out[i] = assignment(args[i])
				}
				continue
			case strings.HasPrefix(a, "--env=") || strings.HasPrefix(a, "-e="):
				flag, kv, _ := strings.Cut(a, "=")
				out[i] = flag + "=" + assignment(kv)
				continue
			case strings.HasPrefix(a, "-e") && strings.Contains(a, "="):
				out[i] = "-e" + assignment(a[2:])
				continue
			}
		}
		if name, ok := strings.CutPrefix(a, "--"); ok {
			name, _, hasValue := strings.Cut(name, "=")
			for _, f := range secretFlags {
				if name != f {
					continue
				}
				if hasValue {
					out[i] = "--" + name + "=***"
				} else if i+1 < len(args) {
					i++
					out[i] = "***"
				}
			}
			continue
		}
		if config && i > at {
			out[i] = assignment(a)
		}
		if login && i > at {
			if positional++; positional > 2 {
				out[i] = "***"
			}
		}
	}
	return strings.Join(out, " ")
}
