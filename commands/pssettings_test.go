package commands

import (
	"bytes"
	"context"
	"io"
	"strings"
	"testing"
)

// stop-timeout-seconds 0 is refused, saying how to unset: it read as
// "stop at once" and meant "unset" (the global printed "to 0" and applied
// 30). Out of range is refused too.
func TestPsSetStopTimeoutRefusesZero(t *testing.T) {
	for _, line := range []string{
		"ps:set --global stop-timeout-seconds 0",
		"ps:set blog stop-timeout-seconds 0",
		"ps:set blog stop-timeout-seconds 3601",
		"ps:set --global stop-timeout-seconds -1",
		"ps:set blog stop-timeout-seconds soon",
	} {
		var stderr bytes.Buffer
		err := Exec(context.Background(), nil, strings.Fields(line), IO{Stdout: io.Discard, Stderr: &stderr})
		if err == nil || !strings.Contains(stderr.String(), "from 1 to 3600; to unset it, give no value") {
			t.Errorf("%q: err = %v, stderr %q", line, err, stderr.String())
		}
	}
	if n, err := parseStopTimeout("", ""); n != 0 || err != nil {
		t.Errorf("no value = %d, %v; want 0 (unset)", n, err)
	}
	if n, err := parseStopTimeout("3600", ""); n != 3600 || err != nil {
		t.Errorf("3600 = %d, %v", n, err)
	}
}
