// Dokku's --quiet: the writer that drops the "----->" and "=====>" lines, and which
// commands it filters.

package commands

import (
	"bytes"
	"io"
	"strings"
)

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
