package berthtest

import (
	"fmt"
	"net"
	"testing"
)

func TestPortsNeverHandsOutAPortTwice(t *testing.T) {
	var ps Ports
	seen := map[int]bool{}
	for i := 0; i < 20; i++ {
		var a, b int
		if err := ps.Take(&a, &b); err != nil {
			t.Fatal(err)
		}
		for _, p := range []int{a, b} {
			if p <= 0 || seen[p] {
				t.Fatalf("port %d handed out twice (or invalid)", p)
			}
			seen[p] = true
		}
	}
	// The ports are free: each can be listened on.
	var a int
	if err := ps.Take(&a); err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", fmt.Sprintf("127.0.0.1:%d", a))
	if err != nil {
		t.Fatalf("port %d was not free: %v", a, err)
	}
	ln.Close()
}

func TestPortsKeepsAPortTheCallerSet(t *testing.T) {
	var ps Ports
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	held := ln.Addr().(*net.TCPAddr).Port
	ln.Close() // free again: the kernel may hand it out next
	fixed, other := held, 0
	if err := ps.Take(&fixed, &other); err != nil {
		t.Fatal(err)
	}
	if fixed != held || other == held || other == 0 {
		t.Errorf("fixed %d (want %d), other %d", fixed, held, other)
	}
	for i := 0; i < 20; i++ {
		var p int
		if err := ps.Take(&p); err != nil {
			t.Fatal(err)
		}
		if p == held {
			t.Fatalf("handed out %d, which the caller had set", held)
		}
	}
}
