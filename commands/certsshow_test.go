package commands

import (
	"bytes"
	"context"
	"errors"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// A deploy key may not read a custom certificate's private key: an admin
// may have installed it (a wildcard shared by several apps). The refusal
// comes before the certificates are looked at (none are set up here).
func TestDeployKeyCannotShowACertificatesKey(t *testing.T) {
	var out bytes.Buffer
	err := certsShow(platform.AsDeployKey(context.Background()), nil, []string{"blog", "key"}, IO{Stdout: &out, Stderr: &out})
	if !errors.Is(err, ErrForbidden) {
		t.Fatalf("certs:show blog key by a deploy key: %v", err)
	}
	if out.Len() != 0 {
		t.Errorf("printed %q", out.String())
	}
}
