package certs_test

// Certs on the real app core (platform on the in-memory engine, no
// Docker): the platform's hooks carry an app's TLS settings through its
// life without the platform knowing them.

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"io"
	"math/big"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/certs"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// recCache records installs and evictions.
type recCache struct {
	mu        sync.Mutex
	installed [][]string
	evicted   []string
}

func (c *recCache) Install(hosts []string, _, _ []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installed = append(c.installed, slices.Clone(hosts))
}

func (c *recCache) Evict(names []string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted = append(c.evicted, names...)
}

// EvictCertificate counts as evicting the names: the world's tests ask
// which names lost their certificate.
func (c *recCache) EvictCertificate(names []string, _ []byte) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.evicted = append(c.evicted, names...)
}

func (c *recCache) Served(string) (certs.ServedCert, bool) { return certs.ServedCert{}, false }
func (c *recCache) CustomServed() bool                     { return true }

func (c *recCache) reset() {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.installed, c.evicted = nil, nil
}

type world struct {
	ctx   context.Context
	st    store.Store
	p     *platform.Platform
	d     *domains.Domains
	c     *certs.Certs
	cache *recCache
}

func newWorld(t *testing.T) *world {
	t.Helper()
	dir := t.TempDir()
	engine := fakeengine.New()
	t.Cleanup(engine.Close)
	st := &store.Files{Dir: dir + "/state"}
	table, hosts := routing.New(), domains.NewResolver()
	p := platform.New(platform.Config{Hosts: hosts, Store: st, Engine: engine, Table: table, ReposDir: dir + "/repos"})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	t.Cleanup(cancel)
	d := domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts})
	if err := d.SetGlobalDomains(ctx, []string{"example.test"}); err != nil {
		t.Fatal(err)
	}
	cache := &recCache{}
	return &world{ctx: ctx, st: st, p: p, d: d, c: certs.New(certs.Config{Store: st, Apps: p, Hooks: p.Hooks(), Cache: cache}), cache: cache}
}

// app creates app with the own domain and a custom certificate for it,
// and HSTS max-age 60.
func (w *world) app(t *testing.T, app, domain string) {
	t.Helper()
	if err := w.p.Create(w.ctx, app); err != nil {
		t.Fatal(err)
	}
	if err := w.d.Change(w.ctx, app, "add", []string{domain}); err != nil {
		t.Fatal(err)
	}
	if _, err := w.c.AddCertificate(w.ctx, app, certFor(t, domain), false); err != nil {
		t.Fatal(err)
	}
	if err := w.c.SetHSTS(w.ctx, app, "hsts-max-age", "60"); err != nil {
		t.Fatal(err)
	}
}

func (w *world) hasDoc(app string) bool {
	_, err := w.st.Get(w.ctx, "tls/"+app)
	return !errors.Is(err, store.ErrNotFound)
}

// certFor is a self-signed certificate and key for name alone (no Common
// Name, so the cache may hold it).
func certFor(t *testing.T, name string) []byte {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{}, DNSNames: []string{name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return append(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})...)
}

const defaultHeader = "max-age=15724800; includeSubDomains"

