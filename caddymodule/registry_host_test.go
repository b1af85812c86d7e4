package caddymodule

import (
	"context"
	"crypto/tls"
	"strings"
	"testing"

	"github.com/berth-paas/berth/dashboard"
	"github.com/berth-paas/berth/registry"
	"github.com/berth-paas/berth/routing"
)

// testRegistry is a registry on host, in a directory of the test's.
func testRegistry(t *testing.T, host string) *registry.Registry {
	t.Helper()
	reg, err := registry.New(context.Background(), registry.Config{Dir: t.TempDir(), Host: host})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { reg.Close() })
	return reg
}

// The registry is made with the core, which outlives a reload: a reload
// that adds, changes or removes it would leave the old host served but
// no longer reserved (an app could add it as a domain), so it is
// refused, as a changed docker_host is.
func TestAReloadThatChangesTheRegistryIsRefused(t *testing.T) {
	for _, tc := range []struct {
		name, running, next string
		refused             bool
	}{
		{"added", "", "registry.example.test", true},
		{"changed", "registry.example.test", "other.example.test", true},
		{"port changed", "registry.example.test", "registry.example.test:8443", true},
		{"removed", "registry.example.test", "", true},
		{"unchanged", "registry.example.test", "registry.example.test", false},
		{"none", "", "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &core{}
			if tc.running != "" {
				c.registry = testRegistry(t, tc.running)
			}
			err := (&App{Registry: tc.next}).unchangeable(c)
			if tc.refused && (err == nil || !strings.Contains(err.Error(), "restart Caddy")) {
				t.Fatalf("registry %q → %q: %v, want a refusal saying to restart Caddy", tc.running, tc.next, err)
			}
			if !tc.refused && err != nil {
				t.Fatal(err)
			}
		})
	}
}

// The registry's host is Berth's own, like the dashboard's: an app's
// wildcard over it (whose custom certificate its deploy key may have
// added) must not get its handshakes.
func TestNoAppCertificateIsServedOnTheRegistrysHost(t *testing.T) {
	table := routing.New()
	table.SetHosts("wild", []string{"*.example.test"})
	if _, ok := table.Match("registry.example.test"); !ok {
		t.Fatal("the test's wildcard does not match the registry's host")
	}
	// No certificates (certs nil): asking the app's would panic.
	c := &core{table: table, dashboard: dashboard.New(dashboard.Config{}), registry: testRegistry(t, "registry.example.test:8443")}
	a := &App{}
	a.core.Store(c)
	m := &Certificates{app: a}
	defer func() {
		if p := recover(); p != nil {
			t.Fatalf("the handshake for the registry's host asked app wild's certificates (%v)", p)
		}
	}()
	cert, err := m.GetCertificate(context.Background(), &tls.ClientHelloInfo{ServerName: "registry.example.test"})
	if err != nil || cert != nil {
		t.Fatalf("got %v %v, want no certificate", cert, err)
	}
}
