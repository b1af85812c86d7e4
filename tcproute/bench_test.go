package tcproute

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"strconv"
	"testing"
)

// BenchmarkConnectThroughRouter is a new connection and one echoed line
// through a mapping; BenchmarkConnectDirect the same to the backend, for
// the router's cost.
func BenchmarkConnectThroughRouter(b *testing.B) {
	e := newEnv(b)
	ctr := echoB(b)
	e.table.SetTargets("db", []string{"127.0.0.1:1"})
	host := freePortB(b)
	e.mapApp(b, "db", host, ctr)
	benchConnect(b, host)
}

func BenchmarkConnectDirect(b *testing.B) {
	benchConnect(b, echoB(b))
}

// BenchmarkThroughput copies 1 MiB per op through a mapping.
func BenchmarkThroughput(b *testing.B) {
	e := newEnv(b)
	sink, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer sink.Close()
	go func() {
		for {
			c, err := sink.Accept()
			if err != nil {
				return
			}
			go func() { io.Copy(io.Discard, c); c.Close() }()
		}
	}()
	e.table.SetTargets("db", []string{"127.0.0.1:1"})
	host := freePortB(b)
	e.mapApp(b, "db", host, sink.Addr().(*net.TCPAddr).Port)
	c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
	if err != nil {
		b.Fatal(err)
	}
	defer c.Close()
	buf := make([]byte, 1<<20)
	b.SetBytes(int64(len(buf)))
	b.ResetTimer()
	for range b.N {
		if _, err := c.Write(buf); err != nil {
			b.Fatal(err)
		}
	}
}

func benchConnect(b *testing.B, port int) {
	addr := "127.0.0.1:" + strconv.Itoa(port)
	b.ResetTimer()
	for range b.N {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			b.Fatal(err)
		}
		fmt.Fprintln(c, "x")
		if _, err := bufio.NewReader(c).ReadString('\n'); err != nil {
			b.Fatal(err)
		}
		c.Close()
	}
}

func echoB(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "%s\n", s.Text())
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

func freePortB(b *testing.B) int {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}
