package berthtest

import (
	"fmt"
	"os"
	"strings"
)

// TLSMode is how a Caddyfile serves apps.
type TLSMode int

const (
	// PlainHTTP serves apps over http:// on HTTPPort only.
	PlainHTTP TLSMode = iota
	// ACME serves every app over HTTPS with on-demand certificates from
	// the ACME server at ACMEDirectory (Pebble, in the suite) and custom
	// ones from Berth, as Caddyfile.example does. Plain HTTP is Caddy's
	// own: ACME HTTP-01 challenges, and redirects to HTTPS.
	ACME
	// InternalCA serves every app over HTTPS with certificates from
	// Caddy's local CA (`tls internal`), the README's local-development
	// setup. skip_install_trust keeps a test from touching the machine's
	// trust store; clients trust the root in Caddy's data directory.
	InternalCA
)

// Caddyfile is the config of one Berth under test: the `berth` global
// option and the berth site, bound to 127.0.0.1 on the caller's ports, as
// a user would write it. Every field the mode uses must be set; String
// does not invent defaults, so a test sees the config it asked for.
type Caddyfile struct {
	AdminPort int
	// AdminSocket, when set, is the unix socket the admin API listens on
	// instead of AdminPort, with the file mode AdminSocketMode ("0600"):
	// Caddyfile.example's production form, which security tests of the
	// admin API need.
	AdminSocket, AdminSocketMode string
	HTTPPort                     int
	HTTPSPort                    int // ACME and InternalCA
	SSHPort                      int
	// Domains are the berth option's global domains (apps are served as
	// APP.DOMAIN).
	Domains        []string
	AuthorizedKeys string // file of the admin's public keys
	StateDir       string
	// Options are more lines of the berth block, each "NAME VALUE..." as
	// a user writes it (max_log_lines 5): the limits and settings a test
	// switches on.
	Options []string

	TLS TLSMode
	// Email is the ACME account's contact (global `email`), if any.
	Email string
	// ACMEDirectory is the ACME server's directory URL, and ACMERoot a
	// file with the root of that server's own listener (ACME).
	ACMEDirectory, ACMERoot string
	// Wildcard, with InternalCA, adds a *.Wildcard site whose wildcard
	// certificate Caddy manages from the start, as the README's DNS-01
	// setup does (with the internal CA, which needs no DNS provider).
	Wildcard string
	// Global are more lines of the global options block, each as a user
	// writes it (skip_install_trust), for the sites in Extra.
	Global []string
	// Extra is appended as it is: more sites (the benchmark's static
	// reverse_proxy sites beside Berth's).
	Extra string
}

// AdminAddress is the admin API's address as the Caddyfile's `admin`
// option and Caddy's JSON write it: unix/PATH|MODE or 127.0.0.1:PORT.
func (c Caddyfile) AdminAddress() string {
	if c.AdminSocket != "" {
		return "unix/" + c.AdminSocket + "|" + c.AdminSocketMode
	}
	return fmt.Sprintf("127.0.0.1:%d", c.AdminPort)
}

// String renders the Caddyfile.
func (c Caddyfile) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{\n\tadmin %s\n\tpersist_config off\n", c.AdminAddress())
	if c.TLS != PlainHTTP {
		fmt.Fprintf(&b, "\thttp_port %d\n\thttps_port %d\n", c.HTTPPort, c.HTTPSPort)
	}
	if c.Email != "" {
		fmt.Fprintf(&b, "\temail %s\n", c.Email)
	}
	switch c.TLS {
	case ACME:
		fmt.Fprintf(&b, "\tacme_ca %s\n\tacme_ca_root %s\n", c.ACMEDirectory, c.ACMERoot)
	case InternalCA:
		b.WriteString("\tskip_install_trust\n")
	}
	if c.TLS != PlainHTTP {
		b.WriteString("\ton_demand_tls {\n\t\tpermission berth\n\t}\n")
	}
	for _, g := range c.Global {
		fmt.Fprintf(&b, "\t%s\n", g)
	}
	fmt.Fprintf(&b, "\tberth {\n\t\tdomain %s\n\t\tssh 127.0.0.1:%d\n\t\tauthorized_keys %s\n\t\tstate_dir %s\n",
		strings.Join(c.Domains, " "), c.SSHPort, c.AuthorizedKeys, c.StateDir)
	for _, o := range c.Options {
		fmt.Fprintf(&b, "\t\t%s\n", o)
	}
	b.WriteString("\t}\n}\n")
	switch c.TLS {
	case PlainHTTP:
		fmt.Fprintf(&b, "http://:%d {\n\tbind 127.0.0.1\n\tberth\n}\n", c.HTTPPort)
	case ACME:
		b.WriteString("https:// {\n\tbind 127.0.0.1\n\ttls {\n\t\ton_demand\n\t\tget_certificate berth\n\t}\n\tberth\n}\n")
	case InternalCA:
		if c.Wildcard != "" {
			fmt.Fprintf(&b, "*.%s {\n\tbind 127.0.0.1\n\ttls internal\n\tberth\n}\n", c.Wildcard)
		}
		b.WriteString("https:// {\n\tbind 127.0.0.1\n\ttls internal {\n\t\ton_demand\n\t\tget_certificate berth\n\t}\n\tberth\n}\n")
	}
	b.WriteString(c.Extra)
	return b.String()
}

// Write writes the Caddyfile to path, readable by the owner only (it
// names the state directory, which holds config vars).
func (c Caddyfile) Write(path string) error {
	return os.WriteFile(path, []byte(c.String()), 0o600)
}
