package caddymodule

import (
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/caddyauth"
	"github.com/caddyserver/caddy/v2/modules/caddytls"
)

func berthRoute(hosts ...string) caddyhttp.Route {
	r := caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{&Handler{}}}
	if len(hosts) > 0 {
		m := caddyhttp.MatchHost(hosts)
		r.MatcherSets = caddyhttp.MatcherSets{{&m}}
	}
	return r
}

func TestURLsFromHTTPApp(t *testing.T) {
	tlsOn := caddytls.ConnectionPolicies{&caddytls.ConnectionPolicy{}}
	other := caddyhttp.Route{Handlers: []caddyhttp.MiddlewareHandler{&caddyauth.Authentication{}}}
	for _, c := range []struct {
		name    string
		servers map[string]*caddyhttp.Server
		want    map[string]string // host: URL, "" for none
	}{
		{"the trial HTTP site only", map[string]*caddyhttp.Server{
			"srv0": {Listen: []string{"127.0.0.1:8080"}, Routes: caddyhttp.RouteList{berthRoute()}},
		}, map[string]string{"blog.example.test": "http://blog.example.test:8080"}},
		{"HTTPS on 443 wins over the trial site", map[string]*caddyhttp.Server{
			"srv0": {Listen: []string{":443"}, TLSConnPolicies: tlsOn, Routes: caddyhttp.RouteList{berthRoute()}},
			"srv1": {Listen: []string{":8080"}, Routes: caddyhttp.RouteList{berthRoute()}},
		}, map[string]string{"blog.example.test": "https://blog.example.test"}},
		{"HTTPS on another port, in a subroute", map[string]*caddyhttp.Server{
			"srv0": {Listen: []string{":8443"}, TLSConnPolicies: tlsOn, Routes: caddyhttp.RouteList{{Handlers: []caddyhttp.MiddlewareHandler{
				&caddyhttp.Subroute{Routes: caddyhttp.RouteList{berthRoute()}}}}}},
		}, map[string]string{"blog.example.test": "https://blog.example.test:8443"}},
		{"an HTTPS site for some hosts only", map[string]*caddyhttp.Server{
			"srv0": {Listen: []string{":443"}, TLSConnPolicies: tlsOn, Routes: caddyhttp.RouteList{berthRoute("*.example.test")}},
			"srv1": {Listen: []string{":80"}, Routes: caddyhttp.RouteList{berthRoute()}},
		}, map[string]string{"blog.example.test": "https://blog.example.test", "www.blog.org": "http://www.blog.org"}},
		{"a server that does not run Berth", map[string]*caddyhttp.Server{
			"srv0": {Listen: []string{":443"}, TLSConnPolicies: tlsOn, Routes: caddyhttp.RouteList{other}},
			"srv1": {Listen: []string{":9000"}, Routes: caddyhttp.RouteList{berthRoute("blog.example.test")}},
		}, map[string]string{"blog.example.test": "http://blog.example.test:9000", "www.blog.org": ""}},
	} {
		t.Run(c.name, func(t *testing.T) {
			f := urlsFromHTTPApp(&caddyhttp.App{Servers: c.servers})
			if f == nil {
				t.Fatal("no URL function")
			}
			for host, want := range c.want {
				got, ok := f(host)
				if ok != (want != "") || got != want {
					t.Errorf("%s: got %q, %v; want %q", host, got, ok, want)
				}
			}
		})
	}
	if f := urlsFromHTTPApp(&caddyhttp.App{Servers: map[string]*caddyhttp.Server{"srv0": {Listen: []string{":443"}, Routes: caddyhttp.RouteList{other}}}}); f != nil {
		t.Error("an http app that never reaches Berth gives a URL function; the platform's fallback should apply")
	}
}

func TestSiteHostsAreTheSitesThatDoNotReachBerth(t *testing.T) {
	api := caddyhttp.MatchHost{"api.example.test", "*.internal.example.test"}
	own := caddyhttp.Route{Terminal: true, MatcherSets: caddyhttp.MatcherSets{{&api}}, Handlers: []caddyhttp.MiddlewareHandler{&caddyauth.Authentication{}}}
	app := &caddyhttp.App{Servers: map[string]*caddyhttp.Server{
		"srv0": {Listen: []string{":443"}, Routes: caddyhttp.RouteList{own, berthRoute("*.example.test"), berthRoute()}},
	}}
	got := siteHosts(app)
	if len(got) != 2 || got[0] != "api.example.test" || got[1] != "*.internal.example.test" {
		t.Fatalf("siteHosts = %q, want the non-Berth site's hosts only", got)
	}
}
