package appproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// caddyTransport is the transport the berth handler gives the proxy:
// Caddy's, whose dialer returns reverseproxy.DialError.
func caddyTransport(t *testing.T, headerTimeout time.Duration) *http.Transport {
	t.Helper()
	ctx, cancel := caddy.NewContext(caddy.Context{Context: context.Background()})
	t.Cleanup(cancel)
	ht := &reverseproxy.HTTPTransport{ResponseHeaderTimeout: caddy.Duration(headerTimeout)}
	if err := ht.Provision(ctx); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(ht.Transport.CloseIdleConnections)
	return ht.Transport
}

func addr(s *httptest.Server) string { return strings.TrimPrefix(s.URL, "http://") }

// refused is an address nothing listens on.
func refused(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	a := ln.Addr().String()
	ln.Close()
	return a
}

func newProxy(t *testing.T, targets func() []string, mod func(*Config)) *Proxy {
	cfg := Config{
		Transport:   caddyTransport(t, 0),
		Targets:     func(*http.Request) []string { return targets() },
		TryDuration: 2 * time.Second,
		TryInterval: 10 * time.Millisecond,
	}
	if mod != nil {
		mod(&cfg)
	}
	// The berth handler's setup: appproxy's own client with the
	// transport's settings (the transport alone with goTransport).
	if tr, ok := cfg.Transport.(*http.Transport); ok && cfg.Client == nil && !goTransport {
		cfg.Client = ClientFromTransport(tr)
		t.Cleanup(cfg.Client.CloseIdle)
	}
	return New(cfg)
}

// goTransport runs the tests through Go's transport instead of
// appproxy's client (APPPROXY_GO_TRANSPORT=1 go test): the path bench/
// compares the client with.
var goTransport = os.Getenv("APPPROXY_GO_TRANSPORT") != ""

// serve runs r through p as the berth handler does and returns the
// response and the error p returned.
func serve(p *Proxy, r *http.Request) (*http.Response, error) {
	rec := httptest.NewRecorder()
	err := p.ServeHTTP(rec, r)
	return rec.Result(), err
}

func status(t *testing.T, err error) int {
	t.Helper()
	var he caddyhttp.HandlerError
	if !errors.As(err, &he) {
		t.Fatalf("error %v (%T) is not a HandlerError", err, err)
	}
	return he.StatusCode
}

// The app sees the Host the client sent, X-Forwarded-* with the client's
// address, Via, and none of the client's hop-by-hop headers.
func TestRequestHeadersAsCaddySendsThem(t *testing.T) {
	var got *http.Request
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r }))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)

	r := httptest.NewRequest("GET", "http://web.example.test/path?q=1", nil)
	r.RemoteAddr = "192.0.2.7:4321"
	r.Header.Set("Connection", "keep-alive, X-Secret")
	r.Header.Set("X-Secret", "hop")
	r.Header.Set("Keep-Alive", "timeout=5")
	r.Header.Set("Proxy-Authorization", "Basic eA==")
	r.Header.Set("Te", "trailers, deflate")
	r.Header.Set("X-Forwarded-For", "203.0.113.9") // a client's claim: not trusted
	r.Header.Set("X-Forwarded-Host", "evil.test")
	r.Header.Set("X-Forwarded-Proto", "https")
	r.Header.Set("X-App", "kept")
	resp, err := serve(p, r)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, error %v", resp.StatusCode, err)
	}
	want := map[string]string{
		"X-Forwarded-For":   "192.0.2.7",
		"X-Forwarded-Host":  "web.example.test",
		"X-Forwarded-Proto": "http",
		"Via":               "1.1 Caddy",
		"Te":                "trailers",
		"X-App":             "kept",
	}
	for k, v := range want {
		if g := got.Header.Values(k); len(g) != 1 || g[0] != v {
			t.Errorf("%s: %q, want %q", k, g, v)
		}
	}
	// User-Agent: none from the client, none from Go's transport.
	for _, k := range []string{"X-Secret", "Keep-Alive", "Proxy-Authorization", "User-Agent"} {
		if v, ok := got.Header[k]; ok {
			t.Errorf("%s reached the app: %q", k, v)
		}
	}
	if got.Host != "web.example.test" || got.URL.RequestURI() != "/path?q=1" {
		t.Errorf("app got Host %q URI %q", got.Host, got.URL.RequestURI())
	}
	// The client's request is left as it came (the access log's).
	if r.Header.Get("X-Secret") != "hop" || r.Header.Get("X-Forwarded-For") != "203.0.113.9" || r.Header.Get("Via") != "" {
		t.Errorf("the client's request was changed: %v", r.Header)
	}
}

