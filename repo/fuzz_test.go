package repo

// Fuzz targets for what reaches the repositories from outside: the
// pre-receive hook's ref updates and git:sync's URL.

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

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

// FuzzValidRemote: no git:sync URL that passes can be read as a flag by
// git, and a refused one's error never holds its credentials.
func FuzzValidRemote(f *testing.F) {
	for _, s := range []string{"https://example.test/r.git", "/srv/repo", "git@host:r.git", "--upload-pack=x", "ext::sh -c x", "-x", "", "https://user:T0KEN@host/a b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		err := ValidRemote(s)
		if err == nil && (strings.HasPrefix(s, "-") || s == "") {
			t.Fatalf("git:sync URL %q accepted", s)
		}
		if err != nil && RedactURL(s) != s && strings.Contains(err.Error(), s) {
			t.Fatalf("the error for %q holds its credentials: %v", s, err)
		}
	})
}
