package platform

import (
	"fmt"
	"slices"
)

// SetReservedHosts sets the hosts Berth itself answers on (the dashboard's
// host, from the Caddyfile): no app may take one, neither as its own
// domain (ChangeDomains refuses it) nor as a default host under a global
// domain (hostsFor leaves it out). A config reload replaces them; call it
// before SetGlobalDomains, which routes every app again.
func (p *Platform) SetReservedHosts(hosts []string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.reserved = slices.Clone(hosts)
}

// reservedHost says whether host is one of Berth's own.
func (p *Platform) reservedHost(host string) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.Contains(p.reserved, host)
}

// checkNotReserved refuses a domain that is one of Berth's own hosts.
func (p *Platform) checkNotReserved(domain string) error {
	if p.reservedHost(domain) {
		return fmt.Errorf("%s is Berth's dashboard host (the Caddyfile's dashboard option); no app can take it: choose another domain, or move the dashboard", domain)
	}
	return nil
}
