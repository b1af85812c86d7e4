package certs

import (
	"context"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"math/big"
	"net"
	"net/url"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/store"
)

// issueCert makes a self-signed certificate and key, as PEM text for
// certs:add, with the given Common Name, DNS names and IP addresses.
func issueCert(t *testing.T, cn string, dns []string, ips []net.IP) []byte {
	t.Helper()
	return issueCertUntil(t, cn, dns, ips, time.Now().Add(time.Hour))
}

func issueCertUntil(t *testing.T, cn string, dns []string, ips []net.IP, notAfter time.Time) []byte {
	t.Helper()
	cert, key := signedPEM(t, &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     dns,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     notAfter,
	})
	return append(cert, key...)
}

// fakeCache records what certs asks of the TLS server's cache.
type fakeCache struct {
	mu         sync.Mutex
	installed  [][]string // hosts of each install
	evicted    [][]string // names of each evict
	evictedDER [][]byte   // leaves of each EvictCertificate
	onInstall  func()
	served     map[string]ServedCert
}

func (c *fakeCache) Install(hosts []string, certPEM, keyPEM []byte) {
	c.mu.Lock()
	c.installed = append(c.installed, slices.Clone(hosts))
	f := c.onInstall
	c.mu.Unlock()
	if f != nil {
		f()
	}
}

func (c *fakeCache) Evict(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted = append(c.evicted, slices.Clone(names))
}

func (c *fakeCache) EvictCertificate(names []string, leafDER []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evictedDER = append(c.evictedDER, leafDER)
}

func (c *fakeCache) Served(host string) (ServedCert, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	s, ok := c.served[host]
	return s, ok
}

func (c *fakeCache) CustomServed() bool { return true }

func (c *fakeCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installed, c.evicted = nil, nil
}

func (c *fakeCache) evictedAll() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	var all []string
	for _, e := range c.evicted {
		all = append(all, e...)
	}
	return all
}

func TestCacheNamesAreCertmagics(t *testing.T) {
	u, _ := url.Parse("spiffe://Example.test/x")
	leaf := &x509.Certificate{
		Subject:        pkix.Name{CommonName: "*.Example.test"},
		DNSNames:       []string{"A.example.test", "*.Example.test"},
		IPAddresses:    []net.IP{net.ParseIP("127.0.0.1")},
		EmailAddresses: []string{"Me@example.test"},
		URIs:           []*url.URL{u},
	}
	want := []string{"*.example.test", "a.example.test", "127.0.0.1", "me@example.test", "spiffe://Example.test/x"}
	if got := cacheNames(leaf); !slices.Equal(got, want) {
		t.Errorf("cacheNames = %q, want %q", got, want)
	}
}

// A certificate is cached only when every name Caddy's cache would file
// it under is a host of its app; otherwise it would be served for other
// apps' hosts (a Common Name) or to clients without a server name (an IP).
func TestCustomCertificateCachedOnlyForItsAppsNames(t *testing.T) {
	ctx := context.Background()
	for _, tc := range []struct {
		name   string
		input  func(t *testing.T) []byte
		cached bool
	}{
		{"own names", func(t *testing.T) []byte {
			return issueCert(t, "a.example.test", []string{"a.example.test"}, nil)
		}, true},
		{"no common name", func(t *testing.T) []byte { return issueCert(t, "", []string{"a.example.test"}, nil) }, true},
		{"wildcard common name", func(t *testing.T) []byte {
			return issueCert(t, "*.example.test", []string{"a.example.test"}, nil)
		}, false},
		{"another app's host as common name", func(t *testing.T) []byte {
			return issueCert(t, "victim.example.test", []string{"a.example.test"}, nil)
		}, false},
		{"IP address", func(t *testing.T) []byte {
			return issueCert(t, "a.example.test", []string{"a.example.test"}, []net.IP{net.ParseIP("127.0.0.1")})
		}, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, _, c := newTestCerts(t, "a.example.test")
			info, err := p.AddCertificate(ctx, "app", tc.input(t), false)
			if err != nil {
				t.Fatal(err)
			}
			if foreign := len(info.Foreign) > 0; foreign == tc.cached {
				t.Errorf("foreign names %q, cached %v", info.Foreign, tc.cached)
			}
			if cached := len(c.installed) > 0; cached != tc.cached {
				t.Fatalf("cached: %v, want %v (installs %q)", cached, tc.cached, c.installed)
			}
			if !tc.cached && !slices.Contains(c.evictedAll(), "a.example.test") {
				t.Errorf("evicted %q, want a.example.test (so that the manager serves it)", c.evicted)
			}
			// Berth's start installs stored certificates by the same rule.
			c.reset()
			if err := p.InstallCustomCertificates(ctx); err != nil {
				t.Fatal(err)
			}
			if cached := len(c.installed) > 0; cached != tc.cached {
				t.Errorf("at start, cached: %v, want %v", cached, tc.cached)
			}
		})
	}
}

