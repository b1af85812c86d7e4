package platform

import (
	"archive/tar"
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-paas/berth/store"
)

// HSTS defaults are Dokku's: a browser that saw the header keeps to HTTPS
// for half a year, on the host and its subdomains.
const (
	DefaultHSTSMaxAge            = 15724800
	DefaultHSTSIncludeSubdomains = true
)

// HSTSSettings are the Strict-Transport-Security settings of an app or
// of all apps. An unset field falls back: an app's to the global
// settings, the global ones to the defaults.
type HSTSSettings struct {
	Enabled           *bool `json:"enabled,omitempty"`
	MaxAge            *int  `json:"max_age,omitempty"`
	IncludeSubdomains *bool `json:"include_subdomains,omitempty"`
	Preload           *bool `json:"preload,omitempty"`
}

// HSTSValue is the effective HSTS of an app.
type HSTSValue struct {
	Enabled           bool `json:"enabled"`
	MaxAge            int  `json:"max_age"`
	IncludeSubdomains bool `json:"include_subdomains"`
	Preload           bool `json:"preload"`
}

// resolve fills what s leaves unset from fallback.
func (s HSTSSettings) resolve(fallback HSTSValue) HSTSValue {
	v := fallback
	if s.Enabled != nil {
		v.Enabled = *s.Enabled
	}
	if s.MaxAge != nil {
		v.MaxAge = *s.MaxAge
	}
	if s.IncludeSubdomains != nil {
		v.IncludeSubdomains = *s.IncludeSubdomains
	}
	if s.Preload != nil {
		v.Preload = *s.Preload
	}
	return v
}

// Header is the Strict-Transport-Security value, or "" when disabled.
func (v HSTSValue) Header() string {
	if !v.Enabled {
		return ""
	}
	h := "max-age=" + strconv.Itoa(v.MaxAge)
	if v.IncludeSubdomains {
		h += "; includeSubDomains"
	}
	if v.Preload {
		h += "; preload"
	}
	return h
}

var defaultHSTS = HSTSValue{Enabled: true, MaxAge: DefaultHSTSMaxAge, IncludeSubdomains: DefaultHSTSIncludeSubdomains}

// appTLS is an app's TLS document, "tls/APP". It is kept apart from the
// app record so that the private key never travels with the record
// (reports, clones).
type appTLS struct {
	HSTS HSTSSettings `json:"hsts,omitzero"`
	Cert *CustomCert  `json:"cert,omitempty"`
}

// CustomCert is a certificate added with certs:add: it is served for its
// names instead of one from ACME.
type CustomCert struct {
	CertPEM string    `json:"cert_pem"`
	KeyPEM  string    `json:"key_pem"`
	AddedAt time.Time `json:"added_at"`
}

func tlsKey(app string) string { return "tls/" + app }

// tlsState is the in-memory copy of every app's TLS document and the
// global HSTS settings, read on every request and handshake. It is loaded
// from the store on first use and replaced (copy on write) by every
// change.
type tlsState struct {
	writeMu sync.Mutex
	snap    atomic.Pointer[tlsSnapshot]
	// served looks up the certificate the TLS server holds in memory for
	// a host, for certs:report.
	served atomic.Pointer[func(host string) (ServedCert, bool)]
	// managerOn reports whether the TLS server asks Berth for custom
	// certificates (`get_certificate berth`); nil means it is unknown.
	managerOn atomic.Pointer[func() bool]
	// install puts a custom certificate in the TLS server's cache for
	// exactly hosts, replacing what it held for them.
	install atomic.Pointer[func(hosts []string, certPEM, keyPEM []byte)]
	// evict drops certificates the TLS server has cached for names, so
	// its next handshake for them looks again (sees a new custom
	// certificate, or is refused).
	evict atomic.Pointer[func(names []string)]
}

type tlsSnapshot struct {
	global HSTSValue
	apps   map[string]*tlsEntry
}

type tlsEntry struct {
	doc  appTLS
	hsts HSTSValue
	cert *tls.Certificate // parsed CustomCert, with Leaf
}

// SetCertificateEvictor sets the function that drops cached certificates
// for names from the TLS server (Caddy's certificate cache).
func (p *Platform) SetCertificateEvictor(f func(names []string)) {
	p.tls.evict.Store(&f)
}

// SetCustomCertificatesServed sets the function that reports whether the
// TLS server asks Berth for custom certificates, so certs:add can warn
// when it does not.
func (p *Platform) SetCustomCertificatesServed(f func() bool) {
	p.tls.managerOn.Store(&f)
}

