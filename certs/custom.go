package certs

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"
	"time"
)

// CustomCert is a certificate added with certs:add: it is served for its
// names instead of one from ACME.
type CustomCert struct {
	CertPEM string    `json:"cert_pem"`
	KeyPEM  string    `json:"key_pem"`
	AddedAt time.Time `json:"added_at"`
}

// MaxCertInput bounds what certs:add reads.
const MaxCertInput = 1 << 20

// ParseCertInput reads a certificate and its key from PEM text (the
// certificate, any intermediates, and the key, in any order) or from a
// tar archive of such files (Dokku's server.crt and server.key). It
// checks that the key matches, that the certificate is valid now, and
// that it names at least one DNS name.
func ParseCertInput(input []byte) (certPEM, keyPEM []byte, leaf *x509.Certificate, err error) {
	if len(bytes.TrimSpace(input)) == 0 {
		return nil, nil, nil, errors.New("no certificate on stdin: pipe the certificate and key PEM files (cat server.crt server.key | ...), or a tar of server.crt and server.key")
	}
	var certs, keys [][]byte
	collect := func(data []byte) {
		for {
			var block *pem.Block
			block, data = pem.Decode(data)
			if block == nil {
				return
			}
			switch {
			case block.Type == "CERTIFICATE":
				certs = append(certs, pem.EncodeToMemory(block))
			case strings.HasSuffix(block.Type, "PRIVATE KEY"):
				keys = append(keys, pem.EncodeToMemory(block))
			}
		}
	}
	if !bytes.Contains(input, []byte("-----BEGIN")) || isTar(input) {
		tr := tar.NewReader(bytes.NewReader(input))
		for {
			h, terr := tr.Next()
			if terr == io.EOF {
				break
			}
			if terr != nil {
				return nil, nil, nil, fmt.Errorf("stdin is neither PEM nor a tar archive: %v", terr)
			}
			if h.Typeflag != tar.TypeReg {
				continue
			}
			data, rerr := io.ReadAll(io.LimitReader(tr, MaxCertInput))
			if rerr != nil {
				return nil, nil, nil, fmt.Errorf("read %s from the tar archive: %w", h.Name, rerr)
			}
			collect(data)
		}
	} else {
		collect(input)
	}
	switch {
	case len(certs) == 0:
		return nil, nil, nil, errors.New("no certificate found: give a PEM block \"BEGIN CERTIFICATE\" (server.crt)")
	case len(keys) == 0:
		return nil, nil, nil, errors.New("no private key found: give the certificate's key as a PEM block \"BEGIN PRIVATE KEY\" (server.key) after the certificate")
	case len(keys) > 1:
		return nil, nil, nil, errors.New("more than one private key found: give only the certificate's own key")
	}
	certPEM, keyPEM = bytes.Join(certs, nil), keys[0]
	pair, err := tls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		return nil, nil, nil, fmt.Errorf("the certificate and key do not go together: %v", err)
	}
	leaf = pair.Leaf
	now := time.Now()
	if now.After(leaf.NotAfter) {
		return nil, nil, nil, fmt.Errorf("the certificate expired on %s", leaf.NotAfter.UTC().Format(time.RFC3339))
	}
	if now.Before(leaf.NotBefore) {
		return nil, nil, nil, fmt.Errorf("the certificate is not valid until %s", leaf.NotBefore.UTC().Format(time.RFC3339))
	}
	if len(leaf.DNSNames) == 0 {
		return nil, nil, nil, errors.New("the certificate names no DNS name (subjectAltName); browsers ignore its common name")
	}
	return certPEM, keyPEM, leaf, nil
}

func isTar(b []byte) bool {
	return len(b) > 262 && string(b[257:262]) == "ustar"
}

// CertInfo describes a custom certificate.
type CertInfo struct {
	App       string    `json:"app"`
	Custom    bool      `json:"custom"`
	Names     []string  `json:"names,omitempty"`
	Issuer    string    `json:"issuer,omitempty"`
	Subject   string    `json:"subject,omitempty"`
	NotBefore time.Time `json:"not_before,omitzero"`
	NotAfter  time.Time `json:"not_after,omitzero"`
	Expired   bool      `json:"expired,omitempty"`
	AddedAt   time.Time `json:"added_at,omitzero"`
	// Unserved are the app's hosts the custom certificate does not cover:
	// ACME serves them.
	Unserved []string `json:"unserved,omitempty"`
	// Foreign are the names the TLS server's cache would file the
	// certificate under that are not hosts of the app it covers (its
	// Common Name, an IP address, ...): so it is not cached, and is
	// served through the manager only, where a cached wildcard
	// certificate wins over it.
	Foreign []string `json:"foreign_names,omitempty"`
	// Served are the certificates the TLS server holds in memory for the
	// app's hosts (from ACME, most often). A host without one gets it at
	// its next handshake, from storage or from the CA.
	Served []ServedCert `json:"served,omitempty"`
}

