package gitrecv

// Fuzz targets for what reaches the git door: the repository path git
// sends (FuzzParseGitCommand, command_test.go, and the quoting round trip
// here). The pre-receive hook's ref updates are package repo's
// (FuzzReadRefUpdates).

import (
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// sqQuote quotes s the way git's sq_quote_buf does before it sends the
// repository path over SSH.
func sqQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// FuzzGitPathRoundTrip: for any remote path, what git sends names the
// app the path names when that is a valid app name, and is refused
// otherwise; never another app.
func FuzzGitPathRoundTrip(f *testing.F) {
	for _, s := range []string{"blog", "/blog.git", "www.example.org", "a'b", "../etc", "/a/b", "blog/", "-x", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, path string) {
		raw := ReceivePack + " " + sqQuote(path)
		service, app, ok, err := ParseGitCommand(raw)
		if !ok || service != ReceivePack {
			t.Fatalf("%q not taken for a push: %q %v", raw, service, ok)
		}
		want := strings.TrimSuffix(strings.TrimSuffix(strings.TrimPrefix(path, "/"), "/"), ".git")
		if platform.ValidateAppName(want) != nil {
			if err == nil {
				t.Fatalf("%q accepted as app %q", raw, app)
			}
			return
		}
		if err != nil || app != want {
			t.Fatalf("%q gave app %q, %v; want %q", raw, app, err, want)
		}
	})
}

// FuzzRedact: Berth's log of an SSH command never holds a config:set
// value, a run -e value or a --password, however the command line is
// written (global options first, as Dokku's client sends it).
func FuzzRedact(f *testing.F) {
	f.Add("config:set", "blog", "s3cret")
	f.Add("postgres:create", "--password", "hunter22")
	f.Add("config:set", "--global", "a b=c")
	f.Fuzz(func(t *testing.T, name, arg, secret string) {
		if len(secret) < 4 || strings.HasPrefix(arg, "--") || strings.Contains(name+" "+arg+" --app="+arg, secret) || strings.Contains(secret, "*") {
			// Short secrets turn up in the rest of the line by chance; a
			// flag in arg's place takes the next word as its value, as the
			// commands' parseFlags does; a secret that is also the
			// command or the app, or part of --app=APP (config:set 0000
			// KEY=0000; --app=000 with KEY==000), is rightly shown there;
			// and one with the mask's "*" can be spelled by the mask and
			// the next word ("* 00" in "KEY=*** 00"), which shows nothing.
			return
		}
		for _, args := range [][]string{
			{"config:set", arg, "KEY=" + secret},
			{"config:set", arg, "KEY=" + secret, "OTHER=" + secret},
			{"--app", arg, "config:set", "KEY=" + secret},
			{"--app=" + arg, "--quiet", "config:set", "--no-restart", "KEY=" + secret},
			{"--quiet", "config:set", arg, "KEY=" + secret},
			{"run", "-e", "KEY=" + secret, arg, "env"},
			{"--app", arg, "run", "--env", "KEY=" + secret, "env"},
			{"run:detached", arg, "--env=KEY=" + secret, "env"},
			{name, arg, "--password", secret},
			{name, "--password=" + secret, arg},
		} {
			logged := redact(args)
			var rest []string
			for _, a := range args {
				if !strings.Contains(a, secret) {
					rest = append(rest, a)
				}
			}
			if strings.Contains(logged, secret) && !strings.Contains(strings.Join(rest, " ")+" KEY=*** OTHER=*** --password=*** --env=KEY=***", secret) {
				t.Fatalf("%q is logged as %q", args, logged)
			}
		}
	})
}
