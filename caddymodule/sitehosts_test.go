package caddymodule

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	_ "github.com/caddyserver/caddy/v2/modules/standard"
)

// provisionedHTTPApp adapts and provisions a Caddyfile as Caddy does at a
// load (automatic HTTPS included: its redirect routes are added at the
// http app's provisioning), without starting anything.
func provisionedHTTPApp(t *testing.T, sites string) *caddyhttp.App {
	t.Helper()
	dir := t.TempDir()
	t.Setenv("XDG_DATA_HOME", filepath.Join(dir, "data"))
	t.Setenv("XDG_CONFIG_HOME", filepath.Join(dir, "config"))
	keys := filepath.Join(dir, "keys")
	if err := os.WriteFile(keys, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	caddyfile := "{\n\tadmin off\n\tberth {\n\t\tauthorized_keys " + keys + "\n\t\tstate_dir " + filepath.Join(dir, "state") + "\n\t}\n}\n" + sites
	adapted, warn, err := caddyconfig.GetAdapter("caddyfile").Adapt([]byte(caddyfile), nil)
	if err != nil {
		t.Fatalf("adapt: %v (%v)", err, warn)
	}
	var cfg caddy.Config
	if err := json.Unmarshal(adapted, &cfg); err != nil {
		t.Fatal(err)
	}
	ctx, err := caddy.ProvisionContext(&cfg)
	if err != nil {
		t.Fatalf("provision: %v", err)
	}
	app, err := ctx.App("http")
	if err != nil {
		t.Fatal(err)
	}
	return app.(*caddyhttp.App)
}

func TestSiteHostsOfCaddyfiles(t *testing.T) {
	for _, c := range []struct {
		name, sites string
		want        []string
	}{
		{"Berth's own HTTPS sites (auto-HTTPS redirects on :80)",
			"*.example.test, example.test {\n\ttls internal\n\tberth\n}\n", nil},
		{"a DNS-01 style wildcard site for an app's wildcard domain beside the on-demand catch-all",
			"*.customer.com {\n\ttls internal\n\tberth\n}\nhttps:// {\n\ttls internal\n\tberth\n}\n", nil},
		{"reverse_proxy with Berth's dynamic upstreams",
			"*.customer.com {\n\ttls internal\n\treverse_proxy {\n\t\tdynamic berth\n\t}\n}\n", nil},
		{"the Caddyfile's own site beside Berth's",
			"api.example.test {\n\ttls internal\n\trespond \"api\"\n}\n*.example.test {\n\ttls internal\n\tberth\n}\n",
			[]string{"api.example.test"}},
		{"a plain-HTTP site of its own beside Berth's catch-all",
			"http://status.example.test {\n\trespond \"ok\"\n}\nhttp:// {\n\tberth\n}\n",
			[]string{"status.example.test"}},
		// Failed before: the auto-HTTPS redirect for api.example.test on
		// :80 was skipped and the http:// catch-all reached.
		{"the shipped Caddyfile's two catch-alls and an operator's HTTPS site",
			"https:// {\n\ttls internal\n\tberth\n}\nhttp:// {\n\tberth\n}\napi.example.test {\n\ttls internal\n\trespond \"api\"\n}\n",
			[]string{"api.example.test"}},
		// Failed before: the catch-all's HTTPS side reached Berth.
		{"a plain-HTTP site of its own beside Berth's HTTPS catch-all",
			"http://status.example.test {\n\trespond \"ok\"\n}\nhttps:// {\n\ttls internal\n\tberth\n}\n",
			[]string{"status.example.test"}},
		{"a site that invokes a named route containing berth",
			"&(apps) {\n\tberth\n}\napi.example.test {\n\ttls internal\n\tinvoke apps\n}\n", nil},
	} {
		t.Run(c.name, func(t *testing.T) {
			got := siteHosts(provisionedHTTPApp(t, c.sites))
			slices.Sort(got)
			if !slices.Equal(got, c.want) {
				t.Errorf("siteHosts = %q, want %q", got, c.want)
			}
		})
	}
}
