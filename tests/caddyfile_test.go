package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// adapt runs `caddy adapt` on a Caddyfile and returns the JSON config.
func adapt(t *testing.T, caddyfile string, env ...string) map[string]any {
	t.Helper()
	cmd := exec.Command(caddyBin, "adapt", "--config", caddyfile)
	// The Caddyfiles' own variables are the caller's alone.
	cmd.Env = slices.DeleteFunc(os.Environ(), func(kv string) bool { return strings.HasPrefix(kv, "BERTH_") })
	cmd.Env = append(cmd.Env, env...)
	out, err := cmd.Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("caddy adapt %s: %v\n%s", caddyfile, err, msg)
	}
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

func TestCaddyfileExampleIsTheProductionForm(t *testing.T) {
	cfg := adapt(t, "../Caddyfile.example", "BERTH_DOMAIN=example.com")
	checkAdminIsRootOnly(t, "Caddyfile.example", cfg)
	apps := cfg["apps"].(map[string]any)
	berth, ok := apps["berth"].(map[string]any)
	if !ok {
		t.Fatal("Caddyfile.example configures no berth app")
	}
	if berth["authorized_keys"] != "/etc/berth/admin_keys" || berth["ssh"] != ":2222" || fmt.Sprint(berth["domains"]) != "[example.com]" {
		t.Errorf("berth app: %v", berth)
	}
	raw, _ := json.Marshal(apps)
	// A placeholder contact makes Let's Encrypt refuse the account, and
	// with it every certificate: the email stays the user's to set.
	if strings.Contains(string(raw), `"email"`) {
		t.Error("Caddyfile.example sets an ACME email; leave it commented for the user")
	}
	for _, want := range []string{`"on_demand":true`, `"permission":{"module":"berth"}`, `"get_certificate":[{"via":"berth"}]`,
		`"handler":"berth"`, `":443"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("Caddyfile.example's config lacks %s", want)
		}
	}
	// Production serves apps over HTTPS only: a plain-HTTP trial site
	// is the default Caddyfile's.
	if strings.Contains(string(raw), `":8080"`) {
		t.Error("Caddyfile.example keeps a plain-HTTP site on :8080")
	}
}

// TestCaddyfileExampleNeedsADomain: without BERTH_DOMAIN the production
// form does not start, and says why, rather than ask Let's Encrypt for a
// placeholder's certificates (which hangs a first request, then fails).
func TestCaddyfileExampleNeedsADomain(t *testing.T) {
	cmd := exec.Command(caddyBin, "adapt", "--config", "../Caddyfile.example")
	cmd.Env = append(os.Environ(), "BERTH_DOMAIN=")
	out, err := cmd.CombinedOutput()
	if err == nil {
		t.Fatalf("Caddyfile.example adapts with no domain:\n%s", out)
	}
	if !strings.Contains(string(out), "domain needs at least one domain name") || !strings.Contains(string(out), "BERTH_DOMAIN") {
		t.Errorf("the error does not say what to set:\n%s", out)
	}
}

// TestDefaultCaddyfileServesAnywhere: the shipped default (../Caddyfile,
// built into cmd/caddy) needs no root port, no DNS and no key file, and
// keeps the admin API root's (or, run as another user, its own).
func TestDefaultCaddyfileServesAnywhere(t *testing.T) {
	cfg := adapt(t, "../Caddyfile")
	checkAdminIsRootOnly(t, "Caddyfile", cfg)
	apps := cfg["apps"].(map[string]any)
	berth := apps["berth"].(map[string]any)
	if _, ok := berth["authorized_keys"]; ok || berth["ssh"] != ":2222" || fmt.Sprint(berth["domains"]) != "[localhost]" {
		t.Errorf("berth app: %v (want domain localhost, ssh :2222, the keys from ~/.ssh/*.pub)", berth)
	}
	raw, _ := json.Marshal(apps)
	for _, want := range []string{`"http_port":8080`, `"https_port":8443`, `"listen":[":8080"]`, `"listen":[":8443"]`,
		`"module":"internal"`, `"on_demand":true`, `"permission":{"module":"berth"}`, `"get_certificate":[{"via":"berth"}]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the default Caddyfile's config lacks %s:\n%s", want, raw)
		}
	}
	if strings.Contains(string(raw), "acme") || strings.Contains(string(raw), `":443"`) || strings.Contains(string(raw), `":80"`) {
		t.Errorf("the default Caddyfile needs ACME or a root port:\n%s", raw)
	}
}

// checkAdminIsRootOnly fails unless a config's admin API listens on a
// unix socket of mode 0600: Caddy's default, TCP localhost:2019, lets any
// local user run Berth commands, which can take the server over.
func checkAdminIsRootOnly(t *testing.T, what string, cfg map[string]any) {
	t.Helper()
	admin, _ := cfg["admin"].(map[string]any)
	listen, _ := admin["listen"].(string)
	path, mode, ok := strings.Cut(strings.TrimPrefix(listen, "unix/"), "|")
	if !strings.HasPrefix(listen, "unix/") || !ok || mode != "0600" || !filepath.IsAbs(path) {
		t.Errorf("%s's admin endpoint is %q; want a unix socket only root may open (admin unix//run/berth-admin.sock|0600): "+
			"on TCP, any local user can run Berth commands, and so become root", what, listen)
	}
}

// TestReadmeCaddyfileAdapts keeps the README's quick-start Caddyfile valid.
func TestReadmeCaddyfileAdapts(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```\n(\\s*\\{\n(?:\\s*admin [^\n]*\n)?\\s*berth \\{.*?)\\s*```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no Caddyfile block with a berth global option")
	}
	lines := strings.Split(string(block[1]), "\n")
	for i, l := range lines {
		lines[i] = strings.TrimPrefix(l, "   ") // the block is indented in a list
	}
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, []byte(strings.Join(lines, "\n")), 0o600); err != nil {
		t.Fatal(err)
	}
	cfg := adapt(t, file)
	checkAdminIsRootOnly(t, "the README's Caddyfile", cfg)
	berth := cfg["apps"].(map[string]any)["berth"].(map[string]any)
	if got := berth["domains"].([]any); len(got) != 1 || got[0] != "example.test" {
		t.Errorf("domains = %v", got)
	}
}

// TestReadmeLocalDevelopmentCaddyfileAdapts keeps the README's `tls
// internal` example valid; tests/testdata/tls_internal.txtar serves apps
// with the same site block.
func TestReadmeLocalDevelopmentCaddyfileAdapts(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	block := regexp.MustCompile("(?s)```\n(\\{\n[^`]*?tls internal \\{.*?)```").FindSubmatch(readme)
	if block == nil {
		t.Fatal("README.md has no Caddyfile block with tls internal")
	}
	file := filepath.Join(t.TempDir(), "Caddyfile")
	if err := os.WriteFile(file, block[1], 0o600); err != nil {
		t.Fatal(err)
	}
	raw, _ := json.Marshal(adapt(t, file)["apps"])
	for _, want := range []string{`"module":"internal"`, `"on_demand":true`, `"permission":{"module":"berth"}`, `"get_certificate":[{"via":"berth"}]`, `"domains":["localhost"]`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("the README's tls internal Caddyfile lacks %s:\n%s", want, raw)
		}
	}
}
