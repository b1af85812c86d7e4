// Package certs owns the TLS settings of apps: custom certificates
// (certs:add) and HSTS (tls:set). It keeps them in the store, one document
// per app under tls/APP, and the global HSTS settings in the "hsts" field
// of the platform's settings/global document (where they always were, so
// existing state reads unchanged). It puts custom certificates in the TLS
// server's certificate cache, a Cache given to New (Caddy's, or a fake).
//
// Like a Dokku plugin, it follows the apps' lives through the core's hooks
// (Apps) instead of the core calling it: a destroyed app's settings go, a
// renamed app's move with it, a clone gets the HSTS settings, and a change
// of an app's hosts puts its certificate back in the cache for the hosts
// it has now.
package certs

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"errors"
	"log/slog"
	"maps"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-paas/berth/store"
)

// Apps is what certs needs of the app core (a *platform.Platform).
type Apps interface {
	// Hosts are the hosts app answers on; an error when app does not exist.
	Hosts(ctx context.Context, app string) ([]string, error)
	// LockApp marks app busy with what and returns its hosts, or fails at
	// once when it is busy ("a deploy of APP is running; try again when it
	// has finished") or does not exist.
	LockApp(ctx context.Context, app, what string) (hosts []string, unlock func(), err error)
	// LockGlobal marks the global settings busy with what.
	LockGlobal(what string) (unlock func(), err error)
}

// Hooks are the app life events Certs follows (*platform.Hooks).
type Hooks interface {
	// OnAppDestroyed runs f after an app's record is gone.
	OnAppDestroyed(f func(ctx context.Context, app string))
	// OnAppRenameSetup and OnAppCloneSetup run f when the new app's record
	// is saved, before it is routed or started; an error aborts the rename
	// or the clone.
	OnAppRenameSetup(f func(ctx context.Context, from, to string) error)
	OnAppCloneSetup(f func(ctx context.Context, from, to string) error)
	// OnAppRenamed runs f after a rename, once the old app is gone.
	OnAppRenamed(f func(ctx context.Context, from, to string))
	// OnAppHostsChanged runs f when an app's hosts were set (a domains
	// change, a global domains change, a rename or a clone), with the
	// hosts it has now.
	OnAppHostsChanged(f func(ctx context.Context, app string, hosts []string))
}

// Cache is the TLS server's in-memory certificate cache (Caddy's, in
// caddymodule/certs.go), which serves a certificate it holds without
// asking Berth.
type Cache interface {
	// Install puts a custom certificate in the cache for exactly hosts,
	// replacing what it held for them.
	Install(hosts []string, certPEM, keyPEM []byte)
	// Evict drops the certificates the cache holds for names, so that its
	// next handshake for them looks again (sees a new custom certificate,
	// or is refused).
	Evict(names []string)
	// EvictCertificate drops exactly this certificate (leaf.Raw, its
	// leaf's DER) wherever the cache filed it under names, and nothing
	// else: a destroyed app's certificate may name hosts it never served
	// (another app's, a wildcard a Caddyfile certificate serves), and
	// evicting by those names would drop their certificates.
	EvictCertificate(names []string, leafDER []byte)
	// Served finds the certificate the cache holds for host, for
	// certs:report.
	Served(host string) (ServedCert, bool)
	// CustomServed reports whether the TLS server asks Berth for custom
	// certificates (`get_certificate berth`), so that certs:add can warn
	// when it does not.
	CustomServed() bool
}

// ServedCert is a certificate the TLS server holds in memory for a host.
type ServedCert struct {
	Host     string    `json:"host"`
	Issuer   string    `json:"issuer"`
	Names    []string  `json:"names"`
	NotAfter time.Time `json:"not_after"`
}

// noCache is the Cache of a Berth without a TLS server: it holds nothing,
// and custom certificates are taken to be served (nothing to warn about).
type noCache struct{}

func (noCache) Install([]string, []byte, []byte)  {}
func (noCache) Evict([]string)                    {}
func (noCache) EvictCertificate([]string, []byte) {}
func (noCache) Served(string) (ServedCert, bool)  { return ServedCert{}, false }
func (noCache) CustomServed() bool                { return true }

// Config is what Certs is made from.
type Config struct {
	// Store keeps the TLS documents (tls/APP) and the global settings.
	Store store.Store
	// Apps is the app core.
	Apps Apps
	// Hooks are the app core's life events, which Certs follows.
	Hooks Hooks
	// Cache is the TLS server's certificate cache; nil means none.
	Cache Cache
	// Logger receives what goes wrong; nil means discard.
	Logger *slog.Logger
	// Disabled says whether app is out of routing (the routing table's
	// Route.Disabled: proxy:disable, domains:disable); its custom
	// certificate then stays out of the TLS server's cache, which would
	// finish its hosts' handshakes. nil means none is.
	Disabled func(app string) bool
}

