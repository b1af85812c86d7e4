package domains_test

import (
	"context"
	"io"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// ChangePortsThen's then runs after a refused change too (tcproute's
// Sync releases the host ports its check bound), and the change's error
// is the one returned.
func TestPortsThenRunsAfterARefusedChange(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	ran := false
	refuse := func([]platform.PortMapping) ([]platform.PortMapping, error) { return nil, io.ErrUnexpectedEOF }
	err := b.d.ChangePortsThen(b.ctx, "blog", refuse, func(context.Context) error { ran = true; return nil }, io.Discard)
	if !ran || err != io.ErrUnexpectedEOF {
		t.Fatalf("then ran %t; change returned %v", ran, err)
	}
}
