package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"reflect"
	"slices"
	"strings"

	"github.com/berth-paas/berth/routing"
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

// ValidateAppDomain checks an app's own domain: a host name
// (ValidateDomain), or a wildcard: "*." then a host name of at least two
// labels ("*.example.org"; or "*.localhost", for local development), which covers every host under it, at any
// depth, as nginx's server_name (Dokku's) does; see routing.Table.Match.
// A "*" anywhere else is refused ("*foo.example.org", "a.*.example.org",
// "*", "*."): nginx reads those otherwise or not at all, and "*.org"
// would take a whole top-level domain.
func ValidateAppDomain(d string) error {
	rest, wild := strings.CutPrefix(d, "*.")
	if !wild {
		if strings.Contains(d, "*") {
			return fmt.Errorf("%q is not a domain name: \"*\" may only stand first, as a whole label, in a wildcard such as *.example.org", d)
		}
		return ValidateDomain(d)
	}
	if d != strings.ToLower(d) {
		return fmt.Errorf("domain %q: use lowercase", d)
	}
	if strings.Contains(rest, "*") || ValidateAppName(rest) != nil || !strings.Contains(rest, ".") && rest != "localhost" {
		return fmt.Errorf("%q is not a wildcard domain: a wildcard is \"*.\" then a domain of at least two labels, such as *.example.org (it covers www.example.org and a.b.example.org, not example.org itself)", d)
	}
	// No top-level domain is all digits: *.0.1 would cover IPv4 Host
	// values (10.0.0.1), which are no app's names.
	if last := rest[strings.LastIndexByte(rest, '.')+1:]; strings.Trim(last, "0123456789") == "" {
		return fmt.Errorf("%q is not a wildcard domain: its last label %q is a number, so it would cover IP addresses; use a domain name such as *.example.org", d, last)
	}
	return nil
}

// DomainsReport is what domains:report shows.
type DomainsReport struct {
	App     string   `json:"app,omitempty"`
	Default []string `json:"default,omitempty"`
	Own     []string `json:"own"`
	Global  []string `json:"global"`
	// URLs are the app's hosts as users open them (URLsFor).
	URLs []string `json:"urls,omitempty"`
	// Enabled is false after domains:disable (nil in the global report).
	Enabled *bool `json:"app_enabled,omitempty"`
}

// Domains reports the app's domains.
func (p *Platform) Domains(ctx context.Context, app string) (DomainsReport, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return DomainsReport{}, err
	}
	own := slices.Clone(a.Domains)
	if own == nil {
		own = []string{}
	}
	enabled := !a.DomainsDisabled
	return DomainsReport{App: app, Default: HostsFor(app, p.globalDomainList()), Own: own, Global: p.globalDomainList(), URLs: p.URLsFor(p.hostsFor(a)), Enabled: &enabled}, nil
}

// ChangeDomains changes the app's own domains: "add", "remove", "set"
// (replace) or "clear". Routing follows at once; a domain another app
// names is refused. Names are compared exactly (the table's Lookup): a
// wildcard conflicts only with the same wildcard, and an exact host under
// another app's wildcard is allowed, as it wins over the wildcard.
func (p *Platform) ChangeDomains(ctx context.Context, app, action string, domains []string) error {
	for _, d := range domains {
		if err := ValidateAppDomain(d); err != nil {
			return err
		}
		if err := p.checkNotReserved(d); err != nil && action != "remove" {
			return err
		}
	}
	a, unlock, err := p.lockedApp(ctx, app, "a domains change")
	if err != nil {
		return err
	}
	defer unlock()
	if a.Domains, err = changeDomainList(a.Domains, action, domains); err != nil {
		return fmt.Errorf("%s: %w (see domains:report %s)", app, err, app)
	}
	for _, h := range p.hostsFor(a) {
		if r, ok := p.table.Lookup(h); ok && r.App != app {
			return fmt.Errorf("%s is already served by app %s", h, r.App)
		}
	}
	if err := saveApp(ctx, p.store, a); err != nil {
		return err
	}
	hosts := p.hostsFor(a)
	// A disabled app's new hosts are claimed, not served, like its others.
	p.table.SetHostsDisabled(app, hosts, a.routingDisabled())
	p.hooks.runHostsChanged(ctx, app, hosts)
	return nil
}

// firstExactHost is the first of hosts that is no wildcard, or "": the
// Host a health check sends (a "*.example.org" Host is no name a client
// sends, and an app may well answer it 400).
func firstExactHost(hosts []string) string {
	for _, h := range hosts {
		if !routing.IsWildcard(h) {
			return h
		}
	}
	return ""
}

// routingDisabled says whether the app is out of routing (proxy:disable,
// domains:disable): its hosts stay its own in the routing table, unserved
// (routing.Route.Disabled), so that no other app's wildcard takes them.
func (a *App) routingDisabled() bool { return a.ProxyDisabled || a.DomainsDisabled }

// ChangeGlobalDomains changes the global domains added by command (those
// of the Caddyfile stay), and re-routes every app.
func (p *Platform) ChangeGlobalDomains(ctx context.Context, action string, domains []string) error {
	for _, d := range domains {
		if err := ValidateDomain(d); err != nil {
			return err
		}
	}
	change := func(g *Global) (err error) {
		if g.Domains, err = changeDomainList(g.Domains, action, domains); err != nil {
			return fmt.Errorf("global domains: %w", err)
		}
		return nil
	}
	// Re-routed under the global lock, as the domains were saved.
	return p.changeGlobal(ctx, "a global domains change", change, func(g Global) error {
		p.mu.Lock()
		p.storedGlobal = g.Domains
		p.mu.Unlock()
		return p.rehost(ctx)
	})
}

// SetLocked locks or unlocks the app: a locked app refuses deploys.
func (p *Platform) SetLocked(ctx context.Context, app string, locked bool) error {
	return p.update(ctx, app, func(a *App) { a.Locked = locked })
}

// GlobalDomains returns the global domains: the Caddyfile's, then those
// added by command.
func (p *Platform) GlobalDomains() []string { return p.globalDomainList() }

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

// changeDomainList applies a domains action ("add", "remove", "set",
// "clear") to list. Removing a domain the list lacks is an error: it is
// most likely a typo.
func changeDomainList(list []string, action string, domains []string) ([]string, error) {
	switch action {
	case "add":
		for _, d := range domains {
			if !slices.Contains(list, d) {
				list = append(list, d)
			}
		}
	case "remove":
		for _, d := range domains {
			if !slices.Contains(list, d) {
				return nil, fmt.Errorf("no domain %s to remove", d)
			}
		}
		list = slices.DeleteFunc(list, func(d string) bool { return slices.Contains(domains, d) })
	case "set":
		// Keep the first of each domain, in the order given (Compact
		// alone only drops neighbours: "set a b a" kept both a's).
		list = nil
		for _, d := range domains {
			if !slices.Contains(list, d) {
				list = append(list, d)
			}
		}
	case "clear":
		list = nil
	default:
		return nil, fmt.Errorf("unknown domains action %q", action)
	}
	return list, nil
}
