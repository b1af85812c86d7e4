package platform

import (
	"fmt"
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

// ParsePortMap reads an app's stored mappings (App.PortMap), skipping
// any that no longer parses.
func ParsePortMap(m []string) []PortMapping {
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
	for _, m := range ParsePortMap(a.PortMap) {
		if m.Scheme != "tcp" { // tcp mappings are tcproute's, not Caddy's
			return m.ContainerPort
		}
	}
	return rel.Port
}
