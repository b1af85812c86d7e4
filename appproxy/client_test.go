package appproxy

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// countConns counts the connections s accepts.
func countConns(s *httptest.Server) *atomic.Int32 {
	var n atomic.Int32
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			n.Add(1)
		}
	}
	return &n
}

func clientProxy(t *testing.T, target string, cfg ClientConfig) (*Proxy, *Client) {
	t.Helper()
	c := NewClient(cfg)
	t.Cleanup(c.CloseIdle)
	return New(Config{Client: c, Targets: func(*http.Request) []string { return []string{target} }}), c
}

// Sequential requests share one keep-alive connection to the app.
func TestClientReusesIdleConnection(t *testing.T) {
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	conns := countConns(app)
	app.Start()
	defer app.Close()
	p, _ := clientProxy(t, addr(app), ClientConfig{})
	for i := range 20 {
		resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: %v %v", i, resp.StatusCode, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections for 20 sequential requests, want 1", n)
	}
}

// An idle connection the app closed is not used: a GET and a POST with
// a body both reach the app on a new one.
func TestClientSkipsIdleConnectionTheAppClosed(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	app.Config.IdleTimeout = 50 * time.Millisecond // Node's keepAliveTimeout, shorter
	app.Start()
	defer app.Close()
	p, _ := clientProxy(t, addr(app), ClientConfig{})
	for i, m := range []string{"GET", "POST", "GET", "POST"} {
		var body io.Reader
		if m == "POST" {
			body = strings.NewReader("payload")
		}
		resp, err := serve(p, httptest.NewRequest(m, "http://web.test/", body))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d (%s): status %d, error %v", i, m, resp.StatusCode, err)
		}
		time.Sleep(150 * time.Millisecond) // the app closes the idle connection
	}
	if len(bodies) != 4 || bodies[1] != "payload" || bodies[3] != "payload" {
		t.Errorf("the app got %q", bodies)
	}
}

// staleApp answers the first request on each connection and then
// closes the connection when the next request arrives without answering
// it: the app closing an idle connection at the instant a request is
// sent on it (too late for the idle check).
func staleApp(t *testing.T, requests *atomic.Int32) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil {
					return
				}
				io.Copy(io.Discard, req.Body)
				requests.Add(1)
				io.WriteString(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
				// The next request is read, then dropped unanswered.
				if _, err := http.ReadRequest(br); err == nil {
					requests.Add(1)
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// A GET that fails on a reused connection before any byte of the
// response is sent again on a new one; a POST is not (the app may have
// acted on it), as Go's transport decides.
func TestClientRetriesOnlyIdempotentRequestsOnAStaleConnection(t *testing.T) {
	var requests atomic.Int32
	target := staleApp(t, &requests)
	p, _ := clientProxy(t, target, ClientConfig{})
	for i := range 3 {
		resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %d: status %d, error %v", i, resp.StatusCode, err)
		}
	}
	// The idle connection is the one the app will drop.
	before := requests.Load()
	_, err := serve(p, httptest.NewRequest("POST", "http://web.test/", strings.NewReader("x")))
	if err == nil || status(t, err) != http.StatusBadGateway {
		t.Fatalf("POST on a dropped connection: error %v, want a 502", err)
	}
	if got := requests.Load() - before; got != 1 {
		t.Errorf("the app read the POST %d times, want 1 (no retry)", got)
	}
}

// Request bodies reach the app whole, sized and chunked; a response the
// app sends before reading a big body reaches the client.
func TestClientRequestBodies(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/early" {
			w.Header().Set("Connection", "close")
			w.WriteHeader(http.StatusRequestEntityTooLarge)
			return
		}
		b, _ := io.ReadAll(r.Body)
		fmt.Fprintf(w, "%d %v %d", r.ContentLength, r.TransferEncoding, len(b))
	}))
	defer app.Close()
	p, _ := clientProxy(t, addr(app), ClientConfig{})
	big := strings.Repeat("x", 1<<20)

	resp, err := serve(p, httptest.NewRequest("POST", "http://web.test/", strings.NewReader(big)))
	if b, _ := io.ReadAll(resp.Body); err != nil || string(b) != "1048576 [] 1048576" {
		t.Errorf("sized body: %q, %v", b, err)
	}
	r := httptest.NewRequest("POST", "http://web.test/", io.MultiReader(strings.NewReader(big)))
	r.ContentLength = -1
	resp, err = serve(p, r)
	if b, _ := io.ReadAll(resp.Body); err != nil || string(b) != "-1 [chunked] 1048576" {
		t.Errorf("chunked body: %q, %v", b, err)
	}
	resp, err = serve(p, httptest.NewRequest("POST", "http://web.test/early", strings.NewReader(strings.Repeat("y", 8<<20))))
	if err != nil || resp.StatusCode != http.StatusRequestEntityTooLarge {
		t.Errorf("early answer: status %d, error %v", resp.StatusCode, err)
	}
}