// CustomCertificatesServed reports whether custom certificates reach
// clients: false when the TLS server is known not to ask for them.
func (p *Platform) CustomCertificatesServed() bool {
	f := p.tls.managerOn.Load()
	return f == nil || (*f)()
}

// ServedCert is a certificate the TLS server holds in memory for a host.
type ServedCert struct {
	Host     string    `json:"host"`
	Issuer   string    `json:"issuer"`
	Names    []string  `json:"names"`
	NotAfter time.Time `json:"not_after"`
}

// SetServedCertificates sets the function that finds the certificate the
// TLS server holds in memory for a host (Caddy's certificate cache).
func (p *Platform) SetServedCertificates(f func(host string) (ServedCert, bool)) {
	p.tls.served.Store(&f)
}

// SetCertificateInstaller sets the function that puts a custom
// certificate in the TLS server's cache for exactly hosts.
func (p *Platform) SetCertificateInstaller(f func(hosts []string, certPEM, keyPEM []byte)) {
	p.tls.install.Store(&f)
}

// installCertificate makes the TLS server serve e's custom certificate
// for hosts (those of its app it covers). The server's cache indexes a
// certificate under every name in it (cacheNames), so it goes there only
// when all of those names are such hosts: a certificate that also names
// another app's host, a wildcard or an IP address (in its SAN or its
// Common Name) would be served for those too, an IP to clients that send
// no server name. Otherwise the server's cached certificates for hosts
// are dropped, so that it asks the manager, which serves the custom one
// only for names routed to its app. The caller holds p.tls.writeMu, so
// that the cache follows the snapshot's order of changes.
func (p *Platform) installCertificate(app string, hosts []string, e *tlsEntry) {
	if len(hosts) == 0 {
		return
	}
	f := p.tls.install.Load()
	if f == nil || !cacheable(e.cert.Leaf, hosts) {
		p.evictCertificates(hosts)
		return
	}
	(*f)(hosts, []byte(e.doc.Cert.CertPEM), []byte(e.doc.Cert.KeyPEM))
	p.expireAt(app, e)
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

// expireAt drops e's certificate from the TLS server's cache when it
// expires, if it is still app's then: the cache holds it unmanaged and
// would serve it past its expiry, where the manager falls back to ACME.
func (p *Platform) expireAt(app string, e *tlsEntry) {
	time.AfterFunc(time.Until(e.cert.Leaf.NotAfter)+time.Second, func() {
		p.tls.writeMu.Lock()
		defer p.tls.writeMu.Unlock()
		if s := p.tls.snap.Load(); s != nil && s.apps[app] == e {
			p.evictCertificates(cacheNames(e.cert.Leaf))
		}
	})
}

// coveredHosts are the hosts e's custom certificate serves.
func coveredHosts(e *tlsEntry, hosts []string) []string {
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

// InstallCustomCertificates puts every valid custom certificate in the
// TLS server's cache for the hosts it covers; Berth's start runs it, as
// the cache starts empty.
func (p *Platform) InstallCustomCertificates(ctx context.Context) error {
	s, err := p.tlsSnap(ctx)
	if err != nil {
		return err
	}
	for app := range s.apps {
		a, err := p.App(ctx, app)
		if err != nil {
			continue // its record is gone; its document goes with the next destroy
		}
		p.restoreCertificate(ctx, a)
	}
	return nil
}

// restoreCertificate puts a's custom certificate (if it has a valid one)
// in the TLS server's cache for the hosts a has now. The routing table's
// hosts-gone hook drops every cached certificate that names a host that
// stopped being routed, a's own custom one included, so a change of a's
// hosts runs it to serve the hosts a keeps (and a host added that the
// certificate covers).
func (p *Platform) restoreCertificate(ctx context.Context, a *App) {
	if _, err := p.tlsSnap(ctx); err != nil {
		return
	}
	p.tls.writeMu.Lock()
	defer p.tls.writeMu.Unlock()
	e := p.tls.snap.Load().apps[a.Name]
	if e == nil || e.cert == nil || time.Now().After(e.cert.Leaf.NotAfter) {
		return
	}
	p.installCertificate(a.Name, coveredHosts(e, p.hostsFor(a)), e)
}

func (p *Platform) evictCertificates(names []string) {
	if f := p.tls.evict.Load(); f != nil && len(names) > 0 {
		(*f)(names)
	}
}

// tlsSnap returns the current TLS snapshot, loading it on first use.
func (p *Platform) tlsSnap(ctx context.Context) (*tlsSnapshot, error) {
	if s := p.tls.snap.Load(); s != nil {
		return s, nil
	}
	p.tls.writeMu.Lock()
	defer p.tls.writeMu.Unlock()
	if s := p.tls.snap.Load(); s != nil {
		return s, nil
	}
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return nil, err
	}
	s := &tlsSnapshot{global: g.HSTS.resolve(defaultHSTS), apps: map[string]*tlsEntry{}}
	names, err := p.store.List(ctx, "tls")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		var doc appTLS
		raw, err := p.store.Get(ctx, tlsKey(name))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			// Skipped, not fatal: one bad document must not stop every
			// TLS command, every handshake's lookup and the app's destroy.
			// The app gets the global settings and ACME until a TLS
			// command writes its document again.
			p.log.Error("TLS settings unreadable; the app gets the global HSTS settings and ACME", "app", name, "key", tlsKey(name), "error", err)
			continue
		}
		e, err := newTLSEntry(doc, s.global)
		if err != nil {
			p.log.Error("custom certificate unusable; ACME serves the app", "app", name, "error", err)
		}
		s.apps[name] = e
	}
	p.tls.snap.Store(s)
	return s, nil
}

