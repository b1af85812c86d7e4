package commands

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Help as Dokku users expect it (docs/DOKKU.md): `help` lists the
// namespaces, `help --all` every command, and `apps`, `apps:help`,
// `apps --help` and `help apps` a namespace's commands; every line fits
// 80 columns. An unknown command names the closest ones.

// helpWidth is the width help fits in: a terminal's default.
const helpWidth = 80

// namespaceSummaries say what each namespace is for, on `help`'s list.
var namespaceSummaries = map[string]string{
	"apps":           "Manage apps",
	"builds":         "Show the app's builds and their logs",
	"certs":          "Manage an app's custom TLS certificate",
	"checks":         "Manage zero-downtime checks",
	"config":         "Manage config vars (the app's environment)",
	"docker-options": "Pass options to docker create for an app's containers",
	"domains":        "Manage the app's domains and the global ones",
	"enter":          "Open a shell (or run a command) in a running container",
	"git":            "Deploy from an image or a repository; report on the repository",
	"help":           "Show help (help NAMESPACE: that namespace's commands)",
	"logs":           "Show the app's logs",
	"network":        "Manage the Docker networks apps share",
	"ps":             "Manage the app's processes",
	"releases":       "List the app's releases",
	"report":         "Show every report of one app or of all apps",
	"resource":       "Manage CPU and memory limits and reservations",
	"rollback":       "Roll back to an earlier release",
	"run":            "Run a one-off command in a new container of the app",
	"ssh-keys":       "Manage the SSH keys that may push and run commands",
	"storage":        "Mount host paths and volumes into the app's containers",
	"tls":            "Manage HSTS",
	"version":        "Show Berth's version",
}

// namespaceOf is the part of a command's name before the colon.
func namespaceOf(name string) string {
	ns, _, _ := strings.Cut(name, ":")
	return ns
}

// namespaces lists the namespaces of the table, sorted.
func namespaces() []string {
	var out []string
	for _, c := range table {
		if ns := namespaceOf(c.name); !slices.Contains(out, ns) {
			out = append(out, ns)
		}
	}
	slices.Sort(out)
	return out
}

func isNamespace(name string) bool { return slices.Contains(namespaces(), name) }

func help(_ context.Context, _ *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args)
	if err != nil {
		return err
	}
	_, all := flags["all"]
	switch {
	case len(pos) > 1:
		return usageError{"name one namespace or command"}
	case len(pos) == 1 && isNamespace(pos[0]):
		return namespaceHelp(out.Stdout, pos[0])
	case len(pos) == 1:
		if c, ok := lookup(pos[0]); ok {
			fmt.Fprintf(out.Stdout, "Usage: %s\n\n%s\n", c.usage, wrap(c.summary, 0, helpWidth))
			return nil
		}
		return unknownCommand(pos[0])
	}
	w := out.Stdout
	fmt.Fprintf(w, "Usage: [--app APP] [--force] [--quiet] COMMAND [APP] [OPTIONS]\n\n")
	fmt.Fprintf(w, "Berth %s: push an app with git, run it, serve it.\n", Version)
	fmt.Fprintf(w, "Deploy: git remote add berth ssh://berth@HOST:PORT/APP\n        git push berth main\n\n")
	if all {
		fmt.Fprintln(w, "Commands:")
		var cs []command
		for _, c := range table {
			cs = append(cs, c)
		}
		writeCommands(w, cs)
		return nil
	}
	fmt.Fprintln(w, "Namespaces (`NAMESPACE:help` lists its commands; `help --all` lists them all):")
	fmt.Fprintln(w)
	for _, ns := range namespaces() {
		summary := namespaceSummaries[ns]
		if summary == "" {
			summary = serviceSummary(ns)
		}
		fmt.Fprintf(w, "    %-16s %s\n", ns, wrap(summary, 21, helpWidth))
	}
	return nil
}

// serviceSummary describes a namespace without an entry in
// namespaceSummaries: a datastore service (postgres, redis, ...).
func serviceSummary(ns string) string {
	return "Manage " + ns + " services and link them to apps"
}

