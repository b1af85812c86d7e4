package caddymodule

import "testing"

func TestParseTCPPorts(t *testing.T) {
	for _, c := range []struct {
		in     string
		lo, hi int
		ok     bool
	}{
		{"", 0, 0, true}, // none: admin keys only
		{"10000-10999", 10000, 10999, true},
		{"15432", 15432, 15432, true},
		{"80-90", 0, 0, false},      // below 1024: admins only
		{"2000-1500", 0, 0, false},  // reversed
		{"1024-70000", 0, 0, false}, // past 65535
		{"ten-twenty", 0, 0, false}, // not numbers
		{"10000-", 0, 0, false},     // half a range
	} {
		lo, hi, err := parseTCPPorts(c.in)
		if (err == nil) != c.ok || lo != c.lo || hi != c.hi {
			t.Errorf("parseTCPPorts(%q) = %d, %d, %v", c.in, lo, hi, err)
		}
	}
}
