package caddymodule

import (
	"bytes"
	"fmt"
	"io"
	"regexp"
)

// Long waits print a progress line every few seconds ("web.1: waiting for
// port 5000 (12 s of 60 s)", "Import: 40 MiB read so far"). Over SSH they
// arrive as `remote:` lines, and in a log they must stay lines. On a
// terminal, `caddy berth` shows each run of them as one line that updates
// in place, as a progress display does, and ends it with the next line of
// other output.

// progressLine finds a progress line; its first group is what stays the
// same while the wait goes on (which wait it is).
var progressLine = regexp.MustCompile(`^(\s*\S+: waiting for .*) \(\d+ s of \d+ s\)$|^(-----> Import): \S+ MiB read so far$`)

// progressKey returns which wait line is a progress line of, if it is one.
func progressKey(line string) (string, bool) {
	m := progressLine.FindStringSubmatch(line)
	if m == nil {
		return "", false
	}
	return m[1] + m[2], true
}

// terminalProgress writes complete lines to w, drawing consecutive
// progress lines of one wait over each other (carriage return, erase the
// line). Close ends a line left open and writes what is left of a line
// without its newline.
type terminalProgress struct {
	w       io.Writer
	partial []byte
	// open is the key of the progress line on the screen, not yet ended
	// with a newline; empty when the cursor is at a line's start.
	open string
}

func (t *terminalProgress) Write(p []byte) (int, error) {
	t.partial = append(t.partial, p...)
	for {
		i := bytes.IndexByte(t.partial, '\n')
		if i < 0 {
			return len(p), nil
		}
		line := string(t.partial[:i])
		t.partial = t.partial[i+1:]
		if err := t.line(line); err != nil {
			return len(p), err
		}
	}
}

func (t *terminalProgress) line(line string) error {
	key, isProgress := progressKey(line)
	var err error
	switch {
	case isProgress && key == t.open:
		_, err = fmt.Fprintf(t.w, "\r\x1b[K%s", line)
	case isProgress:
		if t.open != "" {
			io.WriteString(t.w, "\n")
		}
		_, err = io.WriteString(t.w, line)
		t.open = key
	default:
		if t.open != "" {
			io.WriteString(t.w, "\n")
			t.open = ""
		}
		_, err = fmt.Fprintln(t.w, line)
	}
	return err
}

// Close ends the output: an open progress line gets its newline, and a
// last line without one is written as it came.
func (t *terminalProgress) Close() error {
	if t.open != "" {
		io.WriteString(t.w, "\n")
		t.open = ""
	}
	if len(t.partial) > 0 {
		_, err := t.w.Write(t.partial)
		t.partial = nil
		return err
	}
	return nil
}