// certs:update drops the old certificate for the names the new one no
// longer covers.
func TestUpdateEvictsTheOldCertificatesNames(t *testing.T) {
	ctx := context.Background()
	p, _, c := newTestCerts(t, "a.example.test", "b.example.test")
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test", "b.example.test"}, nil), false); err != nil {
		t.Fatal(err)
	}
	c.reset()
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test"}, nil), true); err != nil {
		t.Fatal(err)
	}
	if !slices.Contains(c.evictedAll(), "b.example.test") {
		t.Errorf("evicted %q, want b.example.test", c.evicted)
	}
	if !slices.EqualFunc(c.installed, [][]string{{"a.example.test"}}, slices.Equal) {
		t.Errorf("installed %q, want a.example.test", c.installed)
	}
}

// Cache changes happen under the app's lock: a certs:remove cannot run
// between a certs:add's store and its cache install (and leave the removed
// certificate in the cache).
func TestCacheChangesHoldTheAppLock(t *testing.T) {
	ctx := context.Background()
	p, _, c := newTestCerts(t, "a.example.test")
	var removeErr error
	c.onInstall = func() { removeErr = p.RemoveCertificate(ctx, "app") }
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test"}, nil), false); err != nil {
		t.Fatal(err)
	}
	if !errors.Is(removeErr, errBusy) {
		t.Errorf("certs:remove during certs:add's install: %v, want it busy", removeErr)
	}
}

// A change of the app's hosts puts its certificate back in the cache for
// the hosts it has now: a domain added that makes every name of the
// certificate the app's own lets it be cached.
func TestDomainChangeRestoresTheCertificate(t *testing.T) {
	ctx := context.Background()
	p, apps, c := newTestCerts(t, "a.example.test")
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test", "b.example.test"}, nil), false); err != nil {
		t.Fatal(err)
	}
	if len(c.installed) > 0 {
		t.Fatalf("installed %q while b.example.test is not the app's", c.installed)
	}
	apps.setHosts(ctx, "app", "a.example.test", "b.example.test")
	if !slices.EqualFunc(c.installed, [][]string{{"a.example.test", "b.example.test"}}, slices.Equal) {
		t.Errorf("after domains:add, installed %q", c.installed)
	}
	// Removing b again leaves a name of the certificate that is not the
	// app's: out of the cache, to the manager.
	c.reset()
	apps.setHosts(ctx, "app", "a.example.test")
	if len(c.installed) > 0 || !slices.Contains(c.evictedAll(), "a.example.test") {
		t.Errorf("after domains:remove, installed %q, evicted %q", c.installed, c.evicted)
	}
}

// A cached custom certificate leaves the cache when it expires, so that,
// as with the manager, ACME serves its hosts rather than an expired one.
func TestExpiredCertificateLeavesTheCache(t *testing.T) {
	ctx := context.Background()
	p, _, c := newTestCerts(t, "a.example.test")
	input := issueCertUntil(t, "", []string{"a.example.test"}, nil, time.Now().Add(2*time.Second))
	if _, err := p.AddCertificate(ctx, "app", input, false); err != nil {
		t.Fatal(err)
	}
	if len(c.installed) != 1 || len(c.evicted) != 0 {
		t.Fatalf("installed %q, evicted %q", c.installed, c.evicted)
	}
	for deadline := time.Now().Add(30 * time.Second); !slices.Contains(c.evictedAll(), "a.example.test"); time.Sleep(50 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("not evicted 30s after it expired: %q", c.evicted)
		}
	}
	if cert := p.CustomCertificate(ctx, "app", "a.example.test"); cert != nil {
		t.Error("the manager still serves the expired certificate")
	}
}

