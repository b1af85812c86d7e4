package caddymodule

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
)

func TestSSHLimitOptions(t *testing.T) {
	d := caddyfile.NewTestDispenser(`berth {
		authorized_keys /k
		ssh_login_grace_time 5s
		ssh_max_startups 50
		ssh_max_startups_per_ip 4
		ssh_idle_timeout 2m
		ssh_max_sessions_per_key 3
		ssh_max_sessions_per_admin_key 20
	}`)
	v, err := parseGlobalOption(d, nil)
	if err != nil {
		t.Fatal(err)
	}
	var app App
	if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
		t.Fatal(err)
	}
	got := app.sshLimits()
	if got.LoginGraceTime != 5*time.Second || got.MaxStartups != 50 || got.MaxStartupsPerIP != 4 ||
		got.IdleTimeout != 2*time.Minute || got.MaxSessionsPerKey != 3 || got.MaxSessionsPerAdminKey != 20 {
		t.Fatalf("limits %+v", got)
	}
	if d := (&App{}).sshLimits(); d.LoginGraceTime != 30*time.Second || d.MaxStartups != 100 || d.MaxStartupsPerIP != 10 {
		t.Fatalf("defaults %+v", d)
	}

	for opt, want := range map[string]string{
		"ssh_login_grace_time 0s":      "is not a positive duration",
		"ssh_idle_timeout soon":        "is not a positive duration",
		"ssh_max_startups -1":          "is not a positive whole number",
		"ssh_max_startups_per_ip":      "needs a number",
		"ssh_max_sessions_per_key 1 2": "takes one value",
		"ssh_max_sessoins_per_key 1":   `unknown berth option "ssh_max_sessoins_per_key"`,
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("berth {\n"+opt+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", opt, err, want)
		}
	}
}

// parseBerthBlock reads body as the lines of a berth global option block.
func parseBerthBlock(body string) (*App, error) {
	app := new(App)
	v, err := parseGlobalOption(caddyfile.NewTestDispenser("berth {\n"+body+"\n}"), nil)
	if err != nil {
		return app, err
	}
	return app, json.Unmarshal(v.(httpcaddyfile.App).Value, app)
}

func TestFormationCheckOptions(t *testing.T) {
	parse := parseBerthBlock
	app, err := parse("formation_check_interval 0\nformation_check_revivals 0")
	if err != nil {
		t.Fatal(err)
	}
	// 0 is a setting (off, only report), not "unset".
	if app.FormationCheckInterval == nil || *app.FormationCheckInterval != 0 || app.FormationCheckRevivals == nil || *app.FormationCheckRevivals != 0 {
		t.Fatalf("zero settings lost: %+v %+v", app.FormationCheckInterval, app.FormationCheckRevivals)
	}
	app, err = parse("formation_check_interval 5s\nformation_check_revivals 2")
	if err != nil || time.Duration(*app.FormationCheckInterval) != 5*time.Second || *app.FormationCheckRevivals != 2 {
		t.Fatalf("%v %v %v", err, app.FormationCheckInterval, app.FormationCheckRevivals)
	}
	if app, _ := parse("authorized_keys /k"); app.FormationCheckInterval != nil || app.FormationCheckRevivals != nil {
		t.Fatal("unset options are not nil (the defaults would be lost)")
	}
	for opt, want := range map[string]string{
		"formation_check_interval -1s":  "is not a duration",
		"formation_check_interval soon": "is not a duration",
		"formation_check_interval":      "takes one duration",
		"formation_check_revivals -1":   "must be a whole number of 0",
		"formation_check_revivals 1 2":  "takes one number",
	} {
		if _, err := parse(opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", opt, err, want)
		}
	}
}

func TestProxyReadTimeoutOption(t *testing.T) {
	parse := parseBerthBlock
	app, err := parse("proxy_read_timeout 0")
	if err != nil || app.ProxyReadTimeout == nil || *app.ProxyReadTimeout != 0 {
		t.Fatalf("0 (no limit) is a setting, not unset: %v %v", err, app.ProxyReadTimeout)
	}
	app, err = parse("proxy_read_timeout 2m")
	if err != nil || time.Duration(*app.ProxyReadTimeout) != 2*time.Minute {
		t.Fatalf("%v %v", err, app.ProxyReadTimeout)
	}
	for opt, want := range map[string]string{
		"proxy_read_timeout -1s":   "is not a duration",
		"proxy_read_timeout soon":  "is not a duration",
		"proxy_read_timeout":       "takes one duration",
		"proxy_read_timeout 1s 2s": "takes one duration",
	} {
		if _, err := parse(opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", opt, err, want)
		}
	}
}

