package certs

import (
	"context"
	"fmt"
	"strconv"
	"strings"

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

// The global HSTS settings are the "hsts" field of the platform's global
// settings document, where they were before this package had its own
// records. The platform keeps the fields it does not know as they are;
// both change the document under the global lock.
const (
	globalKey   = "settings/global"
	globalField = "hsts"
)

// globalHSTS is the global HSTS settings' field of the global settings
// document; the other fields are other packages'.
var globalHSTS = store.Field{
	Key:       globalKey,
	Name:      globalField,
	NotObject: func(err error) error { return fmt.Errorf("global settings: %w", err) },
	BadValue:  func(err error) error { return fmt.Errorf("global settings: %s: %w", globalField, err) },
}

func loadGlobalHSTS(ctx context.Context, s store.Store) (HSTSSettings, error) {
	var h HSTSSettings
	err := globalHSTS.Load(ctx, s, &h)
	return h, err
}

// saveGlobalHSTS writes h into the global settings document, leaving its
// other fields as they are. The caller holds the global lock.
func saveGlobalHSTS(ctx context.Context, s store.Store, h HSTSSettings) error {
	return globalHSTS.Save(ctx, s, h, h == (HSTSSettings{}))
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
func (c *Certs) SetHSTS(ctx context.Context, app, key, value string) error {
	return c.change(ctx, app, func(doc *appTLS) error { return applyHSTS(&doc.HSTS, key, value) }, nil)
}

// SetGlobalHSTS changes one global HSTS setting; apps that do not set it
// themselves follow at once.
func (c *Certs) SetGlobalHSTS(ctx context.Context, key, value string) error {
	unlock, err := c.apps.LockGlobal("a global TLS change")
	if err != nil {
		return err
	}
	defer unlock()
	if _, err := c.load(ctx); err != nil {
		return err
	}
	c.writeMu.Lock()
	defer c.writeMu.Unlock()
	g, err := loadGlobalHSTS(ctx, c.store)
	if err != nil {
		return err
	}
	if err := applyHSTS(&g, key, value); err != nil {
		return err
	}
	if err := saveGlobalHSTS(ctx, c.store, g); err != nil {
		return err
	}
	s := c.snap.Load()
	next := &snapshot{global: g.resolve(defaultHSTS), apps: make(map[string]*entry, len(s.apps))}
	for k, v := range s.apps {
		e := *v
		e.hsts = v.doc.HSTS.resolve(next.global)
		next.apps[k] = &e
	}
	c.snap.Store(next)
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
func (c *Certs) TLSReport(ctx context.Context, app string) (TLSReport, error) {
	s, err := c.load(ctx)
	if err != nil {
		return TLSReport{}, err
	}
	if app == "" {
		g, err := loadGlobalHSTS(ctx, c.store)
		if err != nil {
			return TLSReport{}, err
		}
		return TLSReport{HSTS: s.global, Header: s.global.Header(), Own: g}, nil
	}
	if _, err := c.apps.Hosts(ctx, app); err != nil {
		return TLSReport{}, err
	}
	r := TLSReport{App: app, HSTS: s.global}
	if e, ok := s.apps[app]; ok {
		r.HSTS, r.Own = e.hsts, e.doc.HSTS
	}
	r.Header = r.HSTS.Header()
	return r, nil
}
