package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"
	"sync"

	"github.com/berth-paas/berth/internal/busy"
	"github.com/berth-paas/berth/store"
)

// Global is the platform-wide settings document.
type Global struct {
	// Domains are global domains added with domains:add --global, beside
	// those of the Caddyfile.
	Domains []string `json:"domains,omitempty"`
	// Config vars every app gets (config:set --global); an app's own
	// config wins.
	Config map[string]string `json:"config,omitempty"`
	// RestartPolicy is the restart policy of apps that set none
	// (ps:set --global restart-policy); empty means DefaultRestartPolicy.
	RestartPolicy string `json:"restart_policy,omitempty"`
	// WaitToRetire is the wait-to-retire, in seconds, of apps that set
	// none (checks:set --global wait-to-retire); 0 means
	// DefaultWaitToRetire.
	WaitToRetire int `json:"wait_to_retire,omitempty"`
	// KeepReleases is releases:set --global keep N; 0 means the
	// Caddyfile's keep_releases.
	KeepReleases int `json:"keep_releases,omitempty"`
	// StopTimeoutSeconds is ps:set --global stop-timeout-seconds N: the
	// stop timeout of apps that set none; 0 means
	// DefaultStopTimeoutSeconds.
	StopTimeoutSeconds int `json:"stop_timeout_seconds,omitempty"`
	// DisableAutocreation refuses pushes to apps that do not exist
	// (Dokku's apps:set --global disable-autocreation true).
	DisableAutocreation bool `json:"disable_autocreation,omitempty"`
	// others are the document's fields other packages keep there (certs'
	// "hsts", the global HSTS settings; appspec's "networks", those of
	// network:set --global; buildconfig's builder, build_dir,
	// build_retention, deploy_branch and dockerfile_path), kept as they
	// are: the platform does not know them, and must not drop them when it
	// writes its own.
	others map[string]json.RawMessage
}

const globalKey = "settings/global"

func loadGlobal(ctx context.Context, s store.Store) (Global, error) {
	var g Global
	doc, err := s.Get(ctx, globalKey)
	if errors.Is(err, store.ErrNotFound) {
		return g, nil
	}
	if err != nil {
		return g, err
	}
	if err := json.Unmarshal(doc, &g); err != nil {
		return g, fmt.Errorf("global settings: %w", err)
	}
	if err := json.Unmarshal(doc, &g.others); err != nil {
		return g, fmt.Errorf("global settings: %w", err)
	}
	for _, k := range globalOwnKeys() {
		delete(g.others, k)
	}
	return g, nil
}

// globalOwnKeys are the JSON names of Global's own fields. They are read
// off the struct, not listed by hand: a field missing from a hand-written
// list stayed in others, and saveGlobal wrote its old value back when the
// field was cleared (omitempty), so an unset setting came back.
func globalOwnKeys() []string {
	var keys []string
	t := reflect.TypeFor[Global]()
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("json"), ",")
		if f.IsExported() && name != "" && name != "-" {
			keys = append(keys, name)
		}
	}
	return keys
}

// saveGlobal writes g, with the fields of other packages that loadGlobal
// read. The caller holds the global lock (Globals.Lock), as do other
// packages that write their fields.
func saveGlobal(ctx context.Context, s store.Store, g Global) error {
	own, err := json.Marshal(g)
	if err != nil {
		return err
	}
	fields := map[string]json.RawMessage{}
	if err := json.Unmarshal(own, &fields); err != nil {
		return err
	}
	for k, v := range g.others {
		if _, ok := fields[k]; !ok {
			fields[k] = v
		}
	}
	doc, err := json.MarshalIndent(fields, "", "  ")
	if err != nil {
		return err
	}
	return s.Put(ctx, globalKey, doc)
}

// ValidateDomain checks a host name: lowercase labels of letters, digits
// and dashes (the dashboard's host, a global domain). An app's own domain
// may also be a wildcard: ValidateAppDomain.
func ValidateDomain(d string) error {
	if d != strings.ToLower(d) {
		return fmt.Errorf("domain %q: use lowercase", d)
	}
	if strings.Contains(d, "*") {
		return fmt.Errorf("%q is not a domain name: a wildcard (such as *.example.org) can only be an app's own domain (domains:add APP *.example.org)", d)
	}
	if err := ValidateAppName(d); err != nil || !strings.Contains(d, ".") && d != "localhost" {
		return fmt.Errorf("%q is not a domain name (labels of letters, digits and dashes, separated by dots, such as www.example.com)", d)
	}
	return nil
}

// Globals owns the global settings document (settings/global): it reads
// and changes it under the global lock, and keeps the copies of it the
// core reads on every rollout (the global config, the process settings).
// Packages that keep a field of the document (domains, pssettings, disk,
// certs, appspec, buildconfig) change it through Globals, so that one
// lock orders every write of it. Its methods are safe for concurrent use.
//
// The platform makes it on its store and hands it out (Platform.Globals)
// to the packages that read or change the document: one value, one lock.
type Globals struct {
	store store.Store
	// busy holds the document's one lock, busy with what.
	busy busy.Set
	// copying is held from a read of the document to the copies set
	// from it (Reload, and change's save): without it a Reload that read
	// the document before a change saved could set its older copy after
	// the change's, and rollouts would use stale global config until the
	// next change. Reload must not fail on a busy lock (start-up), so it
	// waits on this instead of taking busy.
	copying sync.Mutex

	mu      sync.Mutex
	config  map[string]string // config:set --global
	process ProcessGlobals    // ps:set and checks:set --global's
}

func newGlobals(s store.Store) *Globals { return &Globals{store: s} }

// Globals is the global settings document the platform reads, for the
// packages that keep settings in it and the commands that change it.
func (p *Platform) Globals() *Globals { return p.globals }

