package routing

import (
	"fmt"
	"strings"
	"testing"
)

// BenchmarkMatchHugeName: a 60 KB server name (Go passes one that long to
// GetCertificate) against 20 wildcards. Refused before any lookup; it
// used to hash every suffix (quadratic: ~20 ms).
func BenchmarkMatchHugeName(b *testing.B) {
	tbl := New()
	for i := range 20 {
		tbl.SetHosts(fmt.Sprintf("w%d", i), []string{fmt.Sprintf("*.d%d.example.org", i)})
	}
	name := strings.Repeat("a.", 30*1024) + "example.org"
	for b.Loop() {
		if _, ok := tbl.Match(name); ok {
			b.Fatal("matched")
		}
	}
}