// Behind a proxy the server trusts (trusted_proxies), the client's
// X-Forwarded-* are kept and For is appended to.
func TestTrustedProxyKeepsForwardedHeaders(t *testing.T) {
	var got http.Header
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { got = r.Header }))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)

	r := httptest.NewRequest("GET", "http://web.example.test/", nil)
	r.RemoteAddr = "10.0.0.2:1234"
	r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, map[string]any{caddyhttp.TrustedProxyVarKey: true}))
	r.Header.Set("X-Forwarded-For", "203.0.113.9")
	r.Header.Set("X-Forwarded-Host", "front.test")
	r.Header.Set("X-Forwarded-Proto", "https")
	if _, err := serve(p, r); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{"X-Forwarded-For": "203.0.113.9, 10.0.0.2", "X-Forwarded-Host": "front.test", "X-Forwarded-Proto": "https"} {
		if g := got.Get(k); g != v {
			t.Errorf("%s: %q, want %q", k, g, v)
		}
	}
}

// The client gets the app's status, headers and body, with Via, the
// app's own Server header, and none of the app's hop-by-hop headers.
func TestResponseAsCaddySendsIt(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Server", "app/1")
		w.Header().Set("Connection", "X-Private")
		w.Header().Set("X-Private", "hop")
		w.Header().Set("Alt-Svc", `h3=":443"`)
		w.Header().Set("X-App", "yes")
		w.WriteHeader(201)
		io.WriteString(w, "made")
	}))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)
	rec := httptest.NewRecorder()
	rec.Header().Set("Server", "Caddy") // as Caddy's server sets it
	if err := p.ServeHTTP(rec, httptest.NewRequest("GET", "http://web.test/", nil)); err != nil {
		t.Fatal(err)
	}
	resp := rec.Result()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 201 || string(body) != "made" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	if v := resp.Header.Values("Server"); len(v) != 1 || v[0] != "app/1" {
		t.Errorf("Server %q", v)
	}
	if resp.Header.Get("Via") != "1.1 Caddy" || resp.Header.Get("X-App") != "yes" {
		t.Errorf("headers %v", resp.Header)
	}
	for _, k := range []string{"X-Private", "Alt-Svc", "Connection"} {
		if v, ok := resp.Header[k]; ok {
			t.Errorf("hop-by-hop %s reached the client: %q", k, v)
		}
	}
}

// A target that refuses the connection is given up for another, with
// the request's body intact.
func TestDialFailureRetriesAnotherTargetWithTheBody(t *testing.T) {
	var bodies []string
	var mu sync.Mutex
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		bodies = append(bodies, string(b))
		mu.Unlock()
	}))
	defer app.Close()
	dead := refused(t)
	// The dead target first in the list and chosen often: every request
	// must still reach the live one, with its whole body.
	p := newProxy(t, func() []string { return []string{dead, addr(app)} }, func(c *Config) { c.TryInterval = time.Hour })
	for i := 0; i < 20; i++ {
		resp, err := serve(p, httptest.NewRequest("POST", "http://web.test/", strings.NewReader("payload")))
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("request %d: status %d, error %v", i, resp.StatusCode, err)
		}
	}
	for _, b := range bodies {
		if b != "payload" {
			t.Fatalf("the app got body %q", b)
		}
	}
	if len(bodies) != 20 {
		t.Fatalf("the app got %d requests, want 20", len(bodies))
	}
}

