package caddymodule

import (
	"net"
	"testing"

	"github.com/caddyserver/certmagic"

	"github.com/berth-paas/berth/internal/berthtest"
)

// issue makes a certificate (and its key) for dns and ips with Common
// Name cn, from the harness's test CA: the cache does not check the
// chain, only the names a certificate is filed under.
func issue(t *testing.T, cn string, dns []string, ips []net.IP) (certPEM, keyPEM []byte) {
	t.Helper()
	ca, err := berthtest.NewCA("Berth Test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err = ca.IssueCN(cn, dns, ips)
	if err != nil {
		t.Fatal(err)
	}
	return certPEM, keyPEM
}

// testCache swaps caddytls's certificate cache for an empty one.
func testCache(t *testing.T) *certmagic.Cache {
	t.Helper()
	cache := certmagic.NewCache(certmagic.CacheOptions{GetConfigForCert: func(certmagic.Certificate) (*certmagic.Config, error) {
		return certmagic.New(nil, certmagic.Config{}), nil
	}})
	caddyCertCacheMu.Lock()
	old := caddyCertCache
	caddyCertCache = cache
	caddyCertCacheMu.Unlock()
	t.Cleanup(func() {
		caddyCertCacheMu.Lock()
		caddyCertCache = old
		caddyCertCacheMu.Unlock()
		cache.Stop()
	})
	return cache
}

// The cache serves a certificate for every name it files it under; one
// filed under a name that is not among the hosts it is installed for
// (here by its Common Name or an IP address, which the platform refuses
// to install already) is taken out again.
func TestInstallCertificateServesOnlyItsHosts(t *testing.T) {
	for _, tc := range []struct {
		name, cn, stray string
		ips             []net.IP
		kept            bool
	}{
		{"own names", "a.example.test", "", nil, true},
		{"another host as common name", "victim.example.test", "victim.example.test", nil, false},
		{"wildcard common name", "*.example.test", "victim.example.test", nil, false},
		{"IP address", "a.example.test", "127.0.0.1", []net.IP{net.ParseIP("127.0.0.1")}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cache := testCache(t)
			certPEM, keyPEM := issue(t, tc.cn, []string{"a.example.test"}, tc.ips)
			installCertificate([]string{"a.example.test"}, certPEM, keyPEM)
			if kept := len(cache.AllMatchingCertificates("a.example.test")) > 0; kept != tc.kept {
				t.Errorf("cached for a.example.test: %v, want %v", kept, tc.kept)
			}
			if tc.stray != "" {
				if certs := cache.AllMatchingCertificates(tc.stray); len(certs) > 0 {
					t.Errorf("cached for %s: names %q", tc.stray, certs[0].Names)
				}
			}
		})
	}
}
