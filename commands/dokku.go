package commands

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"
)

// This file holds what makes Berth's command line read like the `dokku`
// binary's (docs/DOKKU.md): the global options before the command, the
// flags a command accepts (read from its usage line, so that an unknown
// flag is an error and never ignored), and the single-value report
// lookups (`ps:report APP --ps-restart-policy`).

// globals are the options the `dokku` binary takes before the command.
type globals struct {
	app     string // --app APP: the app argument the command line left out
	force   bool   // --force: the command's own --force
	quiet   bool   // --quiet: no "----->" progress lines
	rm      bool   // --rm, --rm-container: run's container is always removed
	version bool   // --version, -v
}

// globalUsage lists the global options for error messages.
const globalUsage = "--app APP, --force, --quiet, --trace, --rm, --rm-container, --version"

// readGlobals reads the global options in front of args and returns how
// many words they take.
func readGlobals(args []string) (int, globals, error) {
	var g globals
	i := 0
	for ; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
		name, value, hasValue := strings.Cut(args[i], "=")
		switch name {
		case "--app":
			if !hasValue {
				if i+1 >= len(args) {
					return i, g, usageError{"--app needs an app name: --app APP COMMAND ..."}
				}
				i++
				value = args[i]
			}
			if value == "" || strings.HasPrefix(value, "-") {
				return i, g, usageError{"--app needs an app name: --app APP COMMAND ..."}
			}
			g.app = value
			continue
		case "--force":
			g.force = true
		case "--quiet":
			g.quiet = true
		case "--trace":
			// Dokku turns on shell tracing; Berth has no shell scripts to
			// trace. Accepted so that scripts that pass it keep working.
		case "--rm", "--rm-container":
			g.rm = true
		case "--version", "-v":
			g.version = true
		default:
			return i, g, usageError{fmt.Sprintf("unknown global option %s; the options before the command are %s", args[i], globalUsage)}
		}
		if hasValue {
			return i, g, usageError{fmt.Sprintf("%s takes no value", name)}
		}
	}
	return i, g, nil
}

// CommandLine returns args from the command's name on: the global
// options in front (--app APP, --quiet, ...), read the way the commands
// read them, left out. Berth's log redacts the secrets of a command line
// by its command (config:set's values), so it must find the command
// where the commands do. A command line whose global options are wrong
// (and which no command runs) is cut after its leading option words
// (and --app's value).
func CommandLine(args []string) []string {
	i, _, err := readGlobals(args)
	if err != nil {
		for i = 0; i < len(args) && strings.HasPrefix(args[i], "-"); i++ {
			if args[i] == "--app" {
				i++ // its value, whatever it is
			}
		}
		i = min(i, len(args))
	}
	return args[i:]
}

// resolve reads the global options in front of the command and returns
// the command line the command runs: --app APP becomes the command's first
// argument and --force the command's --force. Exec and Authorize both
// call it, so the app a deploy key is checked against is the app the
// command acts on.
func resolve(args []string) ([]string, globals, error) {
	i, g, err := readGlobals(args)
	if err != nil {
		return nil, g, err
	}
	rest := args[i:]
	if len(rest) == 0 {
		if g.app != "" || g.force || g.rm {
			return nil, g, usageError{"name a command after the global options"}
		}
		return rest, g, nil
	}
	cmd, ok := lookup(rest[0])
	if !ok {
		return rest, g, nil // Exec says it is not a command
	}
	out := []string{rest[0]}
	switch {
	case g.app == "":
	case strings.Contains(cmd.usage, "APP|--global") && slices.Contains(rest[1:], "--global"):
		// The global form, which Dokku's remote client sends --app before
		// as before any other (domains:report --global): it acts on no app.
	case takesAppFirst(cmd) && len(rest) > 1 && rest[1] == g.app:
		// Named twice: Dokku's remote client sends --app from the git
		// remote and the app the user typed (`dokku apps:destroy blog`
		// becomes `--app blog apps:destroy blog`); the dokku binary's
		// commands read the first and ignore the second.
	case takesAppFirst(cmd):
		out = append(out, g.app)
	case slices.Contains(acceptedFlags(cmd), "app"):
		// ssh-keys:add has an --app of its own (a deploy key's app): a
		// global --app must not be dropped there, and taking it as the
		// command's would make a guess about what the caller meant.
		return nil, g, usageError{fmt.Sprintf("--app before the command is for commands that take an app first; give %s its own option (usage: %s)", cmd.name, cmd.usage)}
	default:
		// Dokku's remote client (contrib/dokku_client.sh) sends --app,
		// from the `dokku` git remote, before every command it does not
		// know to take none (apps:list, report, postgres:create, ...),
		// and the dokku binary then leaves it out: so does Berth.
	}
	out = append(out, rest[1:]...)
	if g.force {
		if !slices.Contains(acceptedFlags(cmd), "force") {
			return nil, g, usageError{fmt.Sprintf("--force has no meaning for %s (usage: %s)", cmd.name, cmd.usage)}
		}
		// After the arguments: the app stays first, where Authorize
		// reads it (no command that takes --force passes arguments on).
		out = append(out, "--force")
	}
	if g.rm && cmd.name != "run" {
		return nil, g, usageError{fmt.Sprintf("--rm is for run (its container is always removed); %s takes no container", cmd.name)}
	}
	return out, g, nil
}