// Certs keeps the apps' TLS settings. Its methods are safe for concurrent
// use.
type Certs struct {
	store store.Store
	apps  Apps
	cache Cache
	log   *slog.Logger
	// disabled is Config.Disabled (never nil).
	disabled func(app string) bool

	// writeMu serialises changes of the snapshot and of the cache, so
	// that the cache follows the snapshot's order of changes.
	writeMu sync.Mutex
	// snap is the in-memory copy of every app's TLS document and of the
	// global HSTS settings, read on every request and handshake. It is
	// loaded from the store on first use and replaced (copy on write) by
	// every change.
	snap atomic.Pointer[snapshot]
}

// New returns the apps' TLS settings, following the apps through cfg.Hooks from now on.
func New(cfg Config) *Certs {
	c := &Certs{store: cfg.Store, apps: cfg.Apps, cache: cfg.Cache, log: cfg.Logger, disabled: cfg.Disabled}
	if c.disabled == nil {
		c.disabled = func(string) bool { return false }
	}
	if c.cache == nil {
		c.cache = noCache{}
	}
	if c.log == nil {
		c.log = slog.New(slog.DiscardHandler)
	}
	cfg.Hooks.OnAppDestroyed(c.appDestroyed)
	cfg.Hooks.OnAppRenameSetup(func(ctx context.Context, from, to string) error { return c.copyDoc(ctx, from, to, true) })
	cfg.Hooks.OnAppCloneSetup(func(ctx context.Context, from, to string) error { return c.copyDoc(ctx, from, to, false) })
	cfg.Hooks.OnAppRenamed(func(ctx context.Context, from, _ string) {
		// The certificate went with the new name: only the document goes.
		if _, err := c.drop(context.WithoutCancel(ctx), from); err != nil {
			c.log.Error("TLS settings of a renamed app not removed; remove them by hand before an app takes the old name", "app", from, "key", tlsKey(from), "error", err)
		}
	})
	cfg.Hooks.OnAppHostsChanged(c.restore)
	return c
}

// CustomCertificatesServed reports whether custom certificates reach
// clients: false when the TLS server is known not to ask for them.
func (c *Certs) CustomCertificatesServed() bool { return c.cache.CustomServed() }

// appTLS is an app's TLS document, "tls/APP". It is kept apart from the
// app record so that the private key never travels with the record
// (reports, clones).
type appTLS struct {
	HSTS HSTSSettings `json:"hsts,omitzero"`
	Cert *CustomCert  `json:"cert,omitempty"`
}

func tlsKey(app string) string { return "tls/" + app }

type snapshot struct {
	global HSTSValue
	apps   map[string]*entry
}

// with returns a copy of s in which app has e (none when e is nil).
func (s *snapshot) with(app string, e *entry) *snapshot {
	next := &snapshot{global: s.global, apps: maps.Clone(s.apps)}
	if e == nil {
		delete(next.apps, app)
	} else {
		next.apps[app] = e
	}
	return next
}

type entry struct {
	doc  appTLS
	hsts HSTSValue
	cert *tls.Certificate // parsed CustomCert, with Leaf
}