// apps:destroy takes the app's TLS settings with it: its certificate
// leaves the cache and is served no more, and an app created later under
// the name starts with the defaults.
func TestDestroyedAppLosesItsTLSSettings(t *testing.T) {
	w := newWorld(t)
	w.app(t, "blog", "www.blog.test")
	w.cache.reset()
	if err := w.p.Destroy(w.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if w.hasDoc("blog") {
		t.Error("tls/blog outlived the app")
	}
	if !slices.Contains(w.cache.evicted, "www.blog.test") {
		t.Errorf("evicted %q, want www.blog.test", w.cache.evicted)
	}
	if w.c.CustomCertificate(w.ctx, "blog", "www.blog.test") != nil {
		t.Error("the destroyed app's certificate is still served")
	}
	if err := w.p.Create(w.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := w.d.Change(w.ctx, "blog", "add", []string{"www.blog.test"}); err != nil {
		t.Fatal(err)
	}
	if h := w.c.HSTSHeader(w.ctx, "blog"); h != defaultHeader {
		t.Errorf("the new blog's HSTS header %q, want the default", h)
	}
	if info, err := w.c.CertificateReport(w.ctx, "blog"); err != nil || info.Custom {
		t.Errorf("the new blog's certificate: custom %v, %v", info.Custom, err)
	}
}

// apps:rename moves the TLS settings: the certificate is served for the
// new name's hosts from the start.
func TestRenameMovesTheTLSSettings(t *testing.T) {
	w := newWorld(t)
	w.app(t, "blog", "www.blog.test")
	w.cache.reset()
	if err := platform.NewRenamer(w.p).Rename(w.ctx, "blog", "news", io.Discard); err != nil {
		t.Fatal(err)
	}
	if w.hasDoc("blog") || !w.hasDoc("news") {
		t.Errorf("documents after the rename: blog %v, news %v", w.hasDoc("blog"), w.hasDoc("news"))
	}
	if w.c.CustomCertificate(w.ctx, "news", "www.blog.test") == nil {
		t.Error("news does not serve the certificate")
	}
	if !slices.ContainsFunc(w.cache.installed, func(h []string) bool { return slices.Equal(h, []string{"www.blog.test"}) }) {
		t.Errorf("installed %q, want www.blog.test", w.cache.installed)
	}
	if h := w.c.HSTSHeader(w.ctx, "news"); h != "max-age=60; includeSubDomains" {
		t.Errorf("news's HSTS header %q", h)
	}
}

// apps:clone copies the HSTS settings, not the certificate (a clone does
// not take the domains either).
func TestCloneCopiesHSTSOnly(t *testing.T) {
	w := newWorld(t)
	w.app(t, "blog", "www.blog.test")
	if err := platform.NewRenamer(w.p).Clone(w.ctx, "blog", "copy", io.Discard); err != nil {
		t.Fatal(err)
	}
	if h := w.c.HSTSHeader(w.ctx, "copy"); h != "max-age=60; includeSubDomains" {
		t.Errorf("the clone's HSTS header %q", h)
	}
	if info, err := w.c.CertificateReport(w.ctx, "copy"); err != nil || info.Custom {
		t.Errorf("the clone's certificate: custom %v, %v", info.Custom, err)
	}
	if w.c.CustomCertificate(w.ctx, "blog", "www.blog.test") == nil {
		t.Error("the original lost its certificate")
	}
}

// TLS commands wait for nothing: during another change of the app they
// fail at once, saying what runs.
func TestTLSChangeOfABusyAppFails(t *testing.T) {
	w := newWorld(t)
	if err := w.p.Create(w.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	_, unlock, err := w.p.LockApp(w.ctx, "blog", "a deploy")
	if err != nil {
		t.Fatal(err)
	}
	defer unlock()
	err = w.c.SetHSTS(w.ctx, "blog", "hsts", "false")
	if !errors.Is(err, platform.ErrBusy) || err.Error() != "a deploy of blog is running; try again when it has finished" {
		t.Errorf("tls:set during a deploy: %v", err)
	}
}

// The global HSTS settings share settings/global with the platform's
// global domains and config: neither drops the other's fields.
func TestGlobalSettingsKeepEachOthersFields(t *testing.T) {
	w := newWorld(t)
	if err := w.c.SetGlobalHSTS(w.ctx, "hsts-max-age", "600"); err != nil {
		t.Fatal(err)
	}
	if err := w.p.Globals().SetConfig(w.ctx, map[string]string{"K": "v"}, nil); err != nil {
		t.Fatal(err)
	}
	if err := w.d.ChangeGlobal(w.ctx, "add", []string{"other.test"}); err != nil {
		t.Fatal(err)
	}
	if err := w.c.SetGlobalHSTS(w.ctx, "hsts-preload", "true"); err != nil {
		t.Fatal(err)
	}
	// Read back from the store, as after a restart.
	fresh := certs.New(certs.Config{Store: w.st, Apps: w.p, Hooks: w.p.Hooks()})
	r, err := fresh.TLSReport(w.ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if r.Header != "max-age=600; includeSubDomains; preload" {
		t.Errorf("global HSTS header %q", r.Header)
	}
	table, hosts := routing.New(), domains.NewResolver()
	p := platform.New(platform.Config{Hosts: hosts, Store: w.st, Table: table})
	d := domains.New(domains.Config{Apps: p, Globals: p.Globals(), Table: table, Resolver: hosts})
	if err := d.SetGlobalDomains(w.ctx, nil); err != nil {
		t.Fatal(err)
	}
	if got := p.Globals().Config()["K"]; got != "v" {
		t.Errorf("global config K = %q", got)
	}
	if got := d.GlobalDomains(); !slices.Equal(got, []string{"other.test"}) {
		t.Errorf("global domains %q", got)
	}
}

// A clone that fails after the setup hooks ran leaves nothing behind: an
// app created later under its name does not inherit the copied settings.
func TestFailedCloneLeavesNoTLSSettings(t *testing.T) {
	w := newWorld(t)
	w.app(t, "blog", "www.blog.test")
	w.p.Hooks().OnAppCloneSetup(func(context.Context, string, string) error { return errors.New("a later setup failed") })
	if err := platform.NewRenamer(w.p).Clone(w.ctx, "blog", "copy", io.Discard); err == nil {
		t.Fatal("the clone succeeded")
	}
	if w.hasDoc("copy") {
		t.Error("tls/copy outlived the failed clone")
	}
	if err := w.p.Create(w.ctx, "copy"); err != nil {
		t.Fatal(err)
	}
	if h := w.c.HSTSHeader(w.ctx, "copy"); h != defaultHeader {
		t.Errorf("a new app named copy has HSTS header %q, want the default", h)
	}
}
