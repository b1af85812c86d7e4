package commands

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"syscall"

	"github.com/berth-paas/berth/platform"
)

// configImportCommands is Dokku's config:import (plugins/config of
// dokku/dokku): config vars from an env file or JSON, on stdin ("-") or,
// for admin keys, from a file on the server.
var configImportCommands = []command{
	{appScope, "config:import", "config:import APP|--global FILE|- [--format envfile|json] [--replace] [--no-restart]", "Set the config vars of an env file (KEY=VALUE lines, as config:export --format envfile prints them) or a JSON object, read from stdin (-) or (admin keys) a file on the server; --replace: remove the vars it does not have", configImport},
}

// maxConfigImport bounds what config:import reads: config vars live in the
// app's record, which every command loads.
const maxConfigImport = 1 << 20

func configImport(ctx context.Context, p *Backend, args []string, out IO) error {
	pos, flags, err := parseFlags(args, "format")
	if err != nil {
		return err
	}
	_, global := flags["global"]
	_, replace := flags["replace"]
	_, noRestart := flags["no-restart"]
	if global {
		pos = append([]string{""}, pos...)
	}
	if len(pos) != 2 {
		return usageError{"give an app (or --global) and a file on the server, or - to read stdin"}
	}
	app, file := pos[0], pos[1]
	format := flags["format"]
	if format == "" {
		format = "envfile"
	}
	if format != "envfile" && format != "json" {
		return usageError{fmt.Sprintf("unknown format %q; use --format envfile|json", format)}
	}
	var in io.Reader
	if file == "-" {
		fmt.Fprintln(out.Stderr, "-----> Reading config vars from stdin") // Dokku's line
		in = stdinOrEmpty(out)
	} else {
		// A file on the server: an admin's (who may read it anyway), never
		// a deploy key's, which could read any file Berth can into its
		// config and print it with config:show.
		if platform.IsDeployKey(ctx) {
			return errors.New("a deploy key imports from stdin only: config:import APP - < FILE")
		}
		f, err := openServerFile(file)
		if err != nil {
			return err
		}
		defer f.Close()
		in = f
	}
	data, err := io.ReadAll(io.LimitReader(in, maxConfigImport+1))
	if err != nil {
		return err
	}
	if len(data) > maxConfigImport {
		return fmt.Errorf("the config to import is more than %d bytes; config vars are for settings, not files", maxConfigImport)
	}
	set, err := parseConfigImport(data, format)
	if err != nil {
		return err
	}
	if len(set) == 0 {
		return errors.New("no config vars to set") // Dokku's error
	}
	// --replace: the vars to remove are read under the app's (or the
	// global) lock, where the new ones are written, so the import is all
	// or nothing even beside a concurrent config:set.
	var unset []string
	keys := strings.Join(slices.Sorted(maps.Keys(set)), ", ")
	if global {
		g, err := part(p.Globals, "the global settings")
		if err != nil {
			return err
		}
		if replace {
			unset, err = g.ReplaceConfig(ctx, set)
		} else {
			err = g.SetConfig(ctx, set, nil)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Set %s globally; apps get it from their next deploy or ps:restart\n", keys)
	} else {
		if replace {
			unset, err = p.Deploy.ReplaceConfig(ctx, app, set, noRestart, out.Stderr)
		} else {
			err = p.Deploy.SetConfig(ctx, app, set, nil, noRestart, out.Stderr)
		}
		if err != nil {
			return err
		}
		fmt.Fprintf(out.Stdout, "-----> Set %s on %s\n", keys, app)
	}
	if len(unset) > 0 {
		fmt.Fprintf(out.Stdout, "-----> Unset %s (--replace)\n", strings.Join(unset, ", "))
	}
	return nil
}

// parseConfigImport reads config:import's input: a JSON object of strings,
// or an env file.
func parseConfigImport(data []byte, format string) (map[string]string, error) {
	if format == "json" {
		var m map[string]string
		if err := json.Unmarshal(data, &m); err != nil {
			return nil, fmt.Errorf("the JSON to import must be one object of string values ({\"KEY\": \"value\"}): %w", err)
		}
		return m, nil
	}
	return parseEnvFile(data)
}

// parseEnvFile reads KEY=VALUE lines as Dokku's config:import and
// docker's --env-file take them, and as config:export --format envfile
// prints them: blank lines and # comments skipped, an optional "export "
// in front; the value as a shell word (single quotes kept literal, double
// quotes with \ escapes, unquoted text up to a # comment). A line that is
// not an assignment is an error naming it, never skipped.
func parseEnvFile(data []byte) (map[string]string, error) {
	set := map[string]string{}
	// Lines, not a bufio.Scanner: a quoted value may span lines (what
	// config:export writes for a value with a newline, K='a<newline>b'), so
	// while a quote is open the next line is part of the value, kept as is
	// (its spaces too). data is already bounded by maxConfigImport.
	lines := strings.Split(string(data), "\n")
	for i := 0; i < len(lines); i++ {
		n := i + 1
		first := strings.TrimSuffix(lines[i], "\r")
		line := strings.TrimLeft(first, " \t")
		if strings.TrimSpace(line) == "" || strings.HasPrefix(line, "#") {
			continue
		}
		line = strings.TrimPrefix(line, "export ")
		key, raw, ok := strings.Cut(line, "=")
		key = strings.TrimSpace(key)
		if !ok || key == "" || strings.ContainsAny(key, " \t'\"") {
			return nil, fmt.Errorf("line %d is not KEY=VALUE: %q", n, first)
		}
		raw = strings.TrimLeft(raw, " \t")
		for quoteOpen(raw) && i+1 < len(lines) {
			i++
			raw += "\n" + lines[i]
		}
		value, err := shellWord(strings.TrimRight(raw, " \t\r"))
		if err != nil {
			return nil, fmt.Errorf("line %d (%s): %w", n, key, err)
		}
		set[key] = value
	}
	return set, nil
}

// quoteOpen reports whether s ends inside a single or double quote, read
// as shellWord reads it: then the value goes on on the next line. Unquoted
// whitespace ends the word (what follows is a comment), so a quote there
// opens nothing.
func quoteOpen(s string) bool {
	var q byte
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case q == '\'':
			if c == '\'' {
				q = 0
			}
		case q == '"':
			if c == '\\' {
				i++
			} else if c == '"' {
				q = 0
			}
		case c == '\\':
			i++
		case c == '\'' || c == '"':
			q = c
		case c == ' ' || c == '\t':
			return false
		}
	}
	return q != 0
}

