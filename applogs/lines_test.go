package applogs

import (
	"io"
	"strings"
	"testing"
)

func TestLineReaderCutsALongLineAt16KiB(t *testing.T) {
	lr := NewLineReader(strings.NewReader(strings.Repeat("x", 20<<10) + "\nnext\n"))
	line, err := lr.Next()
	if err != nil || len(line) != maxLineBytes {
		t.Fatalf("first line: %d bytes, %v; want %d bytes", len(line), err, maxLineBytes)
	}
	if line, err := lr.Next(); err != nil || string(line) != "next" {
		t.Fatalf("second line: %q, %v; want the next line whole", line, err)
	}
}

func TestLineReaderGivesALastLineWithoutNewlineWithEOF(t *testing.T) {
	lr := NewLineReader(strings.NewReader("one\ntwo"))
	if line, err := lr.Next(); err != nil || string(line) != "one" {
		t.Fatalf("first: %q, %v", line, err)
	}
	if line, err := lr.Next(); err != io.EOF || string(line) != "two" {
		t.Fatalf("last: %q, %v; want \"two\" with io.EOF", line, err)
	}
	if line, err := lr.Next(); err != io.EOF || len(line) != 0 {
		t.Fatalf("after the end: %q, %v; want nothing with io.EOF", line, err)
	}
}