// Each failed attempt is told to AttemptFailed with its target and its
// error; the attempt that served the request is not.
func TestAttemptFailedHearsOfTheRefusedDial(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer app.Close()
	dead := refused(t)
	type failure struct {
		target string
		err    error
	}
	var failures []failure
	// The dead target alone at first, the live one beside it after the
	// first attempt: the request meets exactly one refused dial.
	var tried atomic.Bool
	p := newProxy(t, func() []string {
		if !tried.Load() {
			return []string{dead}
		}
		return []string{dead, addr(app)}
	}, func(c *Config) {
		c.AttemptFailed = func(_ *http.Request, target string, err error, took time.Duration) {
			tried.Store(true)
			if took <= 0 {
				t.Errorf("attempt on %s took %s", target, took)
			}
			failures = append(failures, failure{target, err})
		}
	})
	resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, error %v", resp.StatusCode, err)
	}
	if len(failures) != 1 || failures[0].target != dead {
		t.Fatalf("failed attempts %v, want one on %s", failures, dead)
	}
	var de reverseproxy.DialError
	if !errors.As(failures[0].err, &de) {
		t.Errorf("the failed attempt's error %v is not the dial's", failures[0].err)
	}
}

// Only refused targets: a 502 that says so once TryDuration is over.
func TestAllTargetsRefuse502(t *testing.T) {
	p := newProxy(t, func() []string { return []string{refused(t)} }, func(c *Config) { c.TryDuration = 200 * time.Millisecond })
	_, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
	if status(t, err) != http.StatusBadGateway {
		t.Fatalf("error %v", err)
	}
	var de reverseproxy.DialError
	if !errors.As(err, &de) {
		t.Errorf("cause %v is not the dial's error (the 502 page reads it)", err)
	}
}

// An app with no ready target holds the request; one that becomes ready
// in that time serves it.
func TestNoTargetHoldsUntilOneIsReady(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "up") }))
	defer app.Close()
	var calls atomic.Int32
	p := newProxy(t, func() []string {
		if calls.Add(1) < 3 {
			return nil
		}
		return []string{addr(app)}
	}, nil)
	resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("status %d, error %v", resp.StatusCode, err)
	}
	if calls.Load() < 3 {
		t.Errorf("targets asked %d times", calls.Load())
	}
}

// An app without a ready target for the whole TryDuration: 503.
func TestNoTarget503(t *testing.T) {
	p := newProxy(t, func() []string { return nil }, func(c *Config) { c.TryDuration = 100 * time.Millisecond })
	_, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
	if status(t, err) != http.StatusServiceUnavailable || !errors.Is(err, ErrNoTarget) {
		t.Fatalf("error %v", err)
	}
}

// hangUp is an app that closes every connection without an answer.
func hangUp(t *testing.T, n *atomic.Int32) *httptest.Server {
	s := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		c, _, err := http.NewResponseController(w).Hijack()
		if err == nil {
			c.Close()
		}
	}))
	t.Cleanup(s.Close)
	return s
}

// A failure after the request was sent is tried again for a GET (as
// Caddy does with try_duration) but never for a POST, which the app may
// have acted on.
func TestNonDialFailureRetriedOnlyForGET(t *testing.T) {
	for _, method := range []string{"GET", "POST"} {
		t.Run(method, func(t *testing.T) {
			var n atomic.Int32
			app := hangUp(t, &n)
			p := newProxy(t, func() []string { return []string{addr(app)} }, func(c *Config) { c.TryDuration = 300 * time.Millisecond })
			_, err := serve(p, httptest.NewRequest(method, "http://web.test/", strings.NewReader("x")))
			if status(t, err) != http.StatusBadGateway {
				t.Fatalf("error %v", err)
			}
			if method == "POST" && n.Load() != 1 {
				t.Errorf("POST sent %d times, want 1", n.Load())
			}
			if method == "GET" && n.Load() < 2 {
				t.Errorf("GET sent %d times, want it retried", n.Load())
			}
		})
	}
}