// takesAppFirst reports whether a command's first argument is an app, as
// its usage line says ("NAME APP ..." or "NAME APP|--global ...").
func takesAppFirst(c command) bool {
	f := strings.Fields(c.usage)
	return len(f) > 1 && (f[1] == "APP" || f[1] == "[APP]" || strings.HasPrefix(f[1], "APP|") || f[1] == "OLD")
}

var (
	flagInUsage   = regexp.MustCompile(`--([a-z][a-z0-9-]*)`)
	formatInUsage = regexp.MustCompile(`--format ([a-z|]+)`)
)

// acceptedFlags are the --flags a command's usage line names: the usage
// line is the one list of what a command takes.
func acceptedFlags(c command) []string {
	var names []string
	for _, m := range flagInUsage.FindAllStringSubmatch(c.usage, -1) {
		names = append(names, m[1])
	}
	return names
}

// formats are the --format values a command's usage line names.
func formats(c command) []string {
	m := formatInUsage.FindStringSubmatch(c.usage)
	if m == nil {
		return nil
	}
	return strings.Split(m[1], "|")
}

// passesArgsOn: commands whose arguments (after the app, or after --) are
// another program's, which Berth must not read as its own flags.
func passesArgsOn(name string) bool {
	switch name {
	case "run", "run:detached", "docker-options:add", "docker-options:remove":
		return true
	}
	return false
}

// ownArgs are the arguments Berth reads as its own: those before "--",
// and for run only the app (everything after it is the command).
func ownArgs(c command, args []string) []string {
	if i := slices.Index(args, "--"); i >= 0 {
		args = args[:i]
	}
	if passesArgsOn(c.name) && len(args) > 1 {
		args = args[:1]
	}
	return args
}

// wantsHelp reports whether the command line asks for the command's usage.
func wantsHelp(c command, args []string) bool {
	own := ownArgs(c, args)
	return slices.Contains(own, "--help") || slices.Contains(own, "-h")
}

// checkFlags refuses a --flag the command does not take and a --format
// value it does not know, naming the valid ones.
func checkFlags(c command, args []string) error {
	accepted := acceptedFlags(c)
	own := ownArgs(c, args)
	for i, a := range own {
		if !strings.HasPrefix(a, "--") {
			continue
		}
		name, value, hasValue := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !slices.Contains(accepted, name) {
			if len(accepted) == 0 {
				return usageError{fmt.Sprintf("unknown flag --%s; %s takes no flags", name, c.name)}
			}
			return usageError{fmt.Sprintf("unknown flag --%s; %s takes --%s", name, c.name, strings.Join(accepted, ", --"))}
		}
		if name != "format" {
			continue
		}
		if !hasValue {
			if i+1 >= len(own) {
				continue // the command says --format needs a value
			}
			value = own[i+1]
		}
		if valid := formats(c); !slices.Contains(valid, value) {
			return usageError{fmt.Sprintf("unknown format %q; use --format %s", value, strings.Join(valid, "|"))}
		}
	}
	return nil
}

