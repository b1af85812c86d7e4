package gitrecv

import (
	"strings"

	"github.com/berth-paas/berth/repo"
)

// secretFlags are the options whose values are secrets.
var secretFlags = []string{"password"}

// redact returns the command for Berth's log, with secrets replaced by
// "***": the values of --password, and of config:set's KEY=VALUE
// assignments (the keys stay, so the log still says what changed), and the
// credentials of URLs (git:sync https://user:TOKEN@host/repo.git).
func redact(args []string) string {
	out := make([]string, len(args))
	config := len(args) > 0 && args[0] == "config:set"
	for i := 0; i < len(args); i++ {
		a := args[i]
		out[i] = repo.RedactURL(a)
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
		if k, _, ok := strings.Cut(a, "="); ok && config && i > 0 {
			out[i] = k + "=***"
		}
	}
	return strings.Join(out, " ")
}
