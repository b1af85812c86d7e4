package certs

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-paas/berth/store"
)

// A TLS document that does not parse is skipped: the other apps' settings
// load, and TLS commands of the app itself work (and write it anew).
func TestBadTLSDocumentIsSkipped(t *testing.T) {
	ctx := context.Background()
	p, apps, _ := newTestCerts(t, "app.example.test")
	if err := p.store.Put(ctx, tlsKey("app"), []byte("{not json")); err != nil {
		t.Fatal(err)
	}
	if err := p.store.Put(ctx, tlsKey("other"), []byte(`{"hsts":{"enabled":false}}`)); err != nil {
		t.Fatal(err)
	}
	if h := p.HSTSHeader(ctx, "other"); h != "" {
		t.Errorf("other's HSTS header %q, want none (its own setting)", h)
	}
	if err := p.SetHSTS(ctx, "app", "hsts-max-age", "60"); err != nil {
		t.Fatal(err)
	}
	if h := p.HSTSHeader(ctx, "app"); h != "max-age=60; includeSubDomains" {
		t.Errorf("app's HSTS header %q", h)
	}
	apps.destroy(ctx, "app")
	if _, err := p.store.Get(ctx, tlsKey("app")); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("the destroyed app's document: %v, want it gone", err)
	}
}