// reportKey takes a Dokku-style key lookup (`--ps-restart-policy`) out of
// a report's arguments: a --flag its usage does not name. It returns ""
// when the command line has none.
func reportKey(c command, args []string) (key string, rest []string, err error) {
	if !strings.HasSuffix(c.name, ":report") {
		return "", args, nil
	}
	accepted := acceptedFlags(c)
	for _, a := range args {
		name, _, _ := strings.Cut(strings.TrimPrefix(a, "--"), "=")
		if !strings.HasPrefix(a, "--") || slices.Contains(accepted, name) {
			rest = append(rest, a)
			continue
		}
		if a == "--global" {
			ns, _, _ := strings.Cut(c.name, ":")
			return "", nil, usageError{fmt.Sprintf("%s has no global settings in Berth; %s APP shows an app's", ns, c.name)}
		}
		if key != "" {
			return "", nil, usageError{fmt.Sprintf("ask for one key at a time (%s and %s)", key, a)}
		}
		key = a
	}
	if key != "" && slices.ContainsFunc(rest, func(a string) bool { return a == "--format" || strings.HasPrefix(a, "--format=") }) {
		return "", nil, usageError{fmt.Sprintf("%s prints one bare value; leave out --format", key)}
	}
	return key, rest, nil
}

var nonAlnum = regexp.MustCompile(`[^a-z0-9]+`)

// reportValues reads a report's lines ("Ps restart policy:   on-failure:10")
// into Dokku's keys (--ps-restart-policy) and their values, in order.
func reportValues(text string) (keys []string, values map[string]string) {
	values = map[string]string{}
	for _, line := range strings.Split(text, "\n") {
		if strings.HasPrefix(line, "=====>") {
			continue
		}
		label, value, ok := strings.Cut(line, ":")
		if !ok || strings.TrimSpace(label) == "" {
			continue
		}
		key := "--" + strings.Trim(nonAlnum.ReplaceAllString(strings.ToLower(strings.TrimSpace(label)), "-"), "-")
		if _, dup := values[key]; dup {
			continue
		}
		keys = append(keys, key)
		values[key] = strings.TrimSpace(value)
	}
	return keys, values
}

// lookupReportKey runs the report and prints the one value of key, or
// says which keys there are.
func lookupReportKey(key string, runReport func(stdout io.Writer) error, out io.Writer, name string) error {
	var buf bytes.Buffer
	if err := runReport(&buf); err != nil {
		return err
	}
	keys, values := reportValues(buf.String())
	v, ok := values[key]
	if !ok {
		// Dokku's dynamic keys hold a dot (--docker-options-deploy.web);
		// the report's label reads as dashes.
		v, ok = values[strings.ReplaceAll(key, ".", "-")]
	}
	if !ok {
		if len(keys) == 0 {
			return usageError{fmt.Sprintf("unknown key %s; %s has no single-value keys", key, name)}
		}
		return usageError{fmt.Sprintf("unknown key %s; %s has %s", key, name, strings.Join(keys, ", "))}
	}
	fmt.Fprintln(out, v)
	return nil
}

// quietWriter drops the "----->" progress lines and "=====>" headings
// that --quiet silences (Dokku's info lines) and passes every other line
// (results, warnings, errors) on as it comes: it holds back at most the
// few bytes at the start of a line that tell which kind the line is.
type quietWriter struct {
	w    io.Writer
	head []byte // the start of the current line, while undecided
	drop bool   // the current line is dropped
	pass bool   // the current line is passed on
}

var quietPrefixes = [][]byte{[]byte("----->"), []byte("=====>")}

func (q *quietWriter) Write(p []byte) (int, error) {
	n := len(p)
	for len(p) > 0 {
		switch {
		case q.drop || q.pass:
			i := bytes.IndexByte(p, '\n')
			end := len(p)
			if i >= 0 {
				end = i + 1
			}
			if q.pass {
				if _, err := q.w.Write(p[:end]); err != nil {
					return 0, err
				}
			}
			if i >= 0 {
				q.drop, q.pass = false, false
			}
			p = p[end:]
		default:
			q.head = append(q.head, p[0])
			p = p[1:]
			q.decide()
			if q.pass {
				if _, err := q.w.Write(q.head); err != nil {
					return 0, err
				}
			}
			if q.pass || q.drop {
				if q.head[len(q.head)-1] == '\n' {
					q.drop, q.pass = false, false
				}
				q.head = q.head[:0]
			}
		}
	}
	return n, nil
}

// decide settles whether the line that starts with head is dropped.
func (q *quietWriter) decide() {
	for _, prefix := range quietPrefixes {
		if bytes.Equal(q.head, prefix) {
			q.drop = true
			return
		}
		if bytes.HasPrefix(prefix, q.head) && q.head[len(q.head)-1] != '\n' {
			return // may still be one
		}
	}
	q.pass = true
}

