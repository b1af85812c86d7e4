package caddymodule

import (
	"fmt"
	"strconv"
	"strings"
)

// parseTCPPorts reads tcp_ports, "LOW-HIGH" (or one port): the host ports
// a deploy key may map with ports:add APP tcp:PORT:... . "" (the
// default) is none: only admin keys map TCP ports, since a deploy key
// could otherwise take a port the host means for something else (a
// database, a second SSH) while it happens to be free.
func parseTCPPorts(s string) (lo, hi int, err error) {
	if s == "" {
		return 0, 0, nil
	}
	a, b, found := strings.Cut(s, "-")
	if !found {
		b = a
	}
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if err1 != nil || err2 != nil || lo < 1024 || hi > 65535 || lo > hi {
		return 0, 0, fmt.Errorf("tcp_ports %q: give a range LOW-HIGH of ports from 1024 to 65535, such as 10000-10999 (ports below 1024 are for admin keys only)", s)
	}
	return lo, hi, nil
}