// An app slower than proxy_read_timeout (the transport's
// ResponseHeaderTimeout): 504.
func TestSlowApp504(t *testing.T) {
	release := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer app.Close()
	defer close(release)
	p := newProxy(t, func() []string { return []string{addr(app)} }, func(c *Config) {
		c.Transport = caddyTransport(t, 50*time.Millisecond)
		c.TryDuration = 0
	})
	_, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil))
	if status(t, err) != http.StatusGatewayTimeout {
		t.Fatalf("error %v", err)
	}
}

// A server-sent event reaches the client while the app's response is
// still open: the stream is flushed as it comes.
func TestEventStreamIsFlushedAtOnce(t *testing.T) {
	more := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		w.Header().Set("Content-Length", "100") // known length: only the type says "stream"
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		<-more
	}))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		defer func() { recover() }() // the app's short body aborts the response
		p.ServeHTTP(w, r)
	}))
	defer front.Close()
	resp, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	line, err := bufio.NewReader(resp.Body).ReadString('\n')
	if err != nil || line != "data: one\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	close(more)
}

// A request counts against its target until the response body is done:
// the app sends its headers and part of its body, then waits; while the
// client reads that part the request still counts, and only once the
// body is done does it stop counting.
func TestInFlightCountsUntilTheBodyIsDone(t *testing.T) {
	var counted atomic.Int32
	more := make(chan struct{})
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.WriteString(w, "first\n")
		w.(http.Flusher).Flush()
		<-more
		io.WriteString(w, "rest")
	}))
	defer app.Close()
	defer func() {
		select {
		case <-more:
		default:
			close(more)
		}
	}()
	var gotAddr atomic.Value
	p := newProxy(t, func() []string { return []string{addr(app)} }, func(c *Config) {
		c.InFlight = func(a string) func() {
			gotAddr.Store(a)
			counted.Add(1)
			return func() { counted.Add(-1) }
		}
	})
	served := make(chan error, 1)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		served <- p.ServeHTTP(w, r)
	}))
	defer front.Close()
	resp, err := http.Get(front.URL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	br := bufio.NewReader(resp.Body)
	if line, err := br.ReadString('\n'); err != nil || line != "first\n" {
		t.Fatalf("read %q, %v", line, err)
	}
	if n := counted.Load(); n != 1 {
		t.Errorf("in flight while the client reads the body: %d, want 1", n)
	}
	close(more)
	rest, err := io.ReadAll(br)
	if err != nil || string(rest) != "rest" {
		t.Fatalf("read %q, %v", rest, err)
	}
	if err := <-served; err != nil {
		t.Fatal(err)
	}
	if n := counted.Load(); n != 0 || gotAddr.Load() != addr(app) {
		t.Errorf("in flight after the body: %d, address %v", n, gotAddr.Load())
	}
}

// A client that went away is not the app's failure: Caddy's 499, no
// error, no retry.
func TestClientGoneIs499(t *testing.T) {
	var n atomic.Int32
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n.Add(1)
		<-r.Context().Done()
	}))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)
	ctx, cancel := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "http://web.test/", nil).WithContext(ctx)
	go func() {
		for n.Load() == 0 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	resp, err := serve(p, r)
	if err != nil || resp.StatusCode != 499 || n.Load() != 1 {
		t.Fatalf("status %d, error %v, sent %d times", resp.StatusCode, err, n.Load())
	}
}

// Upgrades are left to Caddy's handler.
func TestIsUpgrade(t *testing.T) {
	r := httptest.NewRequest("GET", "http://web.test/ws", nil)
	if IsUpgrade(r) {
		t.Error("a plain GET is an upgrade")
	}
	r.Header.Set("Connection", "keep-alive, Upgrade")
	r.Header.Set("Upgrade", "websocket")
	if !IsUpgrade(r) {
		t.Error("a websocket request is not an upgrade")
	}
}

// A client that goes away while its request is held for a target gets
// Caddy's 499, not the app's 503.
func TestClientGoneWhileHeldIs499(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var asked atomic.Int32
	p := newProxy(t, func() []string {
		if asked.Add(1) == 2 {
			cancel()
		}
		return nil
	}, func(c *Config) { c.TryDuration = time.Hour })
	resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil).WithContext(ctx))
	if err != nil || resp.StatusCode != 499 {
		t.Fatalf("status %d, error %v", resp.StatusCode, err)
	}
}