// A wildcard certificate for the app's own wildcard domain names nothing
// foreign: certs:add must not warn about the very name it is for.
func TestOwnWildcardIsNoForeignName(t *testing.T) {
	ctx := context.Background()
	p, _, _ := newTestCerts(t, "a.example.test", "*.example.test")
	info, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"*.example.test"}, nil), false)
	if err != nil {
		t.Fatal(err)
	}
	if len(info.Foreign) != 0 {
		t.Fatalf("foreign names %q for the app's own wildcard", info.Foreign)
	}
	// Another wildcard it does not own is foreign still.
	p, _, _ = newTestCerts(t, "a.example.test")
	if info, _ = p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test", "*.example.test"}, nil), false); len(info.Foreign) == 0 {
		t.Fatal("a wildcard the app does not own is not foreign")
	}
}

// The app's own wildcard domain is covered by its wildcard certificate
// but never written to the TLS server's cache, neither installed nor
// evicted: cached under it, a certificate would serve every name below,
// and evicting it would drop a wildcard certificate other apps use.
func TestOwnWildcardNeverReachesTheCache(t *testing.T) {
	ctx := context.Background()
	p, _, c := newTestCerts(t, "a.example.test", "*.example.test")
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test", "*.example.test"}, nil), false); err != nil {
		t.Fatal(err)
	}
	if err := p.RemoveCertificate(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, hosts := range slices.Concat(c.installed, c.evicted) {
		if slices.Contains(hosts, "*.example.test") {
			t.Fatalf("the cache was written under the wildcard: installs %q, evicts %q", c.installed, c.evicted)
		}
	}
	if len(c.evicted) == 0 || !slices.Contains(c.evicted[len(c.evicted)-1], "a.example.test") {
		t.Fatalf("certs:remove evicted %q, want a.example.test", c.evicted)
	}
}

// A disabled app's custom certificate stays out of the TLS server's
// cache: a start (InstallCustomCertificates), a hosts change and a
// certs:add evict it rather than install it, and a hosts change after the
// enable installs it again (failed before: each installed it).
func TestDisabledAppsCertificateStaysOutOfTheCache(t *testing.T) {
	ctx := context.Background()
	apps := &fakeApps{hosts: map[string][]string{"app": {"a.example.test"}}}
	cache := &fakeCache{}
	var mu sync.Mutex
	disabled := true
	p := New(Config{Store: &store.Files{Dir: t.TempDir()}, Apps: apps, Hooks: apps, Cache: cache, Disabled: func(app string) bool {
		mu.Lock()
		defer mu.Unlock()
		return app == "app" && disabled
	}})
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "a.example.test", []string{"a.example.test"}, nil), false); err != nil {
		t.Fatal(err)
	}
	if err := p.InstallCustomCertificates(ctx); err != nil {
		t.Fatal(err)
	}
	apps.setHosts(ctx, "app", "a.example.test")
	if len(cache.installed) != 0 {
		t.Fatalf("a disabled app's certificate was cached for %q", cache.installed)
	}
	if !slices.Contains(cache.evictedAll(), "a.example.test") {
		t.Fatalf("evicted %q, want a.example.test", cache.evicted)
	}
	mu.Lock()
	disabled = false
	mu.Unlock()
	apps.setHosts(ctx, "app", "a.example.test") // the enable's hosts-changed
	if want := [][]string{{"a.example.test"}}; !slices.EqualFunc(cache.installed, want, slices.Equal) {
		t.Fatalf("after the enable: installed %q, want %q", cache.installed, want)
	}
}

// A destroyed app's certificate leaves the cache by itself: its names
// are not evicted, for they may be what other certificates are filed
// under (a Caddyfile's DNS-01 wildcard, another app's host), and it was
// cached only if they were all the app's.
func TestDestroyEvictsOnlyTheAppsCertificate(t *testing.T) {
	ctx := context.Background()
	p, apps, c := newTestCerts(t, "a.example.test")
	if _, err := p.AddCertificate(ctx, "app", issueCert(t, "", []string{"a.example.test", "*.example.test", "other.example.test"}, nil), false); err != nil {
		t.Fatal(err)
	}
	c.mu.Lock()
	c.evicted = nil
	c.mu.Unlock()
	apps.destroy(ctx, "app")
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, names := range c.evicted {
		if slices.Contains(names, "*.example.test") || slices.Contains(names, "other.example.test") {
			t.Errorf("the destroy evicted by the certificate's names %q: other certificates filed under them go too", names)
		}
	}
	if len(c.evictedDER) != 1 {
		t.Errorf("the destroyed app's certificate was evicted %d times, want once", len(c.evictedDER))
	}
}
