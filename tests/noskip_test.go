package tests

import (
	"bufio"
	"bytes"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// skipLine matches a testscript skip command, with or without conditions.
var skipLine = regexp.MustCompile(`^\s*(\[[^]]*\]\s*)?skip\b`)

// TestScriptsDoNotSkip keeps every script running its assertions. A
// skipped script passes: nothing in the suite's result says it asserted
// nothing, so a skip (say, when a tool is missing) hides a regression.
// A script that needs something the host may lack fails and says what to
// install instead. Only the script part of a txtar counts: files after
// the first "-- name --" line are data (shell scripts may set skip=).
func TestScriptsDoNotSkip(t *testing.T) {
	n := 0
	err := filepath.WalkDir("testdata", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".txtar") {
			return err
		}
		n++
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		for i, line := range scriptLines(data) {
			if skipLine.MatchString(line) {
				t.Errorf("%s:%d: %q: a skipped script asserts nothing yet passes; fail with what the host lacks instead", path, i+1, strings.TrimSpace(line))
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if n == 0 {
		t.Fatal("no scripts found in testdata")
	}
}

// scriptLines returns a txtar's comment section, the testscript itself.
func scriptLines(data []byte) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		l := sc.Text()
		if strings.HasPrefix(l, "-- ") && strings.HasSuffix(strings.TrimSpace(l), " --") {
			break
		}
		lines = append(lines, l)
	}
	return lines
}