// shellWord reads one shell word: quoted parts joined with unquoted ones;
// unquoted whitespace or a # after whitespace ends it (the rest must be a
// comment).
func shellWord(s string) (string, error) {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			end := strings.IndexByte(s[i+1:], '\'')
			if end < 0 {
				return "", errors.New("a single quote is not closed before the end of the input")
			}
			b.WriteString(s[i+1 : i+1+end])
			i += end + 1
		case '"':
			closed := false
			for i++; i < len(s); i++ {
				if s[i] == '"' {
					closed = true
					break
				}
				if s[i] == '\\' && i+1 < len(s) {
					i++
					switch s[i] {
					case 'n':
						b.WriteByte('\n')
					case 't':
						b.WriteByte('\t')
					case '"', '\\', '$', '`':
						b.WriteByte(s[i])
					default:
						b.WriteByte('\\')
						b.WriteByte(s[i])
					}
					continue
				}
				b.WriteByte(s[i])
			}
			if !closed {
				return "", errors.New("a double quote is not closed before the end of the input")
			}
		case ' ', '\t':
			rest := strings.TrimSpace(s[i:])
			if rest != "" && !strings.HasPrefix(rest, "#") {
				return "", fmt.Errorf("unquoted space in the value (quote it): %q", s)
			}
			return b.String(), nil
		case '\\':
			if i+1 < len(s) {
				i++
			}
			b.WriteByte(s[i])
		default:
			b.WriteByte(c)
		}
	}
	return b.String(), nil
}

// openServerFile opens a regular file on the server for an admin's
// command that names one (config:import, ssh-keys:add). O_NONBLOCK:
// opening a FIFO with no writer would wait forever; anything but a
// regular file (a FIFO, a device, a directory) is refused before it is
// read.
func openServerFile(file string) (*os.File, error) {
	f, err := os.OpenFile(file, os.O_RDONLY|syscall.O_NONBLOCK, 0)
	if err != nil {
		return nil, fmt.Errorf("cannot read %s: %w; give a file on the server, or - and the file on stdin", file, err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("cannot read %s: %w", file, err)
	}
	if !fi.Mode().IsRegular() {
		f.Close()
		return nil, fmt.Errorf("cannot read %s: it is %s, not a regular file; give a file on the server, or - and the file on stdin", file, describeFileType(fi.Mode()))
	}
	return f, nil
}

// describeFileType names what a non-regular file is, for an error.
func describeFileType(m os.FileMode) string {
	switch {
	case m&os.ModeNamedPipe != 0:
		return "a FIFO"
	case m.IsDir():
		return "a directory"
	case m&os.ModeSocket != 0:
		return "a socket"
	case m&os.ModeDevice != 0:
		return "a device"
	}
	return "a " + m.Type().String() + " file"
}
