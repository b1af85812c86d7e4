package caddymodule

import (
	"bytes"
	"context"
	"crypto/tls"
	"slices"
	"sync"
	"sync/atomic"
	_ "unsafe" // go:linkname

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/caddytls" // the cache linked to below
	"github.com/caddyserver/certmagic"

	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/routing"
)

func init() { caddy.RegisterModule(Certificates{}) }

// Certificates is the certificate manager `berth`
// (`tls { get_certificate berth }`): it serves an app's custom
// certificate (certs:add) for the app's names that it covers. Caddy asks
// managers before it loads or obtains a certificate from ACME, so a
// custom certificate wins; it answers nothing for any other name, and
// ACME (gated by the `berth` permission) takes over.
type Certificates struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (Certificates) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "tls.get_certificate.berth",
		New: func() caddy.Module { return new(Certificates) },
	}
}

// Provision finds the berth app.
func (m *Certificates) Provision(ctx caddy.Context) error {
	app, err := berthApp(ctx)
	if err != nil {
		return err
	}
	m.app = app
	managers.Add(1)
	return nil
}

// Cleanup counts the manager out.
func (m *Certificates) Cleanup() error {
	if m.app != nil {
		managers.Add(-1)
	}
	return nil
}

// managers counts the provisioned `berth` certificate managers, so that
// certs:add can say when no config asks for custom certificates. During
// a reload the old and new configs both count; that errs on the side of
// not warning.
var managers atomic.Int64

// caddyCertificates is Caddy's certificate cache as package certs uses
// it (certs.Cache).
type caddyCertificates struct{}

func (caddyCertificates) Install(hosts []string, certPEM, keyPEM []byte) {
	installCertificate(hosts, certPEM, keyPEM)
}
func (caddyCertificates) Evict(names []string) { evictCertificates(names) }
func (caddyCertificates) EvictCertificate(names []string, leafDER []byte) {
	evictCertificate(names, leafDER)
}
func (caddyCertificates) Served(host string) (certs.ServedCert, bool) { return servedCertificate(host) }
func (caddyCertificates) CustomServed() bool                          { return managers.Load() > 0 }

// GetCertificate returns the custom certificate of the app that the
// handshake's server name routes to, or nil. The dashboard's and the
// registry's hosts are Berth's own, as in the handler and the
// permission: an app's wildcard over them (whose custom certificate its
// deploy key may have added) must not get their handshakes (the table
// refuses them too: SetReserved). A disabled app serves nothing, so it
// shows no certificate.
func (m *Certificates) GetCertificate(ctx context.Context, hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	name := routing.NormalizeHost(hello.ServerName)
	if name == "" {
		return nil, nil
	}
	table, err := m.app.routes(ctx)
	if err != nil {
		return nil, err
	}
	c := m.app.core.Load()
	if c == nil || c.dashboard.Serves(name) || c.registry.Serves(name) {
		return nil, nil
	}
	route, ok := table.Match(name)
	if !ok || route.Disabled {
		return nil, nil
	}
	return c.certs.CustomCertificate(ctx, route.App, name), nil
}

// UnmarshalCaddyfile reads `get_certificate berth`, which takes no
// options.
func (m *Certificates) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // module name
	if d.NextArg() {
		return d.ArgErr()
	}
	return nil
}

// Caddy keeps a certificate it obtained on demand in its cache and serves
// it from there without asking the permission module again, so a domain
// removed from an app (or a destroyed app) would keep its certificate
// until it expires; and a cached ACME certificate would hide a custom one
// added later. Neither caddytls nor certmagic exports a way to drop a
// certificate by name, so Berth links to caddytls's process-wide cache
// and its lock. If a Caddy upgrade renames them, the build fails.
//
//go:linkname caddyCertCache github.com/caddyserver/caddy/v2/modules/caddytls.certCache
var caddyCertCache *certmagic.Cache

//go:linkname caddyCertCacheMu github.com/caddyserver/caddy/v2/modules/caddytls.certCacheMu
var caddyCertCacheMu sync.RWMutex

