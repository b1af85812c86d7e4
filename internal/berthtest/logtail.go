package berthtest

import (
	"os"
	"strings"
)

// LogTail returns the last n lines of the file at path, for an error
// message that says why caddy did not start or a command failed: the end
// of the log is where the reason is, and a whole log would bury it. A
// missing file gives "".
func LogTail(path string, n int) string {
	data, _ := os.ReadFile(path)
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
