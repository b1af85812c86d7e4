package gitrecv

// Fuzz targets for what reaches the git door: the repository path git
// sends (FuzzParseGitCommand, command_test.go, and the quoting round trip
// here) and the pre-receive hook's ref updates.

import (
	"fmt"
	"slices"
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

// FuzzReadRefUpdates: the hook's stdin is read whole into three-field
// updates or refused with nothing, and PlanPush deploys at most the deploy
// branch, never deletes it, and accounts for every update.
func FuzzReadRefUpdates(f *testing.F) {
	f.Add(zero+" "+revA+" refs/heads/main\n"+revA+" "+revB+" refs/heads/dev\n", "")
	f.Add(revA+" "+zero+" refs/heads/main\n", "main")
	f.Add(zero+" "+revA+" refs/heads/master\n"+zero+" "+revB+" refs/heads/main\n", "")
	f.Add(zero+" "+revA+" refs/heads/main\n"+zero+" "+revB+" refs/heads/main\n", "")
	f.Add("garbage\n", "")
	f.Add(zero+" "+revA+" refs/heads/dev\n"+zero+" "+revA+" refs/heads/main"+strings.Repeat("x", 70000), "")
	f.Fuzz(func(t *testing.T, stdin, branch string) {
		updates, err := ReadRefUpdates(strings.NewReader(stdin))
		if err != nil {
			if updates != nil {
				t.Fatalf("refused (%v) but read %q", err, updates)
			}
			return
		}
		for _, u := range updates {
			for _, field := range []string{u.Old, u.New, u.Ref} {
				if field == "" || strings.ContainsAny(field, " \t\n\r") {
					t.Fatalf("%q read as %+v", stdin, u)
				}
			}
		}
		plan, err := PlanPush(branch, updates)
		if err != nil {
			if plan.Deploy != nil || plan.Stored != nil || plan.Branch != "" {
				t.Fatalf("refused (%v) but planned %+v", err, plan)
			}
			return
		}
		if branch != "" && plan.Branch != branch {
			t.Fatalf("deploy branch %q became %q", branch, plan.Branch)
		}
		deployed := 0
		if d := plan.Deploy; d != nil {
			deployed = 1
			if d.Ref != "refs/heads/"+plan.Branch || d.Deletes() {
				t.Fatalf("plan deploys %+v on branch %q", d, plan.Branch)
			}
		}
		for _, u := range plan.Stored {
			if plan.Branch != "" && u.Ref == "refs/heads/"+plan.Branch {
				t.Fatalf("deploy branch update %+v only stored", u)
			}
		}
		// One deploy per push: two updates of the deploy branch in one push
		// would deploy one and drop the other.
		if n := len(plan.Stored) + deployed; n != len(updates) {
			t.Fatalf("%d updates planned as %d: %+v", len(updates), n, plan)
		}
		if plan.Branch == "" && slices.ContainsFunc(updates, func(u RefUpdate) bool {
			return (u.Ref == "refs/heads/main" || u.Ref == "refs/heads/master") && !u.Deletes()
		}) {
			t.Fatalf("%s: first push of main or master chose no deploy branch", fmt.Sprint(updates))
		}
	})
}

// FuzzRedact: Berth's log of an SSH command never holds a config:set
// value or a --password, however the command line is written.
func FuzzRedact(f *testing.F) {
	f.Add("config:set", "blog", "s3cret")
	f.Add("postgres:create", "--password", "hunter22")
	f.Add("config:set", "--global", "a b=c")
	f.Fuzz(func(t *testing.T, name, arg, secret string) {
		if len(secret) < 4 || strings.HasPrefix(arg, "--") {
			// Short secrets turn up in the rest of the line by chance; a
			// flag in arg's place takes the next word as its value, as the
			// commands' parseFlags does.
			return
		}
		for _, args := range [][]string{
			{"config:set", arg, "KEY=" + secret},
			{"config:set", arg, "KEY=" + secret, "OTHER=" + secret},
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
			if strings.Contains(logged, secret) && !strings.Contains(strings.Join(rest, " ")+" KEY=*** OTHER=*** --password=***", secret) {
				t.Fatalf("%q is logged as %q", args, logged)
			}
		}
	})
}
