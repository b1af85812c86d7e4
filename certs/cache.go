package certs

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"slices"
	"strings"
	"time"
)

// CustomCertificate returns app's custom certificate if it covers
// serverName and is valid now; nil otherwise, and ACME serves. An expired
// custom certificate falls back to ACME rather than break every client.
func (c *Certs) CustomCertificate(ctx context.Context, app, serverName string) *tls.Certificate {
	s, err := c.load(ctx)
	if err != nil {
		return nil
	}
	e, ok := s.apps[app]
	if !ok || e.cert == nil {
		return nil
	}
	now := time.Now()
	if now.After(e.cert.Leaf.NotAfter) || now.Before(e.cert.Leaf.NotBefore) {
		return nil
	}
	if e.cert.Leaf.VerifyHostname(serverName) != nil {
		return nil
	}
	return e.cert
}

// InstallCustomCertificates puts every valid custom certificate in the
// TLS server's cache for the hosts it covers; Berth's start runs it, as
// the cache starts empty.
func (c *Certs) InstallCustomCertificates(ctx context.Context) error {
	s, err := c.load(ctx)
	if err != nil {
		return err
	}
	for app := range s.apps {
		hosts, err := c.apps.Hosts(ctx, app)
		if err != nil {
			continue // its record is gone; its document goes with the next destroy
		}
		c.restore(ctx, app, hosts)
	}
	return nil
}

// restore puts app's custom certificate (if it has a valid one) in the
// TLS server's cache for hosts, those app has now. The routing table's
// hosts-gone hook drops every cached certificate that names a host that
// stopped being routed, app's own custom one included, so a change of
// app's hosts runs it (OnAppHostsChanged) to serve the hosts app keeps
// (and a host added that the certificate covers).
func (c *Certs) restore(ctx context.Context, app string, hosts []string) {
	if _, err := c.load(ctx); err != nil {
		return
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	e := c.snap.Load().apps[app]
	if e == nil || e.cert == nil || time.Now().After(e.cert.Leaf.NotAfter) {
		return
	}
	c.install(app, coveredHosts(e, hosts), e)
}

// install makes the TLS server serve e's custom certificate for hosts
// (those of its app it covers). The server's cache indexes a certificate
// under every name in it (cacheNames), so it goes there only when all of
// those names are such hosts: a certificate that also names another app's
// host, a wildcard or an IP address (in its SAN or its Common Name) would
// be served for those too, an IP to clients that send no server name.
// Otherwise the server's cached certificates for hosts are dropped, so
// that it asks the manager, which serves the custom one only for names
// routed to its app. A disabled app's certificate is evicted, never
// installed. A wildcard domain among hosts is left out (cacheHosts). The
// caller holds c.writeMu, so that the cache follows the snapshot's order
// of changes.
func (c *Certs) install(app string, hosts []string, e *entry) {
	hosts = cacheHosts(hosts)
	if len(hosts) == 0 {
		return
	}
	// A disabled app's hosts complete no handshake from the cache (a
	// start, a hosts change or a certs:add would put it back there); its
	// enable (OnAppHostsChanged) installs it again.
	if !cacheable(e.cert.Leaf, hosts) || c.disabled(app) {
		c.evict(hosts)
		return
	}
	c.cache.Install(hosts, []byte(e.doc.Cert.CertPEM), []byte(e.doc.Cert.KeyPEM))
	c.expireAt(app, e)
}

// evict drops the TLS server's cached certificates for an app's hosts
// (a wildcard domain among them left out: cacheHosts).
func (c *Certs) evict(hosts []string) {
	if hosts = cacheHosts(hosts); len(hosts) > 0 {
		c.cache.Evict(hosts)
	}
}

// cacheHosts are the hosts under which the TLS server's cache may be
// written for an app: not its wildcard domains ("*.example.org"). A
// wildcard is no name a client asks for, and a certificate cached under
// it would be served for every name below it, other apps' exact hosts
// included (exact beats wildcard in routing, not in Caddy's cache);
// evicting one would drop a wildcard certificate that serves other apps.
// A custom wildcard certificate is served through the manager
// (GetCertificate), for the names the wildcard routes to its app.
func cacheHosts(hosts []string) []string {
	wildcard := func(h string) bool { return strings.HasPrefix(h, "*.") }
	if !slices.ContainsFunc(hosts, wildcard) {
		return hosts
	}
	return slices.DeleteFunc(slices.Clone(hosts), wildcard)
}

// expireAt drops e's certificate from the TLS server's cache when it
// expires, if it is still app's then: the cache holds it unmanaged and
// would serve it past its expiry, where the manager falls back to ACME.
func (c *Certs) expireAt(app string, e *entry) {
	time.AfterFunc(time.Until(e.cert.Leaf.NotAfter)+time.Second, func() {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		if s := c.snap.Load(); s != nil && s.apps[app] == e {
			c.evict(cacheNames(e.cert.Leaf))
		}
	})
}

// cacheNames are the names Caddy's certificate cache files leaf under,
// computed as certmagic's fillCertFromLeaf does: the Common Name, the DNS
// names, IP addresses, email addresses (all lowercased) and URIs. Should
// a certmagic upgrade change its rules, caddymodule's installCertificate
// takes a certificate filed under any other name out of the cache again.
func cacheNames(leaf *x509.Certificate) []string {
	cn := leaf.Subject.CommonName
	var names []string
	if cn != "" {
		names = append(names, strings.ToLower(cn))
	}
	for _, n := range leaf.DNSNames {
		if n != cn {
			names = append(names, strings.ToLower(n))
		}
	}
	for _, ip := range leaf.IPAddresses {
		if s := ip.String(); s != cn {
			names = append(names, strings.ToLower(s))
		}
	}
	for _, m := range leaf.EmailAddresses {
		if m != cn {
			names = append(names, strings.ToLower(m))
		}
	}
	for _, u := range leaf.URIs {
		if s := u.String(); s != cn {
			names = append(names, s)
		}
	}
	return names
}

// cacheable reports whether leaf may go into the TLS server's cache for
// hosts: every name the cache would file it under is one of them.
func cacheable(leaf *x509.Certificate, hosts []string) bool {
	names := cacheNames(leaf)
	return len(names) > 0 && !slices.ContainsFunc(names, func(n string) bool { return !slices.Contains(hosts, n) })
}

// coveredHosts are the hosts e's custom certificate serves (an app's
// wildcard domain when the certificate names it; install and evict leave
// that out of the cache).
func coveredHosts(e *entry, hosts []string) []string {
	if e == nil || e.cert == nil {
		return nil
	}
	var out []string
	for _, h := range hosts {
		if e.cert.Leaf.VerifyHostname(h) == nil {
			out = append(out, h)
		}
	}
	return out
}
