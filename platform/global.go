package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"strings"

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
// read. The caller holds the global lock (p.lock("_global", ...)), as do
// other packages that write their fields (LockGlobal).
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

// GlobalConfig returns the config vars every app gets.
func (p *Platform) GlobalConfig() map[string]string {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]string, len(p.globalConfig))
	maps.Copy(out, p.globalConfig)
	return out
}

// SetGlobalConfig sets and unsets global config vars. Apps get them from
// their next rollout on (a deploy, a config change, ps:restart).
func (p *Platform) SetGlobalConfig(ctx context.Context, set map[string]string, unset []string) error {
	_, err := p.setGlobalConfig(ctx, set, unset, false)
	return err
}

// ReplaceGlobalConfig is SetGlobalConfig for config:import --global
// --replace: the global config becomes set, the vars to remove read under
// the global lock. It returns the removed keys, sorted.
func (p *Platform) ReplaceGlobalConfig(ctx context.Context, set map[string]string) ([]string, error) {
	return p.setGlobalConfig(ctx, set, nil, true)
}

func (p *Platform) setGlobalConfig(ctx context.Context, set map[string]string, unset []string, replace bool) ([]string, error) {
	for k := range set {
		if !validEnvName(k) {
			return nil, fmt.Errorf("%q is not a valid config var name: use letters, digits and underscores, not starting with a digit", k)
		}
	}
	change := func(g *Global) error {
		unset = changeConfig(&g.Config, set, unset, replace)
		return nil
	}
	err := p.changeGlobal(ctx, "a global config change", change, func(g Global) error {
		p.mu.Lock()
		p.globalConfig = g.Config
		p.mu.Unlock()
		return nil
	})
	if err != nil {
		return nil, err
	}
	return unset, nil
}

// changeGlobal changes the global settings document under the global lock
// (busy with what): load, change, save. An error from change leaves the
// document as it was. applied, when not nil, runs after the document is
// saved, still under the lock, for a setting the platform also keeps in
// memory: caches are then set in the order the saves happened, and not
// when a save fails. Its error is the change's (the document stays saved).
func (p *Platform) changeGlobal(ctx context.Context, what string, change func(*Global) error, applied func(Global) error) error {
	unlock, err := p.lock("_global", what)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	if err := change(&g); err != nil {
		return err
	}
	if err := saveGlobal(ctx, p.store, g); err != nil {
		return err
	}
	if applied != nil {
		return applied(g)
	}
	return nil
}