// servedCertificate returns a certificate Caddy holds in memory that
// serves host (its own, or a wildcard), for certs:report: from ACME, or a
// custom certificate installCertificate put there.
func servedCertificate(host string) (certs.ServedCert, bool) {
	caddyCertCacheMu.RLock()
	defer caddyCertCacheMu.RUnlock()
	if caddyCertCache == nil {
		return certs.ServedCert{}, false
	}
	for _, cert := range caddyCertCache.AllMatchingCertificates(host) {
		if cert.Leaf == nil {
			continue
		}
		return certs.ServedCert{Host: host, Issuer: cert.Leaf.Issuer.CommonName, Names: cert.Names, NotAfter: cert.Leaf.NotAfter.UTC()}, true
	}
	return certs.ServedCert{}, false
}

// installCertificate puts a custom certificate in Caddy's cache, in
// place of what it held for hosts (package certs calls it only when every
// name the cache files the certificate under is one of hosts). An exact
// name is matched before a
// wildcard, so the custom certificate wins over ACME's, a wildcard
// certificate from DNS-01 included. It is cached unmanaged: Caddy serves
// it and never renews it.
func installCertificate(hosts []string, certPEM, keyPEM []byte) {
	caddyCertCacheMu.RLock()
	defer caddyCertCacheMu.RUnlock()
	if caddyCertCache == nil {
		return // no TLS app: the manager serves it once there is one
	}
	evictLocked(caddyCertCache, hosts)
	// A config only to reach the cache; OCSP stapling is off so that it
	// touches no storage. (Not ...AsReplacement: in certmagic v0.25.6 it
	// read-locks the cache while holding its write lock, and hangs.)
	cfg := certmagic.New(caddyCertCache, certmagic.Config{OCSP: certmagic.OCSPConfig{DisableStapling: true}})
	// Package certs checked the pair; should caching fail anyway, the
	// cache is empty for hosts and the manager serves the certificate.
	hash, err := cfg.CacheUnmanagedCertificatePEMBytes(context.Background(), certPEM, keyPEM, []string{"berth-custom"})
	if err != nil {
		return
	}
	// The cache files a certificate under every name in it (Common Name,
	// IPs, ... too), and serves it for all of them: package certs hands
	// over only certificates whose names are all hosts, by certmagic's
	// rules as it knows them. Should certmagic file it under another name
	// (a newer version's rules), it must not serve another app's host or
	// a client without SNI: take it out again, and the manager serves it.
	for _, h := range hosts {
		for _, cert := range caddyCertCache.AllMatchingCertificates(h) {
			if cert.Hash() == hash && slices.ContainsFunc(cert.Names, func(n string) bool { return !slices.Contains(hosts, n) }) {
				caddyCertCache.Remove([]string{hash})
				return
			}
		}
	}
}

// evictCertificates drops from Caddy's cache the certificates that name
// exactly one of names (a wildcard certificate stays: it serves other
// names too), so the next handshake for them goes through the managers
// and the permission module again.
func evictCertificates(names []string) {
	caddyCertCacheMu.RLock()
	defer caddyCertCacheMu.RUnlock()
	if caddyCertCache != nil { // else no TLS app: nothing is cached
		evictLocked(caddyCertCache, names)
	}
}

// evictCertificate drops from Caddy's cache the certificate whose leaf
// is leafDER, looked up under names; other certificates filed under those
// names stay.
func evictCertificate(names []string, leafDER []byte) {
	caddyCertCacheMu.RLock()
	defer caddyCertCacheMu.RUnlock()
	if caddyCertCache == nil {
		return
	}
	var hashes []string
	for _, name := range names {
		for _, cert := range caddyCertCache.AllMatchingCertificates(name) {
			if len(cert.Certificate.Certificate) > 0 && bytes.Equal(cert.Certificate.Certificate[0], leafDER) && !slices.Contains(hashes, cert.Hash()) {
				hashes = append(hashes, cert.Hash())
			}
		}
	}
	if len(hashes) > 0 {
		caddyCertCache.Remove(hashes)
	}
}

func evictLocked(cache *certmagic.Cache, names []string) {
	var hashes []string
	for _, name := range names {
		for _, cert := range cache.AllMatchingCertificates(name) {
			if slices.Contains(cert.Names, name) && !slices.Contains(hashes, cert.Hash()) {
				hashes = append(hashes, cert.Hash())
			}
		}
	}
	if len(hashes) > 0 {
		cache.Remove(hashes)
	}
}

// Interface guards
var (
	_ certmagic.Manager     = (*Certificates)(nil)
	_ caddy.Provisioner     = (*Certificates)(nil)
	_ caddy.CleanerUpper    = (*Certificates)(nil)
	_ caddyfile.Unmarshaler = (*Certificates)(nil)
)
