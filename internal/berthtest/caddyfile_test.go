package berthtest

import (
	"encoding/json"
	"fmt"
	"strings"
	"testing"

	"github.com/caddyserver/caddy/v2/caddyconfig"
	_ "github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	_ "github.com/caddyserver/caddy/v2/modules/standard"

	_ "github.com/berth-paas/berth/caddymodule"
)

func base() Caddyfile {
	return Caddyfile{
		AdminPort: 2019, HTTPPort: 8080, HTTPSPort: 8443, SSHPort: 2222,
		Domains:        []string{"example.test"},
		AuthorizedKeys: "/w/admin_keys", StateDir: "/w/state",
	}
}

// The forms are, byte for byte, the Caddyfiles tests/ wrote before it
// used this package (writeCaddyfile with its admin socket and extra berth
// options, tlsCaddyfile, internalCaddyfile), so moving the suite here
// changes no script's config.
var golden = []struct {
	name string
	edit func(*Caddyfile)
	want string
}{
	{"plain HTTP", func(*Caddyfile) {}, `{
	admin 127.0.0.1:2019
	persist_config off
	berth {
		domain example.test
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
	}
}
http://:8080 {
	bind 127.0.0.1
	berth
}
`},
	{"ACME", func(c *Caddyfile) {
		c.TLS, c.Email = ACME, "test@berth.test"
		c.ACMEDirectory, c.ACMERoot = "https://127.0.0.1:14000/dir", "/w/pebble/listener-ca.pem"
		c.Domains = []string{"example.test", "other.test"}
	}, `{
	admin 127.0.0.1:2019
	persist_config off
	http_port 8080
	https_port 8443
	email test@berth.test
	acme_ca https://127.0.0.1:14000/dir
	acme_ca_root /w/pebble/listener-ca.pem
	on_demand_tls {
		permission berth
	}
	berth {
		domain example.test other.test
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
	}
}
https:// {
	bind 127.0.0.1
	tls {
		on_demand
		get_certificate berth
	}
	berth
}
`},
	{"internal CA", func(c *Caddyfile) { c.TLS, c.Domains = InternalCA, []string{"localhost"} }, `{
	admin 127.0.0.1:2019
	persist_config off
	http_port 8080
	https_port 8443
	skip_install_trust
	on_demand_tls {
		permission berth
	}
	berth {
		domain localhost
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
	}
}
https:// {
	bind 127.0.0.1
	tls internal {
		on_demand
		get_certificate berth
	}
	berth
}
`},
	{"internal CA with a wildcard site", func(c *Caddyfile) {
		c.TLS, c.Domains, c.Wildcard = InternalCA, []string{"dev.test"}, "dev.test"
	}, `{
	admin 127.0.0.1:2019
	persist_config off
	http_port 8080
	https_port 8443
	skip_install_trust
	on_demand_tls {
		permission berth
	}
	berth {
		domain dev.test
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
	}
}
*.dev.test {
	bind 127.0.0.1
	tls internal
	berth
}
https:// {
	bind 127.0.0.1
	tls internal {
		on_demand
		get_certificate berth
	}
	berth
}
`},
	{"admin socket and berth options", func(c *Caddyfile) {
		c.AdminSocket, c.AdminSocketMode = "/tmp/berth-admin-1/admin.sock", "0600"
		c.Options = []string{"max_log_lines 5", "max_scale 10"}
	}, `{
	admin unix//tmp/berth-admin-1/admin.sock|0600
	persist_config off
	berth {
		domain example.test
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
		max_log_lines 5
		max_scale 10
	}
}
http://:8080 {
	bind 127.0.0.1
	berth
}
`},
	{"internal CA with berth options", func(c *Caddyfile) {
		c.TLS, c.Domains, c.Options = InternalCA, []string{"localhost"}, []string{"max_scale 3"}
	}, `{
	admin 127.0.0.1:2019
	persist_config off
	http_port 8080
	https_port 8443
	skip_install_trust
	on_demand_tls {
		permission berth
	}
	berth {
		domain localhost
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
		max_scale 3
	}
}
https:// {
	bind 127.0.0.1
	tls internal {
		on_demand
		get_certificate berth
	}
	berth
}
`},
	{"extra sites", func(c *Caddyfile) { c.Extra = "http://:9000 {\n\trespond ok\n}\n" }, `{
	admin 127.0.0.1:2019
	persist_config off
	berth {
		domain example.test
		ssh 127.0.0.1:2222
		authorized_keys /w/admin_keys
		state_dir /w/state
	}
}
http://:8080 {
	bind 127.0.0.1
	berth
}
http://:9000 {
	respond ok
}
`},
}

