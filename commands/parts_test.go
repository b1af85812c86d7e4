package commands

import (
	"context"
	"strings"
	"testing"
)

// A command whose part the Backend lacks (a front door built without
// domains, say) fails with a message that says so, not a nil pointer.
func TestCommandOfAMissingPartSaysSo(t *testing.T) {
	for _, line := range []string{"domains:report blog", "ports:list blog", "config:get --global K", "apps:rename blog news"} {
		var stderr strings.Builder
		err := Exec(context.Background(), &Backend{}, strings.Fields(line), IO{Stdout: &strings.Builder{}, Stderr: &stderr})
		if err == nil || !strings.Contains(err.Error(), "are not set up in this Berth") {
			t.Errorf("%s: %v (stderr %q)", line, err, stderr.String())
		}
	}
}
