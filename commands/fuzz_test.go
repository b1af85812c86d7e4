package commands

import (
	"maps"
	"slices"
	"strings"
	"testing"
)

// FuzzArgumentReaders: the readers commands share take the app from the
// first argument only, never a flag for an app, give every flag a
// command allows and no other, and read KEY=VALUE back as written.
func FuzzArgumentReaders(f *testing.F) {
	for _, s := range []string{
		"mine --format json", "mine deploy --memory 512m", "mine deploy,run '-e A=b'", "--format json mine",
		"-x /a:/b", "mine A=b B== C", "mine =x", "a b c", "mine --force", "mine --format",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		if app, flags, err := oneApp(args, "force"); err == nil {
			if app == "" && len(args) > 0 || strings.HasPrefix(app, "--") && app != "--" {
				t.Fatalf("oneApp(%q) = app %q", args, app)
			}
			for k := range flags {
				if k != "force" {
					t.Fatalf("oneApp(%q) allowed --%s", args, k)
				}
			}
		}
		if app, phases, words, err := optionArgs(args); err == nil {
			if app != args[0] || strings.HasPrefix(app, "-") || len(phases) == 0 || len(words) == 0 {
				t.Fatalf("optionArgs(%q) = %q %q %q", args, app, phases, words)
			}
		}
		if app, one, err := appAndOne(args, "mount"); err == nil {
			if app != args[0] || strings.HasPrefix(app, "-") || one != args[1] || len(args) != 2 {
				t.Fatalf("appAndOne(%q) = %q %q", args, app, one)
			}
		}
		if len(args) > 0 {
			if set, err := parseAssignments(args[1:]); err == nil {
				var again []string
				for k, v := range set {
					if k == "" || strings.Contains(k, "=") {
						t.Fatalf("parseAssignments(%q) gave key %q", args[1:], k)
					}
					again = append(again, k+"="+v)
				}
				slices.Sort(again)
				if back, err := parseAssignments(again); err != nil || !maps.Equal(back, set) {
					t.Fatalf("%q reads back as %q, %v; want %q", again, back, err, set)
				}
			} else if set != nil {
				t.Fatalf("parseAssignments(%q) refused (%v) but gave %q", args[1:], err, set)
			}
		}
		// A deploy key's command names its app first, and the command
		// reads that same argument as the app.
		if len(args) > 1 && Authorize("mine", args) == nil && scopeOf(args[0]) == appScope {
			pos, flags, err := parseFlags(args[1:], "format")
			if err == nil && (len(pos) == 0 || pos[0] != "mine") {
				t.Fatalf("%q allowed for mine, but reads as app %q", args, pos)
			}
			if _, global := flags["global"]; global {
				t.Fatalf("%q allowed for mine, but acts globally", args)
			}
		}
	})
}

// FuzzLogArgs: logs takes one app, never a flag for one, and options
// only from its own flags; a deploy key's logs command reads as its app.
func FuzzLogArgs(f *testing.F) {
	for _, s := range []string{"mine -t -n 5 -p web", "-n -1 mine", "mine -n", "mine other", "-p mine", "mine -p -t", "mine --num 1e3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		app, opts, err := parseLogArgs(args)
		if err != nil {
			return
		}
		if app == "" || strings.HasPrefix(app, "-") || !slices.Contains(args, app) {
			t.Fatalf("%q: app %q", args, app)
		}
		if opts.Follow != (slices.Contains(args, "-t") || slices.Contains(args, "--tail")) && !slices.Contains(args, "-p") && !slices.Contains(args, "--ps") && !slices.Contains(args, "-n") && !slices.Contains(args, "--num") {
			t.Fatalf("%q: follow %v", args, opts.Follow)
		}
		if Authorize("mine", append([]string{"logs"}, args...)) == nil && app != "mine" {
			t.Fatalf("logs %q allowed for mine reads app %q", args, app)
		}
	})
}