// Trailers the client sends without announcing them in a Trailer header
// reach the app, as with Caddy (requestBodyWithTrailers): the upstream
// request has its own trailer map, filled when the body ends.
func TestUnannouncedRequestTrailersReachTheApp(t *testing.T) {
	got := make(chan string, 1)
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		got <- string(body) + " " + r.Trailer.Get("X-Sum")
	}))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)
	front := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if err := p.ServeHTTP(w, r); err != nil {
			t.Error(err)
		}
	}))
	defer front.Close()
	conn, err := net.Dial("tcp", addr(front))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	io.WriteString(conn, "POST / HTTP/1.1\r\nHost: web.test\r\nTransfer-Encoding: chunked\r\n\r\n"+
		"3\r\nabc\r\n0\r\nX-Sum: 1\r\n\r\n")
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if s := <-got; s != "abc 1" {
		t.Errorf("the app got body and X-Sum trailer %q, want %q", s, "abc 1")
	}
}

// An app that answers 101 to a request that asked for no upgrade gets
// nothing of its response to the client: as Caddy, none of its headers
// (a Set-Cookie), no Via, nothing written.
func TestUnaskedSwitchingProtocolsSendsNothingOfTheApps(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, bw, err := w.(http.Hijacker).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		bw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: other\r\nConnection: Upgrade\r\n" +
			"Set-Cookie: session=app\r\nX-App: yes\r\n\r\n")
		bw.Flush()
	}))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)
	rec := httptest.NewRecorder()
	if err := p.ServeHTTP(rec, httptest.NewRequest("GET", "http://web.test/", nil)); err != nil {
		t.Fatal(err)
	}
	if rec.Code != http.StatusOK || len(rec.Header()) != 0 || rec.Body.Len() != 0 {
		t.Errorf("client got %d, headers %v, body %q; want Caddy's empty 200", rec.Code, rec.Header(), rec.Body)
	}
}

// noFlushWriter is a ResponseWriter chain that cannot flush.
type noFlushWriter struct {
	h    http.Header
	code int
	body strings.Builder
}

func (w *noFlushWriter) Header() http.Header         { return w.h }
func (w *noFlushWriter) WriteHeader(code int)        { w.code = code }
func (w *noFlushWriter) Write(b []byte) (int, error) { return w.body.Write(b) }

// A stream is copied whole to a writer that cannot flush: as Caddy's
// maxLatencyWriter, a failed flush is no reason to abort the response.
func TestStreamToAWriterThatCannotFlush(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/event-stream")
		io.WriteString(w, "data: one\n\n")
		w.(http.Flusher).Flush()
		io.WriteString(w, "data: two\n\n")
	}))
	defer app.Close()
	p := newProxy(t, func() []string { return []string{addr(app)} }, nil)
	w := &noFlushWriter{h: make(http.Header)}
	var err error
	func() {
		defer func() {
			if v := recover(); v != nil {
				err = fmt.Errorf("aborted: %v", v)
			}
		}()
		err = p.ServeHTTP(w, httptest.NewRequest("GET", "http://web.test/", nil))
	}()
	if err != nil || w.code != 200 || w.body.String() != "data: one\n\ndata: two\n\n" {
		t.Errorf("status %d, body %q, error %v", w.code, w.body.String(), err)
	}
}

// With no wait between attempts (TryInterval 0), a request whose client
// went away is not tried again: the client is gone, nothing waits for
// the answer.
func TestNoIntervalStopsWhenTheClientIsGone(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	var asked atomic.Int32
	p := newProxy(t, func() []string {
		if asked.Add(1) == 2 {
			cancel()
		}
		return nil
	}, func(c *Config) { c.TryDuration, c.TryInterval = time.Second, 0 })
	resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil).WithContext(ctx))
	if err != nil || resp.StatusCode != 499 || asked.Load() != 2 {
		t.Fatalf("status %d, error %v, asked for targets %d times (want 2)", resp.StatusCode, err, asked.Load())
	}
}

