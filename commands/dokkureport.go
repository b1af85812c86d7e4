// Dokku's report conventions: single-value lookups (`ps:report APP --ps-restart-policy`),
// reports laid out and indented as Dokku's, per-app reports run for every app.

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
