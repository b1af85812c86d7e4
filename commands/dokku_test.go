package commands

import (
	"bytes"
	"context"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"
)

func TestResolveGlobalOptions(t *testing.T) {
	for _, tc := range []struct {
		in, want string
	}{
		{"--app blog config:show", "config:show blog"},
		{"--app=blog config:show --format json", "config:show blog --format json"},
		{"--force apps:destroy blog", "apps:destroy blog --force"},
		{"--app blog --force apps:destroy", "apps:destroy blog --force"},
		{"--trace --quiet ps:report blog", "ps:report blog"},
		{"--rm run blog true", "run blog true"},
		{"--rm-container --app blog run ls -la", "run blog ls -la"},
		{"--version", ""},
		{"-v", ""},
		{"nope:cmd --x", "nope:cmd --x"},
		{"run blog --app other", "run blog --app other"}, // after the command: the command's
		// Dokku's remote client sends --app before every command; one
		// that takes no app leaves it out, as the dokku binary does.
		{"--app blog apps:list", "apps:list"},
		{"--app blog version", "version"},
		{"--app blog report", "report blog"},
		// The client also passes on the app the user typed.
		{"--app blog --force apps:destroy blog", "apps:destroy blog --force"},
		{"--app blog config:set blog A=1", "config:set blog A=1"},
		{"--app blog domains:report --global", "domains:report --global"},
		{"--app blog config:show --global", "config:show --global"},
	} {
		got, _, err := resolve(strings.Fields(tc.in))
		if err != nil {
			t.Errorf("%q: %v", tc.in, err)
			continue
		}
		if strings.Join(got, " ") != tc.want {
			t.Errorf("%q resolved to %q, want %q", tc.in, got, tc.want)
		}
	}
	for _, in := range []string{
		"--app",                     // no app
		"--app --force apps:list",   // a flag is no app
		"--app blog ssh-keys:add k", // ssh-keys:add has an --app of its own
		"--force ps:report blog",    // ps:report has no --force
		"--rm ps:report blog",       // --rm is for run
		"--bogus apps:list",         // unknown global option
		"--quiet=1 apps:list",       // a switch takes no value
		"--app blog",                // no command
	} {
		if _, _, err := resolve(strings.Fields(in)); !IsUsageError(err) {
			t.Errorf("%q: err = %v, want a usage error", in, err)
		}
	}
}

// A deploy key is checked against the app the command acts on, whichever
// way the command line names it.
func TestAuthorizeGlobalApp(t *testing.T) {
	for _, line := range []string{"--app blog config:show", "--app blog config:get blog A", "--app blog ps:help", "apps"} {
		if err := Authorize("blog", strings.Fields(line)); err != nil {
			t.Errorf("%q refused: %v", line, err)
		}
	}
	for _, line := range []string{
		"--app other config:show",
		"--app other run true",
		"--app=other ps:report",
		"--quiet --app other logs",
		"--app other config:set A=b",
		"--force --app other apps:destroy",
		"--app blog apps:destroy", // admin command
		"--app blog --app other ps:report",
		// --app left out (a command that takes no app, a --global form)
		// leaves the command line as a deploy key may not run it.
		"--app blog apps:list",
		"--app blog config:show --global",
		"--app blog config:set --global A=b",
		"--app blog domains:add --global evil.test",
		"--app blog ps:set --global restart-policy no",
		"--app blog checks:set --global wait-to-retire 0",
		"--app blog ssh-keys:add k",
		"ps:report", // every app's report
	} {
		if err := Authorize("blog", strings.Fields(line)); err == nil {
			t.Errorf("%q allowed for a deploy key of blog", line)
		}
	}
}

func TestUnknownFlagsAndFormatsAreErrors(t *testing.T) {
	for _, line := range []string{
		"apps:list --bogus",
		"releases blog --format yaml",
		"ssh-keys:list --format invalid",
		"network:list --dokku-managed",
		"config:export blog --format=xml",
		"ps:report blog --format json --ps-restart-policy",
		"ps:report blog --ps-restart-policy --ps-can-scale",
		"config:show blog --bogus",
	} {
		var stderr bytes.Buffer
		err := Exec(context.Background(), nil, strings.Fields(line), IO{Stdout: io.Discard, Stderr: &stderr})
		if !IsUsageError(err) {
			t.Errorf("%q: err = %v, want a usage error", line, err)
			continue
		}
		if !strings.Contains(stderr.String(), "Usage:") {
			t.Errorf("%q: stderr does not show the usage: %q", line, stderr.String())
		}
	}
	var stderr bytes.Buffer
	Exec(context.Background(), nil, strings.Fields("releases blog --format yaml"), IO{Stdout: io.Discard, Stderr: &stderr})
	if !strings.Contains(stderr.String(), "use --format json") {
		t.Errorf("the valid formats are not named: %q", stderr.String())
	}
	stderr.Reset()
	Exec(context.Background(), nil, strings.Fields("apps:list --bogus"), IO{Stdout: io.Discard, Stderr: &stderr})
	if !strings.Contains(stderr.String(), "apps:list takes --format") {
		t.Errorf("the valid flags are not named: %q", stderr.String())
	}
}

