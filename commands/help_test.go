package commands

import (
	"bytes"
	"context"
	"strings"
	"testing"
)

func execText(t *testing.T, line string) (stdout, stderr string, err error) {
	t.Helper()
	var o, e bytes.Buffer
	err = Exec(context.Background(), nil, strings.Fields(line), IO{Stdout: &o, Stderr: &e})
	return o.String(), e.String(), err
}

// Help fits 80 columns, in every form.
func TestHelpFits80Columns(t *testing.T) {
	lines := []string{"help", "help --all"}
	for _, ns := range namespaces() {
		lines = append(lines, ns+":help")
	}
	for _, line := range lines {
		out, _, err := execText(t, line)
		if err != nil {
			t.Fatalf("%s: %v", line, err)
		}
		for _, l := range strings.Split(out, "\n") {
			if len(l) > helpWidth {
				t.Errorf("%s: a line of %d columns:\n%s", line, len(l), l)
			}
		}
	}
}

// `apps`, `apps:help`, `apps --help` and `help apps` print the apps
// namespace; `help` lists the namespaces.
func TestNamespaceHelp(t *testing.T) {
	want, _, err := execText(t, "apps:help")
	if err != nil || !strings.Contains(want, "apps:create APP") || strings.Contains(want, "ps:scale") {
		t.Fatalf("apps:help = %q, %v", want, err)
	}
	for _, line := range []string{"apps", "apps --help", "help apps"} {
		if got, _, err := execText(t, line); err != nil || got != want {
			t.Errorf("%s = %q, %v; want apps:help's", line, got, err)
		}
	}
	out, _, _ := execText(t, "help")
	for _, ns := range []string{"apps", "config", "domains", "ps"} {
		if !strings.Contains(out, "\n    "+ns+" ") {
			t.Errorf("help does not list %s:\n%s", ns, out)
		}
	}
	if strings.Contains(out, "apps:create") {
		t.Errorf("help lists commands, not namespaces:\n%s", out)
	}
}

// An unknown command names the closest ones.
func TestDidYouMean(t *testing.T) {
	for line, want := range map[string]string{
		"apps:lsit":    "did you mean apps:list or apps:set?", // both are two edits away
		"app:list":     "did you mean apps:list?",
		"ps:scael web": "did you mean ps:scale?",
		"frobnicate":   "run `help` to list them",
		"apps:zzzzzz":  "`apps:help` lists the apps commands",
		"apps bogus":   `"apps bogus" is not a Berth command`,
	} {
		_, stderr, err := execText(t, line)
		if err == nil || !strings.Contains(stderr, want) {
			t.Errorf("%s: stderr %q, err %v; want %q", line, stderr, err, want)
		}
	}
}

// Reports are laid out as Dokku's: headings flush left, lines indented.
func TestIndentWriter(t *testing.T) {
	var b bytes.Buffer
	w := &indentWriter{w: &b, start: true}
	for _, chunk := range []string{"====", "=> blog ps information\nPs restart", " policy:  on-failure:10\n", "\n", "Status: running\n"} {
		w.Write([]byte(chunk))
	}
	want := "=====> blog ps information\n       Ps restart policy:  on-failure:10\n\n       Status: running\n"
	if b.String() != want {
		t.Errorf("got %q, want %q", b.String(), want)
	}
}

// A report without global settings says so for --global, not "unknown key".
func TestReportGlobalWithoutGlobalSettings(t *testing.T) {
	_, stderr, err := execText(t, "ps:report --global")
	if err == nil || !strings.Contains(stderr, "ps has no global settings in Berth; ps:report APP shows an app's") {
		t.Errorf("stderr %q, err %v", stderr, err)
	}
}
