package platform

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
)

// PortMapping is one of Dokku's port mappings, scheme:host-port:container-port.
type PortMapping struct {
	Scheme        string `json:"scheme"`
	HostPort      int    `json:"host_port"`
	ContainerPort int    `json:"container_port"`
	// Process is the process type a tcp mapping goes to
	// (tcp:HOST:CONTAINER:TYPE); "" is web.
	Process string `json:"process,omitempty"`
}

func (m PortMapping) String() string {
	if m.Process != "" {
		return fmt.Sprintf("%s:%d:%d:%s", m.Scheme, m.HostPort, m.ContainerPort, m.Process)
	}
	return fmt.Sprintf("%s:%d:%d", m.Scheme, m.HostPort, m.ContainerPort)
}

// ParsePortMapping reads scheme:host-port:container-port. Berth's Caddy
// serves every app on its HTTP and HTTPS listeners, so a mapping says
// which container port those proxy to: http's host port is 80 and
// https's 443 (whatever ports Caddy listens on). A tcp mapping's host
// port is any (package tcproute listens on it and checks it is free);
// UDP is not served yet.
func ParsePortMapping(s string) (PortMapping, error) {
	parts := strings.Split(s, ":")
	process := ""
	if len(parts) == 4 && parts[0] == "tcp" {
		// Berth's process-scoped tcp mapping: tcp:HOST:CONTAINER:TYPE.
		if err := ValidProcessType(parts[3]); err != nil {
			return PortMapping{}, fmt.Errorf("%q: %w", s, err)
		}
		if parts[3] != "web" {
			process = parts[3]
		}
		parts = parts[:3]
	}
	if len(parts) != 3 {
		return PortMapping{}, fmt.Errorf("%q is not a port mapping: use scheme:host-port:container-port, for example http:80:5000", s)
	}
	scheme := parts[0]
	host, err1 := strconv.Atoi(parts[1])
	ctr, err2 := strconv.Atoi(parts[2])
	if err1 != nil || err2 != nil || host < 1 || host > 65535 || ctr < 1 || ctr > 65535 {
		return PortMapping{}, fmt.Errorf("%q: ports are numbers from 1 to 65535", s)
	}
	switch scheme {
	case "http", "https":
	case "tcp":
		return PortMapping{Scheme: scheme, HostPort: host, ContainerPort: ctr, Process: process}, nil
	case "udp", "grpc", "grpcs":
		return PortMapping{}, fmt.Errorf("%q: %s mappings are not supported yet; Berth proxies http, https and tcp only", s, scheme)
	default:
		return PortMapping{}, fmt.Errorf("%q: unknown scheme %q; use http, https or tcp", s, scheme)
	}
	if want := map[string]int{"http": 80, "https": 443}[scheme]; host != want {
		return PortMapping{}, fmt.Errorf("%q: Berth serves apps on Caddy's own %s listener; give host port %d (a listener on another port is Caddy's configuration, not an app's)", s, scheme, want)
	}
	return PortMapping{Scheme: scheme, HostPort: host, ContainerPort: ctr}, nil
}

func parsePortMap(m []string) []PortMapping {
	var out []PortMapping
	for _, s := range m {
		if pm, err := ParsePortMapping(s); err == nil {
			out = append(out, pm)
		}
	}
	return out
}

// ProxyPort is the container port Caddy proxies the app's requests to:
// the port mappings' (ports:set), else the release's (its EXPOSE, else
// DefaultPort). PORT is set to it.
func (a *App) ProxyPort(rel Release) int {
	for _, m := range parsePortMap(a.PortMap) {
		if m.Scheme != "tcp" { // tcp mappings are tcproute's, not Caddy's
			return m.ContainerPort
		}
	}
	return rel.Port
}

// PortsReport is ports:list and ports:report.
type PortsReport struct {
	App string `json:"app"`
	// Map is what ports:set set; Detected what the release gives without
	// it (http:80:PORT); Effective the one in use.
	Map       []PortMapping `json:"map"`
	Detected  []PortMapping `json:"detected"`
	Effective []PortMapping `json:"effective"`
}

