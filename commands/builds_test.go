package commands

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
)

// The builds, ps, git and network forms of this round refuse bad input
// with a usage error before they touch anything (the backend is nil
// here: reaching it would panic).
func TestDokkuFormsRefuseBadInput(t *testing.T) {
	for line, want := range map[string]string{
		"builds:set blog keep 3":                    `unknown builds property "keep"; the one Berth has is retention`,
		"builds:set blog retention many":            `retention "many": give a whole number of builds to keep`,
		"builds:set blog retention 0":               "retention 0: give a whole number",
		"builds:set --global retention -3 x":        "give an app (or --global), the property retention",
		"builds:set blog":                           "give an app (or --global), the property retention",
		"builds:report blog --global":               "give an app, or --global",
		"builds:report blog --format yaml":          "unknown format",
		"builds:cancel":                             "name one app",
		"builds:cancel blog other":                  "name one app",
		"ps:set --global procfile-path x":           "procfile-path is per app",
		"ps:set --global stop-timeout-seconds soon": `stop-timeout-seconds "soon": give a whole number of seconds from 1 to 3600`,
		"ps:set blog stop-timeout-seconds soon":     `stop-timeout-seconds "soon": give a whole number of seconds from 1 to 3600`,
		"git:report --global blog":                  "give an app, or --global",
		"network:report --global blog":              "give an app, or --global",
		"network:set --global":                      "name an app (or --global) and a property",
		"apps:set blog disable-autocreation true":   "disable-autocreation is global only",
		"apps:set --global disable-autocreation 1":  `disable-autocreation "1": give true or false`,
		"apps:set --global bogus":                   `unknown apps property "bogus"`,
		"apps:set --global":                         "give the property disable-autocreation",
		"git:set --global rev-env-var X":            "git:set --global takes deploy-branch [BRANCH]",
		"git:set --global deploy-branch a b":        "git:set --global takes deploy-branch [BRANCH]",
		"builder-dockerfile:report --global blog":   "name one app, or --global",
		"builder-dockerfile:set --global x":         `unknown setting "x": builder-dockerfile has dockerfile-path`,
	} {
		var stderr bytes.Buffer
		err := Exec(context.Background(), nil, strings.Fields(line), IO{Stdout: io.Discard, Stderr: &stderr})
		if !IsUsageError(err) || !strings.Contains(stderr.String(), want) {
			t.Errorf("%q: err = %v, stderr %q; want a usage error saying %q", line, err, stderr.String(), want)
		}
	}
}

// A deploy key may not change the global forms.
func TestAuthorizeGlobalFormsOfThisRound(t *testing.T) {
	for _, args := range [][]string{
		{"builds:set", "--global", "retention", "5"},
		{"builds:report", "--global"},
		{"ps:set", "--global", "stop-timeout-seconds", "5"},
		{"network:set", "--global", "initial-network", "x"},
	} {
		if err := Authorize("mine", args); !errors.Is(err, ErrForbidden) {
			t.Errorf("Authorize(mine, %q) = %v; want forbidden", args, err)
		}
	}
	for _, args := range [][]string{
		{"builds:cancel", "mine"},
		{"builds:set", "mine", "retention", "5"},
		{"builds:report", "mine", "--build-status"},
	} {
		if err := Authorize("mine", args); err != nil {
			t.Errorf("Authorize(mine, %q) = %v; want allowed", args, err)
		}
	}
}

// builds:report's Dokku values.
func TestBuildReportValues(t *testing.T) {
	for reason, want := range map[string]string{"push": "git-hook", "rebuild": "ps:rebuild", "sync": "git:sync", "image": "git:from-image"} {
		if got := buildSource(reason); got != want {
			t.Errorf("buildSource(%q) = %q, want %q", reason, got, want)
		}
	}
	for status, want := range map[string]string{"succeeded": "0", "failed": "1", "canceled": "-1", "running": "", "": ""} {
		if got := buildExitCode(status); got != want {
			t.Errorf("buildExitCode(%q) = %q, want %q", status, got, want)
		}
	}
}

func TestParseRunLogArgs(t *testing.T) {
	app, opts, err := parseRunLogArgs(strings.Fields("blog -t -n 5 -q --container blog.run.1234"))
	if err != nil || app != "blog" || !opts.Follow || opts.Lines != 5 || !opts.Raw || opts.Container != "blog.run.1234" {
		t.Fatalf("got %q %+v %v", app, opts, err)
	}
	app, opts, err = parseRunLogArgs(strings.Fields("--container=my.app.run.1234"))
	if err != nil || app != "" || opts.Container != "my.app.run.1234" || opts.Lines != 100 {
		t.Fatalf("got %q %+v %v", app, opts, err)
	}
	for _, bad := range []string{"", "blog other", "blog -n", "blog -n x", "blog --container blog.web.1", "blog --container other.run.1", "blog -x"} {
		if _, _, err := parseRunLogArgs(strings.Fields(bad)); !IsUsageError(err) {
			t.Errorf("%q: err = %v, want a usage error", bad, err)
		}
	}
}

func TestProcessArgs(t *testing.T) {
	rest, types, err := processArgs(strings.Fields("--process web blog deploy --ulimit nofile=12 --process=api"))
	if err != nil || strings.Join(rest, " ") != "blog deploy --ulimit nofile=12" || strings.Join(types, ",") != "web,api" {
		t.Fatalf("%q %q %v", rest, types, err)
	}
	if _, _, err := processArgs(strings.Fields("blog deploy -x --process")); !IsUsageError(err) {
		t.Errorf("--process without a type: %v", err)
	}
	keys, err := processPhases([]string{"deploy"}, []string{"web", "api"})
	if err != nil || strings.Join(keys, ",") != "deploy.web,deploy.api" {
		t.Errorf("keys %q %v", keys, err)
	}
	if _, err := processPhases([]string{"deploy", "run"}, []string{"web"}); !IsUsageError(err) {
		t.Errorf("--process with the run phase: %v", err)
	}
	if keys, _ := processPhases([]string{"build"}, nil); strings.Join(keys, ",") != "build" {
		t.Errorf("no --process: %q", keys)
	}
}