// namespaceHelp prints a namespace's commands, as `dokku apps:help` does.
func namespaceHelp(w io.Writer, ns string) error {
	summary := namespaceSummaries[ns]
	if summary == "" {
		summary = serviceSummary(ns)
	}
	fmt.Fprintf(w, "Usage: %s[:COMMAND]\n\n%s\n\nCommands:\n", ns, wrap(summary, 0, helpWidth))
	var cs []command
	for _, c := range table {
		if namespaceOf(c.name) == ns {
			cs = append(cs, c)
		}
	}
	writeCommands(w, cs)
	return nil
}

// writeCommands prints usage lines and summaries in two columns within
// helpWidth: a usage too long for the first column has its summary on
// the next line.
func writeCommands(w io.Writer, cs []command) {
	const indent, maxCol = 4, 34
	col := 0
	for _, c := range cs {
		if n := len(c.usage); n <= maxCol && n > col {
			col = n
		}
	}
	for _, c := range cs {
		text := c.summary
		at := indent + col + 2
		if len(c.usage) > col {
			fmt.Fprintf(w, "%s%s\n", strings.Repeat(" ", indent), wrap(c.usage, indent+4, helpWidth))
			fmt.Fprintf(w, "%s%s\n", strings.Repeat(" ", at), wrap(text, at, helpWidth))
			continue
		}
		fmt.Fprintf(w, "%s%-*s  %s\n", strings.Repeat(" ", indent), col, c.usage, wrap(text, at, helpWidth))
	}
}

// wrap breaks text into lines that end before width when it starts at
// column at; the lines after the first are indented to at.
func wrap(text string, at, width int) string {
	var b strings.Builder
	col := at
	for i, word := range strings.Fields(text) {
		if i > 0 {
			if col+1+len(word) > width {
				b.WriteString("\n" + strings.Repeat(" ", at))
				col = at
			} else {
				b.WriteByte(' ')
				col++
			}
		}
		b.WriteString(word)
		col += len(word)
	}
	return b.String()
}

// helpFor answers a namespace asked for as a command (`apps`, `apps:help`,
// `apps --help`): ok is false when name is no namespace.
func helpFor(name string, args []string, out IO) (bool, error) {
	ns, sub, hasSub := strings.Cut(name, ":")
	switch {
	case hasSub && sub == "help" && isNamespace(ns):
	case !hasSub && isNamespace(ns):
		if len(args) > 0 && !slices.Contains(args, "--help") && !slices.Contains(args, "-h") {
			return true, unknownCommand(strings.Join(append([]string{name}, args[0]), " "))
		}
	default:
		return false, nil
	}
	return true, namespaceHelp(out.Stdout, ns)
}

// unknownCommand is the error for a command Berth does not have, naming
// the closest ones.
func unknownCommand(name string) error {
	msg := fmt.Sprintf("%q is not a Berth command", name)
	if near := closest(name); len(near) > 0 {
		return unknownCommandError{msg + "; did you mean " + strings.Join(near, " or ") + "?"}
	}
	msg += "; run `help` to list them"
	if ns, _, ok := strings.Cut(name, ":"); ok && isNamespace(ns) {
		msg += fmt.Sprintf(" (`%s:help` lists the %s commands)", ns, ns)
	}
	return unknownCommandError{msg}
}

type unknownCommandError struct{ msg string }

func (e unknownCommandError) Error() string { return e.msg }
func (e unknownCommandError) Unwrap() error { return ErrUnknownCommand }

// closest are the commands nearest to name, within a small edit
// distance: at most three.
func closest(name string) []string {
	limit := max(2, len(name)/4)
	best := -1
	var out []string
	for _, c := range table {
		d := editDistance(name, c.name)
		if d > limit {
			continue
		}
		switch {
		case best < 0 || d < best:
			best, out = d, []string{c.name}
		case d == best:
			out = append(out, c.name)
		}
	}
	return out[:min(len(out), 3)]
}

// editDistance is Levenshtein's distance between a and b.
func editDistance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// isHelpRequest reports whether name asks for a namespace's help (apps,
// apps:help), which every key may read, as help.
func isHelpRequest(name string) bool {
	ns, sub, hasSub := strings.Cut(name, ":")
	return isNamespace(ns) && (!hasSub || sub == "help")
}
