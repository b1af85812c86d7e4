package commands

import (
	"maps"
	"unicode/utf8"

	"github.com/anmitsu/go-shlex"

	"github.com/berth-paas/berth/platform"
	"slices"
	"strings"
	"testing"
)

func TestParseFlags(t *testing.T) {
	pos, flags, err := parseFlags([]string{"app", "--format", "json", "K=V", "--no-restart", "--x=1"}, "format")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(pos, []string{"app", "K=V"}) {
		t.Errorf("pos = %q", pos)
	}
	want := map[string]string{"format": "json", "no-restart": "", "x": "1"}
	if !maps.Equal(flags, want) {
		t.Errorf("flags = %v", flags)
	}
	if _, _, err := parseFlags([]string{"--format"}, "format"); err == nil {
		t.Error("a valued flag without its value was accepted")
	}
}

func FuzzParseFlags(f *testing.F) {
	f.Add("app --format json K=V --no-restart")
	f.Add("--format=json -- x")
	f.Fuzz(func(t *testing.T, line string) {
		args := strings.Fields(line)
		pos, flags, err := parseFlags(args, "format")
		if err != nil {
			return
		}
		// Every argument is accounted for: a positional, a flag, or a
		// flag's value.
		if len(pos)+len(flags) > len(args) {
			t.Fatalf("%q: more results than arguments: %q %v", args, pos, flags)
		}
		for _, p := range pos {
			if strings.HasPrefix(p, "--") && p != "--" {
				t.Fatalf("%q: flag %q taken as positional", args, p)
			}
		}
	})
}

// FuzzConfigSetSplitting sends config:set arguments the way an SSH user
// does (one command line, each argument quoted for the remote shell), splits
// the line as the SSH server does, and checks that every value arrives
// whole: spaces, quotes, "=" and all.
func FuzzConfigSetSplitting(f *testing.F) {
	f.Add("KEY", "a=b c")
	f.Add("K", "it's \"quoted\" $HOME")
	f.Add("K", "")
	f.Fuzz(func(t *testing.T, key, value string) {
		if key == "" || strings.ContainsAny(key, "= \t\n\x00") || strings.ContainsRune(value, 0) || !utf8.ValidString(key) || !utf8.ValidString(value) {
			return
		}
		line := "config:set app " + platform.ShellQuote(key+"="+value)
		args, err := shlex.Split(line, true)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if len(args) != 3 {
			t.Fatalf("%q split into %q", line, args)
		}
		set, err := parseAssignments(args[2:])
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		if got, ok := set[key]; !ok || got != value || len(set) != 1 {
			t.Fatalf("%q gave %q, want %q=%q", line, set, key, value)
		}
	})
}

func TestParseAssignmentsRejectsNonAssignments(t *testing.T) {
	for _, arg := range []string{"KEY", "=value", ""} {
		if _, err := parseAssignments([]string{arg}); err == nil {
			t.Errorf("%q was accepted", arg)
		}
	}
}
