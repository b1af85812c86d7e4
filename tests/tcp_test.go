package tests

import (
	"bufio"
	"fmt"
	"net"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// tcpConns are the connections scripts hold open by name (tcp open).
var tcpConns sync.Map // "script-pointer name" → *tcpConn

type tcpConn struct {
	c net.Conn
	r *bufio.Reader
}

// cmdTCP is a real TCP client for tcp port mappings, on 127.0.0.1:
//
//	tcp ask PORT LINE          a new connection sends LINE and prints the answer line
//	! tcp ask PORT LINE        no answer: refused, or closed without one
//	tcp await PORT LINE REGEXP new connections until the answer matches (30s)
//	tcp spread PORT LINE N     N new connections; prints their answers, sorted, once each
//	tcp open NAME PORT         open a connection kept as NAME
//	tcp send NAME LINE         send LINE on NAME and print the answer line
//	tcp close NAME             close NAME
//	tcp closed PORT            the port refuses connections (within 10s)
func cmdTCP(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || (neg && args[0] != "ask") {
		ts.Fatalf("usage: tcp ask|await|spread|open|send|close|closed ... (only ask negates)")
	}
	key := func(name string) string { return fmt.Sprintf("%p %s", ts, name) }
	addr := func(port string) string { return net.JoinHostPort("127.0.0.1", port) }
	switch args[0] {
	case "ask":
		if len(args) != 3 {
			ts.Fatalf("usage: tcp ask PORT LINE")
		}
		got, err := tcpAsk(addr(args[1]), args[2])
		if neg {
			if err == nil {
				ts.Fatalf("port %s answered %q", args[1], got)
			}
			return
		}
		ts.Check(err)
		fmt.Fprintln(ts.Stdout(), got)
	case "await":
		if len(args) != 4 {
			ts.Fatalf("usage: tcp await PORT LINE REGEXP")
		}
		re, err := regexp.Compile(args[3])
		ts.Check(err)
		start := time.Now()
		var last string
		for time.Since(start) < 30*time.Second {
			got, err := tcpAsk(addr(args[1]), args[2])
			if err == nil && re.MatchString(got) {
				ts.Logf("port %s answered %q after %s", args[1], got, time.Since(start).Round(time.Millisecond))
				fmt.Fprintln(ts.Stdout(), got)
				return
			}
			last = fmt.Sprintf("%q, %v", got, err)
			time.Sleep(50 * time.Millisecond)
		}
		ts.Fatalf("port %s did not answer matching %q within 30s; last: %s", args[1], args[3], last)
	case "spread":
		if len(args) != 4 {
			ts.Fatalf("usage: tcp spread PORT LINE N")
		}
		var n int
		fmt.Sscan(args[3], &n)
		var seen []string
		for range n {
			got, err := tcpAsk(addr(args[1]), args[2])
			ts.Check(err)
			if !slices.Contains(seen, got) {
				seen = append(seen, got)
			}
		}
		slices.Sort(seen)
		fmt.Fprintln(ts.Stdout(), strings.Join(seen, "\n"))
	case "open":
		if len(args) != 3 {
			ts.Fatalf("usage: tcp open NAME PORT")
		}
		c, err := net.DialTimeout("tcp", addr(args[2]), 5*time.Second)
		ts.Check(err)
		tcpConns.Store(key(args[1]), &tcpConn{c: c, r: bufio.NewReader(c)})
		ts.Defer(func() { c.Close(); tcpConns.Delete(key(args[1])) })
	case "send":
		if len(args) != 3 {
			ts.Fatalf("usage: tcp send NAME LINE")
		}
		v, ok := tcpConns.Load(key(args[1]))
		if !ok {
			ts.Fatalf("no connection %s: tcp open it first", args[1])
		}
		tc := v.(*tcpConn)
		tc.c.SetDeadline(time.Now().Add(10 * time.Second))
		_, err := fmt.Fprintln(tc.c, args[2])
		ts.Check(err)
		line, err := tc.r.ReadString('\n')
		if err != nil {
			ts.Fatalf("connection %s: no answer to %q: %v", args[1], args[2], err)
		}
		fmt.Fprintln(ts.Stdout(), strings.TrimSpace(line))
	case "close":
		if v, ok := tcpConns.LoadAndDelete(key(args[1])); ok {
			v.(*tcpConn).c.Close()
		}
	case "closed":
		deadline := time.Now().Add(10 * time.Second)
		for {
			c, err := net.DialTimeout("tcp", addr(args[1]), time.Second)
			if err != nil {
				return
			}
			c.Close()
			if time.Now().After(deadline) {
				ts.Fatalf("port %s still accepts connections", args[1])
			}
			time.Sleep(50 * time.Millisecond)
		}
	default:
		ts.Fatalf("tcp: unknown subcommand %q", args[0])
	}
}

// tcpAsk sends line on a new connection and returns the answer line.
func tcpAsk(addr, line string) (string, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	got, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return "", fmt.Errorf("no answer: %w", err)
	}
	return strings.TrimSpace(got), nil
}