func (c *Certs) certInfo(app string, e *entry, hosts []string) CertInfo {
	info := CertInfo{App: app}
	for _, h := range hosts {
		if s, ok := c.cache.Served(h); ok {
			info.Served = append(info.Served, s)
		}
	}
	if e == nil || e.cert == nil {
		return info
	}
	l := e.cert.Leaf
	info.Custom = true
	info.Names = l.DNSNames
	info.Issuer = l.Issuer.String()
	info.Subject = l.Subject.String()
	info.NotBefore, info.NotAfter = l.NotBefore.UTC(), l.NotAfter.UTC()
	info.Expired = time.Now().After(l.NotAfter)
	info.AddedAt = e.doc.Cert.AddedAt
	for _, h := range hosts {
		if l.VerifyHostname(h) != nil {
			info.Unserved = append(info.Unserved, h)
		}
	}
	covered := coveredHosts(e, hosts)
	for _, n := range cacheNames(l) {
		// The app's own wildcard domain is covered, so no foreign name
		// (the warning would tell the user to drop the very name the
		// certificate is for), though the cache never holds it.
		if !slices.Contains(covered, n) {
			info.Foreign = append(info.Foreign, n)
		}
	}
	return info
}

// AddCertificate stores app's custom certificate (replacing is update's
// job, and update needs one to replace). From then on it is served for
// the app's hosts it covers, instead of ACME's.
func (c *Certs) AddCertificate(ctx context.Context, app string, input []byte, update bool) (CertInfo, error) {
	certPEM, keyPEM, _, err := ParseCertInput(input)
	if err != nil {
		return CertInfo{}, err
	}
	var info CertInfo
	err = c.change(ctx, app, func(doc *appTLS) error {
		if update && doc.Cert == nil {
			return fmt.Errorf("%s has no custom certificate to update; use certs:add %s", app, app)
		}
		if !update && doc.Cert != nil {
			return fmt.Errorf("%s already has a custom certificate; replace it with certs:update %s", app, app)
		}
		doc.Cert = &CustomCert{CertPEM: string(certPEM), KeyPEM: string(keyPEM), AddedAt: time.Now().UTC()}
		return nil
	}, func(hosts []string, before, after *entry) {
		// The certificate being replaced may sit in Caddy's cache for
		// hosts the new one no longer covers: drop it from all of them.
		c.evict(coveredHosts(before, hosts))
		// A certificate Caddy obtained for these hosts sits in its cache,
		// where it would win over the custom one, and a cached wildcard
		// certificate would too: put the custom one there for exactly
		// the app's hosts it covers (a wildcard name in it must not
		// replace a wildcard certificate that serves other apps).
		c.install(app, coveredHosts(after, hosts), after)
		info = c.certInfo(app, after, hosts)
	})
	if err != nil {
		return CertInfo{}, err
	}
	return info, nil
}

// RemoveCertificate removes app's custom certificate; ACME serves its
// hosts from the next handshake on.
func (c *Certs) RemoveCertificate(ctx context.Context, app string) error {
	return c.change(ctx, app, func(doc *appTLS) error {
		if doc.Cert == nil {
			return fmt.Errorf("%s has no custom certificate to remove", app)
		}
		doc.Cert = nil
		return nil
	}, func(hosts []string, before, _ *entry) {
		c.evict(coveredHosts(before, hosts))
	})
}

// CertificateReport describes app's custom certificate, if it has one.
func (c *Certs) CertificateReport(ctx context.Context, app string) (CertInfo, error) {
	hosts, err := c.apps.Hosts(ctx, app)
	if err != nil {
		return CertInfo{}, err
	}
	s, err := c.load(ctx)
	if err != nil {
		return CertInfo{}, err
	}
	return c.certInfo(app, s.apps[app], hosts), nil
}

// ShowCertificate returns the PEM of app's custom certificate (which
// "crt") or of its key ("key"), as certs:add took them (Dokku's
// certs:show).
func (c *Certs) ShowCertificate(ctx context.Context, app, which string) (string, error) {
	if which != "crt" && which != "key" {
		return "", fmt.Errorf("certs:show shows crt or key, not %q", which)
	}
	if _, err := c.apps.Hosts(ctx, app); err != nil {
		return "", err // no such app
	}
	s, err := c.load(ctx)
	if err != nil {
		return "", err
	}
	e := s.apps[app]
	if e == nil || e.doc.Cert == nil {
		return "", fmt.Errorf("%s has no custom certificate (certs:add %s < CERT_AND_KEY adds one)", app, app)
	}
	if which == "key" {
		return e.doc.Cert.KeyPEM, nil
	}
	return e.doc.Cert.CertPEM, nil
}