// Ports reports the app's port mappings.
func (p *Platform) Ports(ctx context.Context, app string) (PortsReport, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return PortsReport{}, err
	}
	r := PortsReport{App: app, Map: parsePortMap(a.PortMap), Detected: []PortMapping{}}
	if r.Map == nil {
		r.Map = []PortMapping{}
	}
	if rel, ok := a.CurrentRelease(); ok {
		r.Detected = []PortMapping{{Scheme: "http", HostPort: 80, ContainerPort: rel.Port}}
	}
	r.Effective = r.Map
	if !slices.ContainsFunc(r.Map, func(m PortMapping) bool { return m.Scheme != "tcp" }) {
		r.Effective = append(slices.Clone(r.Detected), r.Map...) // tcp only: HTTP is still detected
	}
	return r, nil
}

// PortChange is how a ports:* command changes an app's mappings.
type PortChange func(current []PortMapping) ([]PortMapping, error)

// ChangePorts changes the app's port mappings. Berth proxies both
// schemes to one container port, so mappings to two container ports
// are refused. When the port Caddy proxies to changes on a running app,
// the app rolls out again with PORT set to it (checked, without
// downtime); if that fails, nothing changes and the running release
// keeps serving.
func (p *Platform) ChangePorts(ctx context.Context, app string, change PortChange, log io.Writer) error {
	a, unlock, err := p.lockedApp(ctx, app, "a ports change")
	if err != nil {
		return err
	}
	defer unlock()
	next, err := change(parsePortMap(a.PortMap))
	if err != nil {
		return err
	}
	var ports []int
	seen := map[string]bool{}
	var strs []string
	for _, m := range next {
		if seen[m.String()] {
			continue
		}
		seen[m.String()] = true
		strs = append(strs, m.String())
		if m.Scheme != "tcp" && !slices.Contains(ports, m.ContainerPort) {
			ports = append(ports, m.ContainerPort)
		}
	}
	if len(ports) > 1 {
		return fmt.Errorf("the mappings name container ports %v: Berth proxies http and https to one container port; map both to the same one", ports)
	}
	rel, deployed := a.CurrentRelease()
	before := a.ProxyPort(rel)
	a.PortMap = strs
	if !deployed || a.Stopped || a.ProxyPort(rel) == before {
		return saveApp(ctx, p.store, a)
	}
	fmt.Fprintf(log, "-----> Restarting %s: Caddy proxies to port %d now (was %d)\n", app, a.ProxyPort(rel), before)
	return p.rollout(ctx, a, rel, logWriter(log))
}

// SetProxyEnabled takes the app out of routing (proxy:disable) or puts
// it back (proxy:enable), without stopping or restarting anything.
func (p *Platform) SetProxyEnabled(ctx context.Context, app string, enabled bool) error {
	return p.setRouted(ctx, app, func(a *App) { a.ProxyDisabled = !enabled })
}

// SetDomainsEnabled is domains:enable and domains:disable: a disabled
// app answers on none of its domains (Berth routes by domain only, so it
// is out of routing, as with proxy:disable); its domains are kept.
func (p *Platform) SetDomainsEnabled(ctx context.Context, app string, enabled bool) error {
	return p.setRouted(ctx, app, func(a *App) { a.DomainsDisabled = !enabled })
}

// ResetDomains removes the app's own domains (domains:reset): it answers
// on its default hosts under the global domains again.
func (p *Platform) ResetDomains(ctx context.Context, app string) error {
	return p.setRouted(ctx, app, func(a *App) { a.Domains = nil })
}

func (p *Platform) setRouted(ctx context.Context, app string, change func(*App)) error {
	if err := p.update(ctx, app, change); err != nil {
		return err
	}
	// The hosts (and whether they are served) changed: an enabled app's
	// custom certificate goes back into the TLS server's cache, a
	// disabled one's stays out (certs' hosts-changed hook). Also when the
	// refresh fails: the record changed, and the next reconcile routes
	// it without running the hook.
	defer func() {
		if a, err := p.App(ctx, app); err == nil {
			p.hooks.runHostsChanged(context.WithoutCancel(ctx), app, p.hostsFor(a))
		}
	}()
	return p.routes.Refresh(context.WithoutCancel(ctx), app)
}