// vanishedConn is a connection to a host that vanished: what is written
// goes into the kernel's buffer, and the read ends as the unacked
// timeout ends it (ETIMEDOUT).
type vanishedConn struct{ net.Conn }

func (vanishedConn) Write(p []byte) (int, error) { return len(p), nil }

func (c vanishedConn) Read([]byte) (int, error) {
	return 0, &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ETIMEDOUT)}
}

// proxyWithVanished is a proxy whose targets are two ports of the host
// "vanished" (each a vanishedConn) and the live app's address.
func proxyWithVanished(t *testing.T, live string, dials *atomic.Int32, try time.Duration) *Proxy {
	dialer := &net.Dialer{}
	c := NewClient(ClientConfig{Dial: func(ctx context.Context, network, a string) (net.Conn, error) {
		if !strings.HasPrefix(a, "vanished:") {
			return dialer.DialContext(ctx, network, a)
		}
		dials.Add(1)
		mine, theirs := net.Pipe()
		t.Cleanup(func() { theirs.Close() })
		return vanishedConn{mine}, nil
	}})
	t.Cleanup(c.CloseIdle)
	targets := []string{"vanished:1", "vanished:2"}
	if live != "" {
		targets = append(targets, live)
	}
	return New(Config{Client: c, Targets: func(*http.Request) []string { return targets },
		TryDuration: try, TryInterval: time.Hour})
}

// A GET whose target's host stopped acknowledging is tried at once on
// another target, and the vanished host's targets are skipped from then
// on, as a failed dial's target is: one connection to the host in all;
// the same failure of a POST is not sent again (the app may have acted
// on it): a 504.
func TestUnreachableHostIsSkippedAndAGETTriedElsewhere(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "live") }))
	defer app.Close()
	var dials atomic.Int32
	p := proxyWithVanished(t, addr(app), &dials, 2*time.Second)
	for i := range 20 {
		// A second at most: only a retry at once (TryInterval is an
		// hour) serves in time.
		ctx, cancel := context.WithTimeout(context.Background(), time.Second)
		resp, err := serve(p, httptest.NewRequest("GET", "http://web.test/", nil).WithContext(ctx))
		cancel()
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET %d: status %d, error %v", i, resp.StatusCode, err)
		}
	}
	if n := dials.Load(); n != 1 {
		t.Errorf("the vanished host was dialed %d times, want 1 (then skipped)", n)
	}

	var postDials atomic.Int32
	p = proxyWithVanished(t, "", &postDials, 2*time.Second)
	_, err := serve(p, httptest.NewRequest("POST", "http://web.test/", strings.NewReader("x")))
	if status(t, err) != http.StatusGatewayTimeout || !errors.Is(err, ErrUnreachable) {
		t.Fatalf("POST: %v", err)
	}
	if n := postDials.Load(); n != 1 {
		t.Errorf("POST sent %d times, want 1", n)
	}
}

// A GET found unreachable after the try duration (in flight when its
// host vanished: the kernel's probes tell seconds later) still goes to
// another target; a POST does not.
func TestUnreachableGETIsTriedElsewhereEvenPastTheTryDuration(t *testing.T) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "live") }))
	defer app.Close()
	for _, method := range []string{"GET", "POST"} {
		var dials atomic.Int32
		// A nanosecond: every failure comes after it.
		p := proxyWithVanished(t, addr(app), &dials, time.Nanosecond)
		for i := 0; dials.Load() == 0 && i < 100; i++ {
			resp, err := serve(p, httptest.NewRequest(method, "http://web.test/", nil))
			if dials.Load() == 0 {
				continue // the live app was chosen first
			}
			switch {
			case method == "GET" && (err != nil || resp.StatusCode != 200):
				t.Fatalf("GET: status %d, error %v", resp.StatusCode, err)
			case method == "POST" && !errors.Is(err, ErrUnreachable):
				t.Fatalf("POST: %v, want ErrUnreachable (not sent again)", err)
			}
		}
		if dials.Load() != 1 {
			t.Fatalf("%s: the vanished host was dialed %d times, want 1", method, dials.Load())
		}
	}
}