// globalLockName is what a held global lock is called in the message
// that refuses a second change ("a global config change of _global is
// running"): the name the lock had when the platform held it.
const globalLockName = "_global"

// Lock marks the global settings busy with what, or fails at once with a
// message that says what holds them, for a package that keeps a field of
// the document (certs' "hsts") and writes it itself.
func (g *Globals) Lock(what string) (unlock func(), err error) {
	unlock, holder := g.busy.Take(globalLockName, what)
	if unlock == nil {
		return nil, Errorf(ErrBusy, "%s of %s is running; try again when it has finished", holder, globalLockName)
	}
	return unlock, nil
}

// Config returns the config vars every app gets.
func (g *Globals) Config() map[string]string {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := make(map[string]string, len(g.config))
	maps.Copy(out, g.config)
	return out
}

// Process returns the process settings of the global document, as the
// core uses them (read by Reload, before Start and at each reload, and
// kept current by every change).
func (g *Globals) Process() ProcessGlobals {
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.process
}

// SetConfig sets and unsets global config vars. Apps get them from their
// next rollout on (a deploy, a config change, ps:restart).
func (g *Globals) SetConfig(ctx context.Context, set map[string]string, unset []string) error {
	_, err := g.setConfig(ctx, set, unset, false)
	return err
}

// ReplaceConfig is SetConfig for config:import --global --replace: the
// global config becomes set, the vars to remove read under the global
// lock. It returns the removed keys, sorted.
func (g *Globals) ReplaceConfig(ctx context.Context, set map[string]string) ([]string, error) {
	return g.setConfig(ctx, set, nil, true)
}

func (g *Globals) setConfig(ctx context.Context, set map[string]string, unset []string, replace bool) ([]string, error) {
	for k := range set {
		if !validEnvName(k) {
			return nil, fmt.Errorf("%q is not a valid config var name: use letters, digits and underscores, not starting with a digit", k)
		}
	}
	change := func(doc *Global) error {
		unset = changeConfig(&doc.Config, set, unset, replace)
		return nil
	}
	if err := g.change(ctx, "a global config change", change, nil); err != nil {
		return nil, err
	}
	return unset, nil
}

// AutocreationDisabled reports whether a push to an app that does not
// exist is refused (apps:set --global disable-autocreation true) rather
// than creating it. A settings document that cannot be read refuses: the
// admin who turned creation off must not find apps made behind their back.
func (g *Globals) AutocreationDisabled(ctx context.Context) (bool, error) {
	doc, err := loadGlobal(ctx, g.store)
	if err != nil {
		return true, err
	}
	return doc.DisableAutocreation, nil
}

// SetDisableAutocreation sets apps:set --global disable-autocreation.
func (g *Globals) SetDisableAutocreation(ctx context.Context, disabled bool) error {
	return g.change(ctx, "a global settings change", func(doc *Global) error { doc.DisableAutocreation = disabled; return nil }, nil)
}

// Settings reads the global settings document, for a package that keeps
// settings in it (disk's keep).
func (g *Globals) Settings(ctx context.Context) (Global, error) {
	return loadGlobal(ctx, g.store)
}

// Reload reads the global settings document again and sets the copies
// the core reads (the global config, the process settings), before Start
// and at each config reload; it returns the document for package
// domains, which keeps its domains field.
func (g *Globals) Reload(ctx context.Context) (Global, error) {
	g.copying.Lock()
	defer g.copying.Unlock()
	doc, err := loadGlobal(ctx, g.store)
	if err != nil {
		return doc, err
	}
	g.keep(doc)
	return doc, nil
}

// Change changes the global settings document under the global lock
// (busy with what), for a package that keeps settings in its fields
// (pssettings, disk). An error from change leaves the document as it was.
// The copies the core reads follow the saved document.
func (g *Globals) Change(ctx context.Context, what string, change func(*Global) error) error {
	return g.change(ctx, what, change, nil)
}

// ChangeThen is Change for a package that keeps a copy of its field in
// memory (domains' global domains): then runs after the document is
// saved, still under the global lock, so copies are set in the order the
// saves happened, and not when a save fails. Its error is the change's
// (the document stays saved).
func (g *Globals) ChangeThen(ctx context.Context, what string, change func(*Global) error, then func(Global) error) error {
	return g.change(ctx, what, change, then)
}

// change changes the global settings document under the global lock
// (busy with what): load, change, save. An error from change leaves the
// document as it was. Once it is saved, still under the lock, the core's
// copies follow it, and then (when not nil) runs, for a package's own
// copy: copies are set in the order the saves happened, and not when a
// save fails. then's error is the change's (the document stays saved).
func (g *Globals) change(ctx context.Context, what string, change func(*Global) error, then func(Global) error) error {
	unlock, err := g.Lock(what)
	if err != nil {
		return err
	}
	defer unlock()
	doc, err := g.changeAndKeep(ctx, change)
	if err != nil {
		return err
	}
	if then != nil {
		return then(doc)
	}
	return nil
}

// keep sets the copies the core reads from doc.
func (g *Globals) keep(doc Global) {
	g.mu.Lock()
	g.config = doc.Config
	g.process = processGlobalsOf(doc)
	g.mu.Unlock()
}

// changeAndKeep is change's load, change, save and copy, under copying.
func (g *Globals) changeAndKeep(ctx context.Context, change func(*Global) error) (Global, error) {
	g.copying.Lock()
	defer g.copying.Unlock()
	doc, err := loadGlobal(ctx, g.store)
	if err != nil {
		return doc, err
	}
	if err := change(&doc); err != nil {
		return doc, err
	}
	if err := saveGlobal(ctx, g.store, doc); err != nil {
		return doc, err
	}
	g.keep(doc)
	return doc, nil
}