func newEntry(doc appTLS, global HSTSValue) (*entry, error) {
	e := &entry{doc: doc, hsts: doc.HSTS.resolve(global)}
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

// load returns the current snapshot, loading it on first use.
func (c *Certs) load(ctx context.Context) (*snapshot, error) {
	if s := c.snap.Load(); s != nil {
		return s, nil
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	if s := c.snap.Load(); s != nil {
		return s, nil
	}
	g, err := loadGlobalHSTS(ctx, c.store)
	if err != nil {
		return nil, err
	}
	s := &snapshot{global: g.resolve(defaultHSTS), apps: map[string]*entry{}}
	names, err := c.store.List(ctx, "tls")
	if err != nil {
		return nil, err
	}
	for _, name := range names {
		var doc appTLS
		raw, err := c.store.Get(ctx, tlsKey(name))
		if err != nil {
			return nil, err
		}
		if err := json.Unmarshal(raw, &doc); err != nil {
			// Skipped, not fatal: one bad document must not stop every
			// TLS command, every handshake's lookup and the app's destroy.
			// The app gets the global settings and ACME until a TLS
			// command writes its document again.
			c.log.Error("TLS settings unreadable; the app gets the global HSTS settings and ACME", "app", name, "key", tlsKey(name), "error", err)
			continue
		}
		e, err := newEntry(doc, s.global)
		if err != nil {
			c.log.Error("custom certificate unusable; ACME serves the app", "app", name, "error", err)
		}
		s.apps[name] = e
	}
	c.snap.Store(s)
	return s, nil
}

// save writes app's document, or deletes it when it is empty, and returns
// the snapshot with it. The caller holds c.writeMu.
func (c *Certs) save(ctx context.Context, s *snapshot, app string, doc appTLS) (*snapshot, *entry, error) {
	if doc == (appTLS{}) {
		if err := c.store.Delete(ctx, tlsKey(app)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, nil, err
		}
		return s.with(app, nil), nil, nil
	}
	// An unusable certificate is saved as it is (a rename moves it
	// along); the entry serves none, as when it is loaded. change refuses
	// to store a new one.
	e, _ := newEntry(doc, s.global)
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return nil, nil, err
	}
	if err := c.store.Put(ctx, tlsKey(app), raw); err != nil {
		return nil, nil, err
	}
	return s.with(app, e), e, nil
}

// change applies edit to app's TLS document under the app's lock, saves
// it, updates the in-memory copy, then runs apply (if not nil) with the
// app's hosts and the entries before and after, still under the app's
// lock and c.writeMu: apply changes the TLS server's cache, and two
// changes must reach it in the order they reached the snapshot (a
// certs:remove must not evict before a certs:add it follows installs).
func (c *Certs) change(ctx context.Context, app string, edit func(*appTLS) error, apply func(hosts []string, before, after *entry)) error {
	hosts, unlock, err := c.apps.LockApp(ctx, app, "a TLS change")
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := c.load(ctx); err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	s := c.snap.Load()
	before := s.apps[app]
	var doc appTLS
	if before != nil {
		doc = before.doc
	}
	if err := edit(&doc); err != nil {
		return err
	}
	if _, err := newEntry(doc, s.global); err != nil {
		return err
	}
	next, after, err := c.save(ctx, s, app, doc)
	if err != nil {
		return err
	}
	c.snap.Store(next)
	if apply != nil {
		apply(hosts, before, after)
	}
	return nil
}

// drop forgets app's TLS document and returns what it held.
func (c *Certs) drop(ctx context.Context, app string) (*entry, error) {
	if _, err := c.load(ctx); err != nil {
		return nil, err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	s := c.snap.Load()
	if err := c.store.Delete(ctx, tlsKey(app)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return nil, err
	}
	e, ok := s.apps[app]
	if ok {
		c.snap.Store(s.with(app, nil))
	}
	return e, nil
}

// appDestroyed forgets a destroyed app's TLS document. The routing table
// took the app's hosts away before its record went, and with them (its
// hosts-gone hook) the certificates cached for them; its custom
// certificate is evicted here by its own names too, so that nothing of it
// is served from the next handshake on. An app created later under the
// same name starts with none of it.
func (c *Certs) appDestroyed(ctx context.Context, app string) {
	ctx = context.WithoutCancel(ctx)
	e, err := c.drop(ctx, app)
	if err != nil {
		c.log.Error("TLS settings of a destroyed app not removed; remove them by hand before an app takes its name", "app", app, "key", tlsKey(app), "error", err)
		return
	}
	if e != nil && e.cert != nil {
		c.writeMu.Lock()
		defer c.writeMu.Unlock()
		c.cache.EvictCertificate(cacheNames(e.cert.Leaf), e.cert.Leaf.Raw)
	}
}

// copyDoc gives to the TLS document of from: all of it on a rename, only
// the HSTS settings on a clone (a clone does not take the domains either,
// so it has no use for their certificate). The certificate reaches the
// cache when to's hosts are set (restore).
func (c *Certs) copyDoc(ctx context.Context, from, to string, move bool) error {
	s, err := c.load(ctx)
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
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	next, _, err := c.save(ctx, c.snap.Load(), to, doc)
	if err != nil {
		return err
	}
	c.snap.Store(next)
	return nil
}

// HSTSHeader is the Strict-Transport-Security header for app's HTTPS
// responses, "" for none.
func (c *Certs) HSTSHeader(ctx context.Context, app string) string {
	s, err := c.load(ctx)
	if err != nil {
		return defaultHSTS.Header()
	}
	if e, ok := s.apps[app]; ok {
		return e.hsts.Header()
	}
	return s.global.Header()
}
