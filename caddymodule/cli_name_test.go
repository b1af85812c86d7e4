package caddymodule

import "testing"

// The binary linked as dokku is caddy berth; by any other name, caddy.
func TestDokkuName(t *testing.T) {
	for name, want := range map[string]bool{
		"dokku": true, "/usr/local/bin/dokku": true, "./dokku": true,
		"caddy": false, "/usr/bin/caddy": false, "dokku-caddy": false,
	} {
		if got := dokkuName([]string{name, "apps:list"}); got != want {
			t.Errorf("%s: %t, want %t", name, got, want)
		}
	}
	if dokkuName(nil) {
		t.Error("no arguments: dokku")
	}
}
