//go:build linux

package appproxy

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// unackedTimeoutOf reads c's one idle connection's TCP_USER_TIMEOUT in
// milliseconds.
func unackedTimeoutOf(t *testing.T, c *Client, target string) int {
	t.Helper()
	return sockoptOf(t, c, target, unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT)
}

// sockoptOf reads an integer socket option of c's one idle connection.
func sockoptOf(t *testing.T, c *Client, target string, level, opt int) int {
	t.Helper()
	c.mu.Lock()
	cs := c.idle[target]
	c.mu.Unlock()
	if len(cs) != 1 {
		t.Fatalf("%d idle connections, want 1", len(cs))
	}
	return connSockopt(t, cs[0].nc, level, opt)
}

// connSockopt reads an integer socket option of nc.
func connSockopt(t *testing.T, nc net.Conn, level, opt int) int {
	t.Helper()
	rc, err := nc.(syscall.Conn).SyscallConn()
	if err != nil {
		t.Fatal(err)
	}
	var v int
	var gerr error
	rc.Control(func(fd uintptr) { v, gerr = unix.GetsockoptInt(int(fd), level, opt) })
	if gerr != nil {
		t.Fatal(gerr)
	}
	return v
}

// A connection to an app has the unacked timeout (what ends a request
// on a kept-alive connection to a vanished host) and keepalive probes,
// but not while it carries a request body, which a slow reader may keep
// unacknowledged longer; idle again, it has the timeout back.
func TestClientBoundsUnacknowledgedDataButNotABody(t *testing.T) {
	h := newBodyHolder(t)
	p, c, app := h.p, h.c, h.target
	want := int(DefaultUnackedTimeout.Milliseconds())
	if _, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil)); err != nil {
		t.Fatal(err)
	}
	if ms := unackedTimeoutOf(t, c, app); ms != want {
		t.Fatalf("TCP_USER_TIMEOUT %d ms after a GET, want %d", ms, want)
	}
	// Probed after keepAliveIdle without a byte from the app, every
	// second: a request in flight when the host vanished ends too.
	for opt, want := range map[[2]int]int{
		{unix.SOL_SOCKET, unix.SO_KEEPALIVE}:   1,
		{unix.IPPROTO_TCP, unix.TCP_KEEPIDLE}:  int(keepAliveIdle / time.Second),
		{unix.IPPROTO_TCP, unix.TCP_KEEPINTVL}: 1,
	} {
		if got := sockoptOf(t, c, app, opt[0], opt[1]); got != want {
			t.Errorf("socket option %v is %d, want %d", opt, got, want)
		}
	}
	done := make(chan error, 1)
	go func() {
		// Of no known length (chunked): the kernel's bound while it is
		// carried.
		_, err := serve(p, httptest.NewRequest("POST", "http://web.test/", io.MultiReader(strings.NewReader("body"))))
		done <- err
	}()
	<-h.inBody
	if len(h.conns) != 1 {
		t.Fatalf("%d connections dialed, want 1 (the GET's, reused)", len(h.conns))
	}
	if ms := connSockopt(t, h.conns[0], unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); ms != 0 {
		t.Errorf("TCP_USER_TIMEOUT %d ms while a body is carried, want the kernel's (0)", ms)
	}
	close(h.release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	if ms := unackedTimeoutOf(t, c, app); ms != want {
		t.Fatalf("TCP_USER_TIMEOUT %d ms once idle after the body, want %d", ms, want)
	}
}

// Negative: the kernel's own bound from the start.
func TestClientUnackedTimeoutOff(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer app.Close()
	p, c := clientProxy(t, addr(app), ClientConfig{UnackedTimeout: -1})
	if _, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil)); err != nil {
		t.Fatal(err)
	}
	if ms := unackedTimeoutOf(t, c, addr(app)); ms != 0 {
		t.Fatalf("TCP_USER_TIMEOUT %d ms, want 0", ms)
	}
}

// While a body is carried, by its length: one of known length up to
// smallBody on a connection that served a request before keeps the
// timeout (the app's kernel acknowledges it whether or not the app reads
// it), a larger one, one of no known length, or any on a new connection
// (which may wait in the app's accept queue, unacknowledged) has the
// kernel's bound.
func TestClientUnackedTimeoutWhileABodyIsCarried(t *testing.T) {
	want := int(DefaultUnackedTimeout.Milliseconds())
	for _, tc := range []struct {
		name   string
		body   func() io.Reader
		reused bool
		want   int
	}{
		{"small, known length", func() io.Reader { return strings.NewReader("name=berth") }, true, want},
		{"at smallBody", func() io.Reader { return strings.NewReader(strings.Repeat("x", smallBody)) }, true, want},
		{"over smallBody", func() io.Reader { return strings.NewReader(strings.Repeat("x", smallBody+1)) }, true, 0},
		{"no known length", func() io.Reader { return io.MultiReader(strings.NewReader("name=berth")) }, true, 0},
		{"small, on a new connection", func() io.Reader { return strings.NewReader("name=berth") }, false, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			h := newBodyHolder(t)
			if tc.reused {
				if _, err := serve(h.p, httptest.NewRequest("GET", "http://web.test/", nil)); err != nil {
					t.Fatal(err)
				}
			}
			done := make(chan error, 1)
			go func() {
				_, err := serve(h.p, httptest.NewRequest("POST", "http://web.test/", tc.body()))
				done <- err
			}()
			<-h.inBody
			if len(h.conns) != 1 {
				t.Fatalf("%d connections dialed, want 1", len(h.conns))
			}
			if ms := connSockopt(t, h.conns[0], unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT); ms != tc.want {
				t.Errorf("TCP_USER_TIMEOUT %d ms while the body is carried, want %d", ms, tc.want)
			}
			close(h.release)
			if err := <-done; err != nil {
				t.Fatal(err)
			}
		})
	}
}

// bodyHolder is an app that holds each POST, its body read, until
// release is closed, so that a test reads a connection's options while
// it carries a body; and a proxy to it that keeps the connections it
// dials.
type bodyHolder struct {
	p       *Proxy
	c       *Client
	target  string
	conns   []net.Conn
	inBody  chan struct{}
	release chan struct{}
}

func newBodyHolder(t *testing.T) *bodyHolder {
	t.Helper()
	h := &bodyHolder{inBody: make(chan struct{}), release: make(chan struct{})}
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.Method == "POST" {
			h.inBody <- struct{}{}
			<-h.release
		}
	}))
	t.Cleanup(app.Close)
	h.target = addr(app)
	dialer := &net.Dialer{}
	h.p, h.c = clientProxy(t, h.target, ClientConfig{Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
		nc, err := dialer.DialContext(ctx, network, a)
		if err == nil {
			h.conns = append(h.conns, nc)
		}
		return nc, err
	}})
	// A test that failed with a POST held lets it go, or app.Close
	// would wait for it.
	t.Cleanup(func() {
		select {
		case <-h.release:
		default:
			close(h.release)
		}
	})
	return h
}