// Informational responses reach the client before the final one, and
// the connection is reused after them.
func TestClientForwards1xx(t *testing.T) {
	app := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		io.WriteString(w, "ok")
	}))
	conns := countConns(app)
	app.Start()
	defer app.Close()
	p, _ := clientProxy(t, addr(app), ClientConfig{})
	for range 2 {
		w := &record1xx{ResponseRecorder: httptest.NewRecorder()}
		if err := p.ServeHTTP(w, httptest.NewRequest("GET", "http://web.test/", nil)); err != nil {
			t.Fatal(err)
		}
		if len(w.codes) != 2 || w.codes[0] != 103 || w.codes[1] != 200 || w.links[0] != "</style.css>; rel=preload" {
			t.Errorf("statuses %v, Link %q", w.codes, w.links)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
}

type record1xx struct {
	*httptest.ResponseRecorder
	codes []int
	links []string
}

func (w *record1xx) WriteHeader(code int) {
	w.codes = append(w.codes, code)
	w.links = append(w.links, w.Header().Get("Link"))
	if code >= 200 {
		w.ResponseRecorder.WriteHeader(code)
	}
}

// No more than MaxIdlePerTarget connections stay idle; a response the
// client did not read to its end does not return its connection.
func TestClientIdleLimitAndUnreadBodies(t *testing.T) {
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		io.WriteString(w, "ok")
	}))
	defer app.Close()
	c := NewClient(ClientConfig{MaxIdlePerTarget: 2})
	defer c.CloseIdle()
	var wg sync.WaitGroup
	for range 5 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req := httptest.NewRequest("GET", "http://web.test/slow", nil)
			res, err := c.RoundTrip(req, addr(app), nil)
			if err != nil {
				t.Error(err)
				return
			}
			io.Copy(io.Discard, res.Body)
			res.Body.Close()
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	if n := len(c.idle[addr(app)]); n != 2 {
		t.Errorf("%d idle connections, want 2", n)
	}
	req := httptest.NewRequest("GET", "http://web.test/", nil)
	res, err := c.RoundTrip(req, addr(app), nil)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close() // unread
	if n := len(c.idle[addr(app)]); n != 1 {
		t.Errorf("%d idle connections after an unread body, want 1 (it was closed)", n)
	}
}

// A connection idle past the idle timeout is closed by the sweep.
func TestClientClosesConnectionsIdleTooLong(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") }))
	defer app.Close()
	c := NewClient(ClientConfig{IdleTimeout: 50 * time.Millisecond})
	defer c.CloseIdle()
	res, err := c.RoundTrip(httptest.NewRequest("GET", "http://web.test/", nil), addr(app), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c.mu.Lock()
		n := c.nIdle
		c.mu.Unlock()
		if n == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections still idle after the idle timeout", n)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// An app that does not begin its answer within the response-header
// timeout gets a timeout (a 504), and the request is not sent again on
// a new connection even though its connection was a reused one.
func TestClientHeaderTimeoutIsNotRetried(t *testing.T) {
	var slow atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			slow.Add(1)
			time.Sleep(300 * time.Millisecond)
		}
		io.WriteString(w, "ok")
	}))
	defer app.Close()
	c := NewClient(ClientConfig{ResponseHeaderTimeout: 50 * time.Millisecond})
	defer c.CloseIdle()
	res, err := c.RoundTrip(httptest.NewRequest("GET", "http://web.test/", nil), addr(app), nil)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, res.Body)
	res.Body.Close()
	_, err = c.RoundTrip(httptest.NewRequest("GET", "http://web.test/slow", nil), addr(app), nil)
	var ne net.Error
	if !errors.As(err, &ne) || !ne.Timeout() {
		t.Fatalf("error %v, want a timeout", err)
	}
	if n := slow.Load(); n != 1 {
		t.Errorf("the app got the request %d times, want 1", n)
	}
}

// A client body that breaks halfway (here a malformed chunk) leaves the
// app waiting for the rest of it: the round trip must end at once with
// an error (the client gets a 502), not wait in the response's read
// with no deadline armed.
func TestClientBodyThatBreaksHalfwayEndsTheRoundTrip(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.ReadAll(r.Body)
		io.WriteString(w, "ok")
	}))
	defer app.Close()
	p, _ := clientProxy(t, addr(app), ClientConfig{ResponseHeaderTimeout: 60 * time.Second})
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.ServeHTTP(w, r); err != nil {
			w.WriteHeader(http.StatusBadGateway)
		}
	}))
	defer front.Close()
	nc, err := net.Dial("tcp", front.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	io.WriteString(nc, "POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nZZ\r\n")
	nc.SetReadDeadline(time.Now().Add(5 * time.Second))
	line, err := bufio.NewReader(nc).ReadString('\n')
	if err != nil {
		t.Fatalf("no response within 5 s to a request whose body broke halfway: %v", err)
	}
	if !strings.Contains(line, "502") {
		t.Errorf("response %q, want a 502", line)
	}
}