// flush writes the start of a last line that had no newline.
func (q *quietWriter) flush() {
	if !q.drop && len(q.head) > 0 {
		q.w.Write(q.head)
	}
	q.head = nil
}

// quietStdout reports whether --quiet filters a command's stdout too: not
// where stdout is another program's output or data (run, enter, logs,
// dumps), which must pass byte for byte.
func quietStdout(name string) bool {
	if passesArgsOn(name) || name == "enter" || name == "logs" || name == "builds:output" {
		return false
	}
	for _, suffix := range []string{":logs", ":connect", ":export"} {
		if strings.HasSuffix(name, suffix) {
			return false
		}
	}
	return true
}

// runCommand runs a command; a report it lays out as Dokku's are
// ("=====> blog ps information", then "       Key:   value" lines), and a
// per-app report given no app (and no --global) it runs for every app, as
// Dokku's `NS:report` does.
func runCommand(ctx context.Context, b *Backend, cmd command, args []string, out IO) error {
	if !strings.HasSuffix(cmd.name, ":report") {
		return cmd.run(ctx, b, args, out)
	}
	asJSON := jsonFormat(args)
	// A report whose app is optional ("disk:report [APP]") has its own
	// answer for no app (Berth as a whole): it is not run per app.
	optionalApp := strings.HasPrefix(cmd.usage, cmd.name+" [APP]")
	if !takesAppFirst(cmd) || optionalApp || hasPositional(args) || slices.Contains(args, "--global") {
		return runReport(ctx, b, cmd, args, out, asJSON)
	}
	apps, err := b.List(ctx)
	if err != nil {
		return err
	}
	if !asJSON {
		for _, a := range apps {
			if err := runReport(ctx, b, cmd, slices.Concat([]string{a.Name}, args), out, false); err != nil {
				return err
			}
		}
		return nil
	}
	// JSON: one object, each app's report under its name.
	all := map[string]json.RawMessage{}
	for _, a := range apps {
		var buf bytes.Buffer
		s := out
		s.Stdout = &buf
		if err := runReport(ctx, b, cmd, slices.Concat([]string{a.Name}, args), s, true); err != nil {
			return err
		}
		all[a.Name] = json.RawMessage(bytes.TrimSpace(buf.Bytes()))
	}
	return writeJSON(out, all)
}

// runReport runs one report, its "Key: value" lines indented as Dokku's.
func runReport(ctx context.Context, b *Backend, cmd command, args []string, out IO, asJSON bool) error {
	if asJSON {
		return cmd.run(ctx, b, args, out)
	}
	w := &indentWriter{w: out.Stdout, start: true}
	out.Stdout = w
	return cmd.run(ctx, b, args, out)
}

// jsonFormat reports whether args ask for --format json.
func jsonFormat(args []string) bool {
	for i, a := range args {
		if a == "--format=json" || a == "--format" && i+1 < len(args) && args[i+1] == "json" {
			return true
		}
	}
	return false
}

// hasPositional reports whether args name anything but flags (a --format's
// value is the flag's).
func hasPositional(args []string) bool {
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--format":
			i++
		case strings.HasPrefix(a, "--"):
		default:
			return true
		}
	}
	return false
}

// reportIndent is where Dokku's report lines start, under the "=====>"
// heading.
const reportIndent = "       "

// indentWriter indents every line but the "=====>" headings (and empty
// ones) by reportIndent.
type indentWriter struct {
	w     io.Writer
	start bool   // at the start of a line
	head  []byte // the start of the line, while it may still be a heading
}

func (iw *indentWriter) Write(p []byte) (int, error) {
	n := len(p)
	var out []byte
	for _, c := range p {
		if iw.start {
			iw.head = append(iw.head, c)
			heading := []byte("=====>")
			if len(iw.head) <= len(heading) && bytes.HasPrefix(heading, iw.head) && c != '\n' {
				continue // may still be a heading
			}
			if !bytes.HasPrefix(iw.head, heading) && !bytes.Equal(iw.head, []byte("\n")) {
				out = append(out, reportIndent...)
			}
			out = append(out, iw.head...)
			iw.head = iw.head[:0]
			iw.start = c == '\n'
			continue
		}
		out = append(out, c)
		iw.start = c == '\n'
	}
	if _, err := iw.w.Write(out); err != nil {
		return 0, err
	}
	return n, nil
}