func TestCaddyfileRendersTheSuitesForms(t *testing.T) {
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			c := base()
			g.edit(&c)
			if got := c.String(); got != g.want {
				t.Errorf("got:\n%s\nwant:\n%s", got, g.want)
			}
		})
	}
}

// Every form adapts with the real Caddyfile adapter and Berth's own
// parser, and says what it was asked to: a typo in a template fails here,
// not in the middle of an end-to-end run.
func TestCaddyfileAdapts(t *testing.T) {
	adapter := caddyconfig.GetAdapter("caddyfile")
	if adapter == nil {
		t.Fatal("no caddyfile adapter registered")
	}
	for _, g := range golden {
		t.Run(g.name, func(t *testing.T) {
			c := base()
			g.edit(&c)
			out, warnings, err := adapter.Adapt([]byte(c.String()), map[string]any{"filename": "Caddyfile"})
			if err != nil {
				t.Fatalf("adapt: %v\n%s", err, c)
			}
			if len(warnings) > 0 {
				t.Errorf("warnings: %v", warnings)
			}
			var cfg struct {
				Admin struct {
					Listen string `json:"listen"`
				} `json:"admin"`
				Apps map[string]json.RawMessage `json:"apps"`
			}
			if err := json.Unmarshal(out, &cfg); err != nil {
				t.Fatal(err)
			}
			if cfg.Admin.Listen != c.AdminAddress() {
				t.Errorf("admin listens on %q, want %q", cfg.Admin.Listen, c.AdminAddress())
			}
			var berth struct {
				Domains        []string `json:"domains"`
				SSH            string   `json:"ssh"`
				AuthorizedKeys string   `json:"authorized_keys"`
				StateDir       string   `json:"state_dir"`
			}
			if err := json.Unmarshal(cfg.Apps["berth"], &berth); err != nil {
				t.Fatalf("berth app: %v\n%s", err, out)
			}
			if strings.Join(berth.Domains, " ") != strings.Join(c.Domains, " ") || berth.SSH != "127.0.0.1:2222" ||
				berth.AuthorizedKeys != c.AuthorizedKeys || berth.StateDir != c.StateDir {
				t.Errorf("berth app: %+v", berth)
			}
			raw := string(out)
			// Each option reaches Berth's config as NAME:VALUE (the ones
			// used here are numbers).
			for _, o := range c.Options {
				name, value, _ := strings.Cut(o, " ")
				if !strings.Contains(string(cfg.Apps["berth"]), fmt.Sprintf("%q:%s", name, value)) {
					t.Errorf("option %q is not in the berth app: %s", o, cfg.Apps["berth"])
				}
			}
			if c.TLS != PlainHTTP && !strings.Contains(raw, `"permission":{"module":"berth"}`) {
				t.Errorf("no on-demand permission from berth:\n%s", raw)
			}
			if c.TLS == InternalCA && !strings.Contains(raw, `"module":"internal"`) {
				t.Errorf("no internal issuer:\n%s", raw)
			}
			if c.TLS == ACME && !strings.Contains(raw, c.ACMEDirectory) {
				t.Errorf("no ACME CA %s:\n%s", c.ACMEDirectory, raw)
			}
		})
	}
}
