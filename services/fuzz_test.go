package services

import (
	"strings"
	"testing"
)

// FuzzServiceArgs: a service name that passes is a DNS label Berth can
// put in a container name; an expose address is a real IP and port, on
// the loopback when no IP is given, and reads back from its own string.
func FuzzServiceArgs(f *testing.F) {
	for _, s := range []string{"db", "my-db-2", "-x", "a_b", strings.Repeat("a", 49), "5432", "0.0.0.0:5432", "[::1]:5432", "[fe80::1%eth0]:1", "65536", ":80", "x:1"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if ValidateName(s) == nil {
			if len(s) > 48 || strings.HasPrefix(s, "-") || strings.HasSuffix(s, "-") || strings.ContainsAny(s, "./_ \n:") || strings.ToLower(s) != s {
				t.Fatalf("service name %q accepted", s)
			}
		}
		ap, err := parseExpose(s)
		if err != nil {
			return
		}
		if s == "" {
			return
		}
		if !ap.IsValid() || ap.Port() == 0 || ap.Addr().Zone() != "" {
			t.Fatalf("parseExpose(%q) = %v", s, ap)
		}
		if !strings.Contains(s, ":") && ap.Addr().String() != "127.0.0.1" {
			t.Fatalf("parseExpose(%q) = %v: a bare port must stay on the loopback", s, ap)
		}
		if again, err := parseExpose(ap.String()); err != nil || again != ap {
			t.Fatalf("parseExpose(%q) = %v reads back as %v, %v", s, ap, again, err)
		}
	})
}