// Every flag a usage line names is accepted, and every --format value it
// names passes the check: the usage lines are the list.
func TestUsageFlagsAreAccepted(t *testing.T) {
	for _, c := range table {
		for _, f := range acceptedFlags(c) {
			args := []string{"x", "--" + f}
			if f == "format" {
				for _, v := range formats(c) {
					if err := checkFlags(c, []string{"x", "--format", v}); err != nil {
						t.Errorf("%s --format %s: %v", c.name, v, err)
					}
				}
				continue
			}
			if err := checkFlags(c, args); err != nil {
				t.Errorf("%s --%s: %v", c.name, f, err)
			}
		}
	}
}

// After "--", and after run's app, the arguments are the program's: no
// help, no flag checks.
func TestArgumentsAfterTheCommandAreTheCommands(t *testing.T) {
	run, _ := lookup("run")
	enter, _ := lookup("enter")
	for _, tc := range []struct {
		c    command
		args string
	}{
		{run, "blog -- httpd -f -h /www"},
		{run, "blog httpd -f -h /www --help"},
		{run, "blog ls --bogus"},
		{enter, "blog web -- ls -h --bogus"},
	} {
		args := strings.Fields(tc.args)
		if wantsHelp(tc.c, args) {
			t.Errorf("%s %s taken as a help request", tc.c.name, tc.args)
		}
		if err := checkFlags(tc.c, args); err != nil {
			t.Errorf("%s %s: %v", tc.c.name, tc.args, err)
		}
	}
	if !wantsHelp(run, []string{"--help"}) || !wantsHelp(enter, []string{"blog", "-h"}) {
		t.Error("help before the command is not taken")
	}
	opts, _ := lookup("docker-options:add")
	if err := checkFlags(opts, strings.Fields("blog deploy --restart=always")); err != nil {
		t.Errorf("docker options taken as Berth's: %v", err)
	}
}

func TestReportKeyLookup(t *testing.T) {
	report := "=====> blog ps information\nStatus:             running\nPs restart policy:  on-failure:10\nStatus web.1:       running, 0 restarts\nChecks disabled list: none\nGit deploy branch:  \n"
	keys, values := reportValues(report)
	want := []string{"--status", "--ps-restart-policy", "--status-web-1", "--checks-disabled-list", "--git-deploy-branch"}
	if !slices.Equal(keys, want) {
		t.Errorf("keys = %q, want %q", keys, want)
	}
	if values["--ps-restart-policy"] != "on-failure:10" || values["--status-web-1"] != "running, 0 restarts" || values["--git-deploy-branch"] != "" {
		t.Errorf("values = %q", values)
	}
	run := func(w io.Writer) error { _, err := io.WriteString(w, report); return err }
	var out bytes.Buffer
	if err := lookupReportKey("--ps-restart-policy", run, &out, "ps:report"); err != nil || out.String() != "on-failure:10\n" {
		t.Errorf("lookup = %q, %v", out.String(), err)
	}
	err := lookupReportKey("--ps-bogus", run, &out, "ps:report")
	if !IsUsageError(err) || !strings.Contains(err.Error(), "--ps-restart-policy") {
		t.Errorf("unknown key: %v", err)
	}
	failed := errors.New("no such app")
	if err := lookupReportKey("--x", func(io.Writer) error { return failed }, &out, "ps:report"); !errors.Is(err, failed) {
		t.Errorf("the report's error is lost: %v", err)
	}
	// Only reports take keys; the report's own flags stay its own.
	ps, _ := lookup("ps:report")
	key, rest, err := reportKey(ps, strings.Fields("blog --ps-restart-policy"))
	if err != nil || key != "--ps-restart-policy" || !slices.Equal(rest, []string{"blog"}) {
		t.Errorf("reportKey = %q %q %v", key, rest, err)
	}
	domains, _ := lookup("domains:report")
	key, rest, _ = reportKey(domains, strings.Fields("--global --domains-global-vhosts"))
	if key != "--domains-global-vhosts" || !slices.Equal(rest, []string{"--global"}) {
		t.Errorf("reportKey = %q %q", key, rest)
	}
}

func TestQuietDropsProgressLines(t *testing.T) {
	var buf bytes.Buffer
	q := &quietWriter{w: &buf}
	io.WriteString(q, "-----> Set A on blog\n !     warn")
	io.WriteString(q, "ing\n----")
	io.WriteString(q, "-> more\n=====> blog env vars\nA: 1\n-\n----x\n\nlast")
	q.flush()
	if want := " !     warning\nA: 1\n-\n----x\n\nlast"; buf.String() != want {
		t.Errorf("quiet output = %q, want %q", buf.String(), want)
	}
	// A line is passed on as soon as its start tells it apart: a prompt
	// without a newline is not held back.
	buf.Reset()
	io.WriteString(q, "Password: ")
	if buf.String() != "Password: " {
		t.Errorf("held back: %q", buf.String())
	}
	if quietStdout("run") || quietStdout("postgres:export") || !quietStdout("apps:list") {
		t.Error("quietStdout: wrong commands")
	}
}

func TestDecodeValues(t *testing.T) {
	got, err := decodeValues(map[string]string{"A": "aGVsbG8gd29ybGQ=", "B": "aGk", "C": ""})
	if err != nil || got["A"] != "hello world" || got["B"] != "hi" || got["C"] != "" {
		t.Errorf("decoded = %q, %v", got, err)
	}
	if _, err := decodeValues(map[string]string{"A": "not base64!"}); !IsUsageError(err) {
		t.Errorf("bad base64: %v", err)
	}
}