func TestDashboardOptions(t *testing.T) {
	v, err := parseGlobalOption(caddyfile.NewTestDispenser("berth {\n\tdashboard berth.example.com\n\tdashboard_session 2h\n}"), nil)
	if err != nil {
		t.Fatal(err)
	}
	var app App
	if err := json.Unmarshal(v.(httpcaddyfile.App).Value, &app); err != nil {
		t.Fatal(err)
	}
	if app.Dashboard != "berth.example.com" || time.Duration(app.DashboardSession) != 2*time.Hour {
		t.Fatalf("dashboard %q, session %v", app.Dashboard, app.DashboardSession)
	}
	if hosts := app.reservedHosts(); len(hosts) != 1 || hosts[0] != "berth.example.com" {
		t.Errorf("reserved hosts %v", hosts)
	}
	if hosts := (&App{}).reservedHosts(); hosts != nil {
		t.Errorf("no dashboard, reserved hosts %v", hosts)
	}
	for opt, want := range map[string]string{
		"dashboard":                     "needs a value",
		"dashboard a.example b.example": "takes one value",
		"dashboard_session 0s":          "is not a positive duration",
		"dashboard_session":             "needs a duration",
	} {
		_, err := parseGlobalOption(caddyfile.NewTestDispenser("berth {\n"+opt+"\n}"), nil)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", opt, err, want)
		}
	}
}

func TestRegistryOption(t *testing.T) {
	app, err := parseBerthBlock("registry Registry.Example.com.:8443")
	if err != nil || app.Registry != "Registry.Example.com.:8443" {
		t.Fatalf("%v %q", err, app.Registry)
	}
	got, err := normalRegistry(app.Registry, "")
	if err != nil || got != "registry.example.com:8443" {
		t.Fatalf("normal form %q %v", got, err)
	}
	if hosts := (&App{Registry: got, Dashboard: "dash.example.com"}).reservedHosts(); len(hosts) != 2 || hosts[1] != "registry.example.com" {
		t.Errorf("reserved hosts %v", hosts)
	}
	for reg, want := range map[string]string{
		"registry.example.com:0":     "the port must be a number",
		"registry.example.com:https": "the port must be a number",
		"registry_example":           "is not a domain name",
		"dash.example.com":           "the dashboard answers on that host",
	} {
		if _, err := normalRegistry(reg, "dash.example.com"); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", reg, err, want)
		}
	}
}

func TestWildcardCertsOptions(t *testing.T) {
	parse := parseBerthBlock
	app, err := parse("wildcard_certs_per_hour 0\nwildcard_certs_max 3")
	if err != nil || app.WildcardCertsPerHour == nil || *app.WildcardCertsPerHour != 0 || *app.WildcardCertsMax != 3 {
		t.Fatalf("%v %v %v", err, app.WildcardCertsPerHour, app.WildcardCertsMax)
	}
	if app.wildcardCertsPerHour() != 0 || app.wildcardCertsMax() != 3 {
		t.Fatal("the settings are not the budget")
	}
	if app, _ := parse("authorized_keys /k"); app.wildcardCertsPerHour() != DefaultWildcardCertsPerHour || app.wildcardCertsMax() != DefaultWildcardCertsMax ||
		app.wildcardCertsPerDomain() != DefaultWildcardCertsPerDomain || DefaultWildcardCertsPerDomain >= 50 {
		t.Fatal("unset options are not the defaults (or the per-domain default is not below Let's Encrypt's 50 a week)")
	}
	if app, err := parse("wildcard_certs_per_domain 7"); err != nil || app.wildcardCertsPerDomain() != 7 {
		t.Fatalf("wildcard_certs_per_domain 7: %v", err)
	}
	for opt, want := range map[string]string{
		"wildcard_certs_per_domain -1": "must be a whole number of 0",
		"wildcard_certs_per_domain":    "takes one number",
		"wildcard_certs_per_hour -1":   "must be a whole number of 0",
		"wildcard_certs_per_hour many": "must be a whole number of 0",
		"wildcard_certs_max":           "takes one number",
		"wildcard_certs_max 1 2":       "takes one number",
	} {
		if _, err := parse(opt); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", opt, err, want)
		}
	}
}

func TestTCPMaxConnectionsOption(t *testing.T) {
	app, err := parseBerthBlock("authorized_keys /k\ntcp_max_connections 64")
	if err != nil || app.TCPMaxConnections != 64 {
		t.Fatalf("tcp_max_connections 64: %d, %v", app.TCPMaxConnections, err)
	}
	for _, bad := range []string{"tcp_max_connections 0", "tcp_max_connections many", "tcp_max_connections"} {
		if _, err := parseBerthBlock(bad); err == nil || !strings.Contains(err.Error(), "tcp_max_connections") {
			t.Errorf("%s: error %v", bad, err)
		}
	}
}