func newTLSEntry(doc appTLS, global HSTSValue) (*tlsEntry, error) {
	e := &tlsEntry{doc: doc, hsts: doc.HSTS.resolve(global)}
	if doc.Cert == nil {
		return e, nil
	}
	c, err := tls.X509KeyPair([]byte(doc.Cert.CertPEM), []byte(doc.Cert.KeyPEM))
	if err != nil {
		return e, err
	}
	e.cert = &c
	return e, nil
}

// HSTSHeader is the Strict-Transport-Security header for app's HTTPS
// responses, "" for none.
func (p *Platform) HSTSHeader(ctx context.Context, app string) string {
	s, err := p.tlsSnap(ctx)
	if err != nil {
		return defaultHSTS.Header()
	}
	if e, ok := s.apps[app]; ok {
		return e.hsts.Header()
	}
	return s.global.Header()
}

// CustomCertificate returns app's custom certificate if it covers
// serverName and is valid now; nil otherwise, and ACME serves. An expired
// custom certificate falls back to ACME rather than break every client.
func (p *Platform) CustomCertificate(ctx context.Context, app, serverName string) *tls.Certificate {
	s, err := p.tlsSnap(ctx)
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

// changeTLS applies change to app's TLS document under the app's lock,
// saves it, updates the in-memory copy, then runs apply (if not nil) with
// the app's hosts and the entries before and after, still under the app's
// lock and p.tls.writeMu: apply changes the TLS server's cache, and two
// changes must reach it in the order they reached the snapshot (a
// certs:remove must not evict before a certs:add it follows installs).
// It returns the entries before and after.
func (p *Platform) changeTLS(ctx context.Context, app string, change func(*appTLS) error, apply func(hosts []string, before, after *tlsEntry)) (before, after *tlsEntry, err error) {
	a, unlock, err := p.lockedApp(ctx, app, "a TLS change")
	if err != nil {
		return nil, nil, err
	}
	defer unlock()
	s, err := p.tlsSnap(ctx)
	if err != nil {
		return nil, nil, err
	}
	p.tls.writeMu.Lock()
	defer p.tls.writeMu.Unlock()
	s = p.tls.snap.Load()
	before = s.apps[a.Name]
	var doc appTLS
	if before != nil {
		doc = before.doc
	}
	if err := change(&doc); err != nil {
		return nil, nil, err
	}
	after, err = newTLSEntry(doc, s.global)
	if err != nil {
		return nil, nil, err
	}
	next := &tlsSnapshot{global: s.global, apps: make(map[string]*tlsEntry, len(s.apps)+1)}
	for k, v := range s.apps {
		next.apps[k] = v
	}
	if doc == (appTLS{}) {
		if err := p.store.Delete(ctx, tlsKey(a.Name)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		delete(next.apps, a.Name)
	} else {
		raw, err := json.MarshalIndent(doc, "", "  ")
		if err != nil {
			return nil, nil, err
		}
		if err := p.store.Put(ctx, tlsKey(a.Name), raw); err != nil {
			return nil, nil, err
		}
		next.apps[a.Name] = after
	}
	p.tls.snap.Store(next)
	if apply != nil {
		apply(p.hostsFor(a), before, after)
	}
	return before, after, nil
}

// dropTLS forgets app's TLS document (the app is destroyed or renamed
// away). The routing table's hosts-gone hook evicts its certificates.
func (p *Platform) dropTLS(ctx context.Context, app string) error {
	if _, err := p.tlsSnap(ctx); err != nil {
		return err
	}
	p.tls.writeMu.Lock()
	defer p.tls.writeMu.Unlock()
	s := p.tls.snap.Load()
	if err := p.store.Delete(ctx, tlsKey(app)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	if _, ok := s.apps[app]; !ok {
		return nil
	}
	next := &tlsSnapshot{global: s.global, apps: make(map[string]*tlsEntry, len(s.apps))}
	for k, v := range s.apps {
		if k != app {
			next.apps[k] = v
		}
	}
	p.tls.snap.Store(next)
	return nil
}

// copyTLS gives app to the TLS document of app from: all of it on a
// rename, only the HSTS settings on a clone (a clone does not take the
// domains either, so it has no use for their certificate).
func (p *Platform) copyTLS(ctx context.Context, from, to string, move bool) error {
	s, err := p.tlsSnap(ctx)
	if err != nil {
		return err
	}
	e, ok := s.apps[from]
	if !ok {
		return nil
	}
	doc := e.doc
	if !move {
		doc.Cert = nil
	}
	if doc == (appTLS{}) {
		return nil
	}
	p.tls.writeMu.Lock()
	defer p.tls.writeMu.Unlock()
	s = p.tls.snap.Load()
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	if err := p.store.Put(ctx, tlsKey(to), raw); err != nil {
		return err
	}
	entry, _ := newTLSEntry(doc, s.global)
	next := &tlsSnapshot{global: s.global, apps: make(map[string]*tlsEntry, len(s.apps)+1)}
	for k, v := range s.apps {
		next.apps[k] = v
	}
	next.apps[to] = entry
	p.tls.snap.Store(next)
	return nil
}

// HSTS settings names, as tls:set takes them.
var hstsKeys = []string{"hsts", "hsts-max-age", "hsts-include-subdomains", "hsts-preload"}

// applyHSTS sets key to value in s; an empty value unsets it (back to the
// global setting or the default).
func applyHSTS(s *HSTSSettings, key, value string) error {
	// setBool leaves *dst as it was when value is refused.
	setBool := func(dst **bool) error {
		if value == "" {
			*dst = nil
			return nil
		}
		b, err := strconv.ParseBool(value)
		if err != nil {
			return fmt.Errorf("%s takes true or false, not %q", key, value)
		}
		*dst = &b
		return nil
	}
	var err error
	switch key {
	case "hsts":
		err = setBool(&s.Enabled)
	case "hsts-include-subdomains":
		err = setBool(&s.IncludeSubdomains)
	case "hsts-preload":
		err = setBool(&s.Preload)
	case "hsts-max-age":
		if value == "" {
			s.MaxAge = nil
			return nil
		}
		n, perr := strconv.Atoi(value)
		if perr != nil || n < 0 {
			return fmt.Errorf("hsts-max-age takes a number of seconds (0 or more), not %q", value)
		}
		s.MaxAge = &n
	default:
		return fmt.Errorf("unknown TLS setting %q (known: %s)", key, strings.Join(hstsKeys, ", "))
	}
	return err
}

// SetHSTS changes one HSTS setting of app (key as in tls:set); an empty
// value goes back to the global setting. It takes effect at once.
func (p *Platform) SetHSTS(ctx context.Context, app, key, value string) error {
	_, _, err := p.changeTLS(ctx, app, func(doc *appTLS) error { return applyHSTS(&doc.HSTS, key, value) }, nil)
	return err
}

// SetGlobalHSTS changes one global HSTS setting; apps that do not set it
// themselves follow at once.
func (p *Platform) SetGlobalHSTS(ctx context.Context, key, value string) error {
	unlock, err := p.lock("_global", "a global TLS change")
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := p.tlsSnap(ctx); err != nil {
		return err
	}
	p.tls.writeMu.Lock()
	defer p.tls.writeMu.Unlock()
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	if err := applyHSTS(&g.HSTS, key, value); err != nil {
		return err
	}
	if err := saveGlobal(ctx, p.store, g); err != nil {
		return err
	}
	s := p.tls.snap.Load()
	next := &tlsSnapshot{global: g.HSTS.resolve(defaultHSTS), apps: make(map[string]*tlsEntry, len(s.apps))}
	for k, v := range s.apps {
		e := *v
		e.hsts = v.doc.HSTS.resolve(next.global)
		next.apps[k] = &e
	}
	p.tls.snap.Store(next)
	return nil
}

// TLSReport is what tls:report shows.
type TLSReport struct {
	App string `json:"app,omitempty"`
	// HSTS is the effective setting; Header the header it sends.
	HSTS   HSTSValue `json:"hsts"`
	Header string    `json:"hsts_header"`
	// Own are the settings the app (or, for --global, Berth) sets itself.
	Own HSTSSettings `json:"own"`
}

// TLSReport reports app's HSTS settings, or the global ones for "".
func (p *Platform) TLSReport(ctx context.Context, app string) (TLSReport, error) {
	s, err := p.tlsSnap(ctx)
	if err != nil {
		return TLSReport{}, err
	}
	if app == "" {
		g, err := loadGlobal(ctx, p.store)
		if err != nil {
			return TLSReport{}, err
		}
		return TLSReport{HSTS: s.global, Header: s.global.Header(), Own: g.HSTS}, nil
	}
	if _, err := p.App(ctx, app); err != nil {
		return TLSReport{}, err
	}
	r := TLSReport{App: app, HSTS: s.global}
	if e, ok := s.apps[app]; ok {
		r.HSTS, r.Own = e.hsts, e.doc.HSTS
	}
	r.Header = r.HSTS.Header()
	return r, nil
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

func (p *Platform) certInfo(app string, e *tlsEntry, hosts []string) CertInfo {
	info := CertInfo{App: app}
	if f := p.tls.served.Load(); f != nil {
		for _, h := range hosts {
			if c, ok := (*f)(h); ok {
				info.Served = append(info.Served, c)
			}
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
		if !slices.Contains(covered, n) {
			info.Foreign = append(info.Foreign, n)
		}
	}
	return info
}

// AddCertificate stores app's custom certificate (replacing is update's
// job, and update needs one to replace). From then on it is served for
// the app's hosts it covers, instead of ACME's.
func (p *Platform) AddCertificate(ctx context.Context, app string, input []byte, update bool) (CertInfo, error) {
	certPEM, keyPEM, _, err := ParseCertInput(input)
	if err != nil {
		return CertInfo{}, err
	}
	var info CertInfo
	_, _, err = p.changeTLS(ctx, app, func(doc *appTLS) error {
		if update && doc.Cert == nil {
			return fmt.Errorf("%s has no custom certificate to update; use certs:add %s", app, app)
		}
		if !update && doc.Cert != nil {
			return fmt.Errorf("%s already has a custom certificate; replace it with certs:update %s", app, app)
		}
		doc.Cert = &CustomCert{CertPEM: string(certPEM), KeyPEM: string(keyPEM), AddedAt: time.Now().UTC()}
		return nil
	}, func(hosts []string, before, after *tlsEntry) {
		// The certificate being replaced may sit in Caddy's cache for
		// hosts the new one no longer covers: drop it from all of them.
		p.evictCertificates(coveredHosts(before, hosts))
		// A certificate Caddy obtained for these hosts sits in its cache,
		// where it would win over the custom one, and a cached wildcard
		// certificate would too: put the custom one there for exactly
		// the app's hosts it covers (a wildcard name in it must not
		// replace a wildcard certificate that serves other apps).
		p.installCertificate(app, coveredHosts(after, hosts), after)
		info = p.certInfo(app, after, hosts)
	})
	if err != nil {
		return CertInfo{}, err
	}
	return info, nil
}

// RemoveCertificate removes app's custom certificate; ACME serves its
// hosts from the next handshake on.
func (p *Platform) RemoveCertificate(ctx context.Context, app string) error {
	_, _, err := p.changeTLS(ctx, app, func(doc *appTLS) error {
		if doc.Cert == nil {
			return fmt.Errorf("%s has no custom certificate to remove", app)
		}
		doc.Cert = nil
		return nil
	}, func(hosts []string, before, _ *tlsEntry) {
		p.evictCertificates(coveredHosts(before, hosts))
	})
	return err
}

// CertificateReport describes app's custom certificate, if it has one.
func (p *Platform) CertificateReport(ctx context.Context, app string) (CertInfo, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return CertInfo{}, err
	}
	s, err := p.tlsSnap(ctx)
	if err != nil {
		return CertInfo{}, err
	}
	return p.certInfo(app, s.apps[app], p.hostsFor(a)), nil
}
