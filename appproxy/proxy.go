// Package appproxy is Berth's own reverse proxy for app requests: the
// lean path the berth handler uses instead of Caddy's reverse_proxy
// handler (issue 16). It owns what happens to one request between the
// routing table's answer (the app's ready targets) and the app's
// response: target choice, holding the request while the app has no
// ready target, retrying a failed dial on another target, the headers
// the app sees (X-Forwarded-*, Via, hop-by-hop), the copy of the
// response (flushed at once for streams), and the in-flight count that
// deploys drain.
//
// It sends the app what Caddy's reverse_proxy (v2.11) sends, and answers
// the client as it does, without what Berth never configures there
// (header operations, response handlers, buffering, health checks,
// placeholders): the profile of Caddy's handler showed those costs paid
// on every request (a logger built per request, the replacer, request
// and header clones). Protocol upgrades (websockets) are not handled
// here: the berth handler gives them to Caddy's handler, which keeps
// them open across config reloads (stream_close_delay).
package appproxy

import (
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Config is what the proxy needs: where to send a request and how.
type Config struct {
	// Transport sends requests to the app's containers (Caddy's HTTP
	// transport's *http.Transport, so both paths share its idle
	// connections and settings: dial timeout, ResponseHeaderTimeout).
	Transport http.RoundTripper
	// Targets returns the dial addresses ("ip:port") of the ready
	// containers of the app the request is for; it is called again on
	// every attempt, so a container that becomes ready while a request
	// waits is used.
	Targets func(r *http.Request) []string
	// InFlight, when set, counts a request against its target until its
	// response body is done (deploys drain by it).
	InFlight func(addr string) (done func())
	// TryDuration is how long a request may wait for a ready target and
	// retry failed attempts; TryInterval the wait between attempts.
	TryDuration, TryInterval time.Duration
	// Client, when set, sends the requests instead of Transport:
	// appproxy's own HTTP/1.1 client (client.go), built from the same
	// transport's settings (ClientFromTransport).
	Client *Client
	// IsDialError tells a failed dial (nothing was sent: safe to retry
	// with any method) from other transport errors. Default: Caddy's
	// reverseproxy.DialError, which its transport's dialer returns.
	IsDialError func(error) bool
	// FailDuration is how long a target whose dial failed is left out
	// of every request's choice while another target is there (passive
	// health: a dead node's tasks cost one dial, not one per request).
	// 0: DefaultFailDuration; negative: off.
	FailDuration time.Duration
	// AttemptFailed, when set, is told of every attempt that failed:
	// its target, its error and how long it took. For a debug log: a
	// request that is slow to find its app shows there as the refused
	// dials or the slow attempts behind it.
	AttemptFailed func(r *http.Request, target string, err error, took time.Duration)
}

// Proxy proxies requests to app containers. It is safe for concurrent
// use.
type Proxy struct {
	cfg Config
	// health is nil when FailDuration is negative.
	health *health
}

// New returns a proxy with cfg.
func New(cfg Config) *Proxy {
	if cfg.IsDialError == nil {
		cfg.IsDialError = func(err error) bool {
			var de reverseproxy.DialError
			return errors.As(err, &de)
		}
	}
	p := &Proxy{cfg: cfg}
	if cfg.FailDuration == 0 {
		cfg.FailDuration = DefaultFailDuration
	}
	if cfg.FailDuration > 0 {
		p.health = &health{fail: cfg.FailDuration}
	}
	return p
}

// ErrNoTarget is the cause of a 503: the app had no ready target for
// the whole TryDuration.
var ErrNoTarget = errors.New("no upstreams available")

// IsUpgrade says whether r asks for a protocol upgrade (a websocket),
// which this proxy leaves to Caddy's handler: HTTP/1.1's Upgrade, or the
// extended CONNECT of HTTP/2 and HTTP/3.
func IsUpgrade(r *http.Request) bool {
	return r.Method == http.MethodConnect || upgradeType(r.Header) != ""
}

// ServeHTTP proxies r to one of its app's targets. Errors are
// caddyhttp.HandlerErrors with Caddy's statuses: 503 when no target was
// ready in time, 504 when the app did not answer in time, 502 for other
// failures; nothing is written then. A client that went away gets
// Caddy's 499 written and no error.
func (p *Proxy) ServeHTTP(w http.ResponseWriter, r *http.Request) error {
	// 1xx responses (103 Early Hints, 100 Continue) go to the client as
	// Caddy sends them: appproxy's client calls got1xx itself, Go's
	// transport through one trace for all attempts.
	a := &attempt{w: w}
	ctx := r.Context()
	if p.cfg.Client == nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{Got1xxResponse: a.got1xx})
	}
	out := p.prepare(r, ctx)
	start := time.Now()
	var (
		proxyErr error
		tried    triedSet
	)
	for {
		target, marked, ok := tried.choose(p.cfg.Targets(r), p.health)
		if !ok {
			if proxyErr == nil {
				proxyErr = caddyhttp.Error(http.StatusServiceUnavailable, ErrNoTarget)
			}
			if !p.tryAgain(r, start, proxyErr, false) {
				return p.giveUp(w, r, proxyErr)
			}
			continue
		}
		var began time.Time
		if p.cfg.AttemptFailed != nil {
			began = time.Now() // not paid on the hot path without the hook
		}
		err := p.roundTrip(w, r, out, a, target)
		if err != nil && p.cfg.AttemptFailed != nil {
			p.cfg.AttemptFailed(r, target, err, time.Since(began))
		}
		if err == nil {
			if marked {
				p.health.markUp(target) // a probe that got through
			}
			return nil
		}
		if errors.Is(err, context.Canceled) {
			// The client went away: not the app's failure, no retry.
			w.WriteHeader(499)
			return nil
		}
		proxyErr = err
		dial := p.cfg.IsDialError(err)
		// A host that stopped acknowledging (a kept-alive connection to
		// a node that vanished) is as gone as one whose dial failed.
		unreachable := errors.Is(err, ErrUnreachable)
		if dial || unreachable {
			tried.add(target)
			if p.health != nil {
				// Every other request skips it now, rather than wait
				// for its own dial to fail (a dead node's tasks).
				p.health.markDown(target)
			}
			if unreachable {
				// The host is gone, not one port of it: every target
				// on it (a swarm node's tasks share its address) is
				// skipped too, or a request could meet two of them in
				// a row, 4 s each, past the try duration.
				p.skipHost(r, target, &tried)
			}
		} else if marked {
			p.health.markUp(target) // the dial worked
		}
		// A failed dial sent nothing: another target that was not
		// tried yet is tried at once (nginx's proxy_next_upstream); so
		// is a GET whose target's host vanished under it (tryAgain
		// retries no other method after a round trip began).
		untried := (dial || unreachable) && tried.hasUntried(p.cfg.Targets(r))
		if unreachable && untried && r.Method == http.MethodGet && p.cfg.TryDuration > 0 && r.Context().Err() == nil {
			// Even past the try duration: a GET that was in flight when
			// its host vanished is found out by the kernel's probes
			// seconds later, the client still waits, and the answer it
			// waits for cannot come. Each round skips one host, so this
			// ends.
			continue
		}
		if !p.tryAgain(r, start, proxyErr, untried) {
			return p.giveUp(w, r, proxyErr)
		}
	}
}

// skipHost marks every target on gone's host tried and down.
func (p *Proxy) skipHost(r *http.Request, gone string, tried *triedSet) {
	host, _, err := net.SplitHostPort(gone)
	if err != nil {
		return
	}
	for _, t := range p.cfg.Targets(r) {
		if h, _, err := net.SplitHostPort(t); err == nil && h == host && t != gone {
			tried.add(t)
			if p.health != nil {
				p.health.markDown(t)
			}
		}
	}
}

// giveUp ends a request that no attempt served: Caddy's 499 when the
// client went away while it waited, else the last attempt's error.
func (p *Proxy) giveUp(w http.ResponseWriter, r *http.Request, proxyErr error) error {
	if r.Context().Err() != nil {
		w.WriteHeader(499)
		return nil
	}
	return statusError(proxyErr)
}

// tryAgain says whether to try again and waits for it, as Caddy's
// LoadBalancing.tryAgain does with try_duration and no retry_match:
// within TryDuration, a missing target or a failed dial is always tried
// again, other failures only for GET; every TryInterval. now skips the
// wait.
func (p *Proxy) tryAgain(r *http.Request, start time.Time, proxyErr error, now bool) bool {
	if p.cfg.TryDuration <= 0 || time.Since(start) >= p.cfg.TryDuration {
		return false
	}
	var he caddyhttp.HandlerError
	noTarget := errors.As(proxyErr, &he) && errors.Is(he.Err, ErrNoTarget)
	if !noTarget && !p.cfg.IsDialError(proxyErr) && r.Method != http.MethodGet {
		return false
	}
	if r.Context().Err() != nil {
		return false // the client went away: nobody waits for an answer
	}
	if now || p.cfg.TryInterval <= 0 {
		return true
	}
	t := time.NewTimer(p.cfg.TryInterval)
	defer t.Stop()
	select {
	case <-t.C:
		return true
	case <-r.Context().Done():
		return false
	}
}

// statusError is Caddy's: 504 for a timeout, 499 for a cancelled
// request, 502 for the rest.
func statusError(err error) error {
	var he caddyhttp.HandlerError
	if errors.As(err, &he) {
		return err
	}
	status := http.StatusBadGateway
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		status = http.StatusGatewayTimeout
	}
	if errors.Is(err, context.Canceled) || strings.Contains(err.Error(), "operation was canceled") {
		status = 499
	}
	return caddyhttp.Error(status, err)
}

// triedSet remembers the targets whose dial failed, without allocating
// for the first few.
type triedSet struct {
	few  [4]string
	n    int
	more []string
}

func (s *triedSet) add(t string) {
	if s.has(t) {
		return
	}
	if s.n < len(s.few) {
		s.few[s.n] = t
		s.n++
		return
	}
	s.more = append(s.more, t)
}

func (s *triedSet) has(t string) bool {
	for _, x := range s.few[:s.n] {
		if x == t {
			return true
		}
	}
	for _, x := range s.more {
		if x == t {
			return true
		}
	}
	return false
}

func (s *triedSet) hasUntried(targets []string) bool {
	for _, t := range targets {
		if !s.has(t) {
			return true
		}
	}
	return false
}

// choose picks a target at random (Caddy's default selection policy),
// among those not tried yet when there are any: a retry after a failed
// dial goes to another container. While h marks targets down, it picks
// among the untried ones that are not; a target whose mark ran out goes
// to one request at a time (a probe). With none of those left, the old
// rule applies to all, marked or not: a marked target is still tried
// rather than fail a request it might serve. marked says the target
// chosen was marked (its fate is for the caller to record).
func (s *triedSet) choose(targets []string, h *health) (target string, marked, ok bool) {
	if len(targets) == 0 {
		return "", false, false
	}
	if h.none() {
		t := s.pick(targets)
		return t, false, true
	}
	at := now()
	for {
		n := 0
		for _, t := range targets {
			if !s.has(t) {
				if st, _, _ := h.state(t, at); st != down {
					n++
				}
			}
		}
		if n == 0 {
			break
		}
		k := rand.IntN(n)
		for _, t := range targets {
			if s.has(t) {
				continue
			}
			st, m, d := h.state(t, at)
			if st == down {
				continue
			}
			if k > 0 {
				k--
				continue
			}
			if st == up {
				return t, false, true
			}
			if h.claim(m, d, at) {
				return t, true, true
			}
			break // another request probes it: down now, count again
		}
	}
	t := s.pick(targets)
	st, _, _ := h.state(t, at)
	return t, st != up, true
}

// pick is choose without passive health.
func (s *triedSet) pick(targets []string) string {
	if len(targets) == 1 {
		return targets[0]
	}
	if s.n == 0 {
		return targets[rand.IntN(len(targets))]
	}
	untried := 0
	for _, t := range targets {
		if !s.has(t) {
			untried++
		}
	}
	if untried == 0 {
		return targets[rand.IntN(len(targets))]
	}
	k := rand.IntN(untried)
	for _, t := range targets {
		if !s.has(t) {
			if k == 0 {
				return t
			}
			k--
		}
	}
	return targets[0] // not reached
}

// hopHeaders are Caddy's: removed from both directions.
var hopHeaders = []string{
	"Alt-Svc",
	"Connection",
	"Proxy-Connection",
	"Keep-Alive",
	"Proxy-Authenticate",
	"Proxy-Authorization",
	"Te",
	"Trailer",
	"Transfer-Encoding",
	"Upgrade",
}

// prepare makes the request sent upstream, once for all attempts, as
// Caddy's prepareRequest does: a shallow copy with its own URL and
// headers (the original's stay as the client sent them, for the access
// log and for the error pages).
func (p *Proxy) prepare(r *http.Request, ctx context.Context) *http.Request {
	out := r.WithContext(ctx)
	u := *r.URL
	if u.User != nil {
		ui := *u.User
		u.User = &ui
	}
	u.Scheme, u.Host = "http", ""
	out.URL = &u
	// A map of its own whose values are the client's slices, not
	// copies (Header.Clone copies every value: an allocation the
	// profile showed per request). Safe because nothing below changes
	// a value slice in place: values are replaced with new slices or
	// deleted, and Via is appended to a clipped slice.
	out.Header = make(http.Header, len(r.Header)+4)
	for k, v := range r.Header {
		out.Header[k] = v
	}
	// The Host header goes to the app unchanged (out.Host is r.Host).
	if r.Body != nil && r.Body != http.NoBody && (r.ContentLength != 0 || len(r.Trailer) > 0) {
		if len(r.Trailer) > 0 {
			// Trailers need chunked framing upstream.
			out.ContentLength = -1
			out.Header.Del("Content-Length")
		}
		// The upstream request has its own trailer map, filled when
		// the client's body ends (Caddy's requestBodyWithTrailers):
		// the server fills r.Trailer only at EOF, and only with the
		// announced keys before then, so sharing it would lose the
		// trailers a client sends without a Trailer header (r.Trailer
		// is nil then); the transport sends out.Trailer after the
		// body.
		out.Trailer = r.Trailer.Clone()
		if out.Trailer == nil {
			out.Trailer = make(http.Header)
		}
		// A failed dial must not close the client's body: the next
		// attempt sends it (Caddy's bodyNopCloserIfNotRead).
		out.Body = &keepBodyIfUnread{ReadCloser: &bodyWithTrailers{ReadCloser: r.Body, from: r, to: out.Trailer}}
	}
	if out.ContentLength == 0 {
		out.Body = nil // golang/go#16036: a nil body lets the transport retry
	}
	out.Close = false
	// No User-Agent from the client: none to the app either (Go's
	// transport would add its own).
	if _, ok := out.Header["User-Agent"]; !ok {
		out.Header["User-Agent"] = []string{""}
	}
	if r.TLS != nil && !r.TLS.HandshakeComplete {
		out.Header["Early-Data"] = []string{"1"} // RFC 8470
	}
	removeConnectionHeaders(out.Header)
	for _, h := range hopHeaders {
		if h == "Te" && headerValuesContainToken(out.Header["Te"], "trailers") {
			out.Header["Te"] = []string{"trailers"}
			continue
		}
		delete(out.Header, h)
	}
	addForwardedHeaders(out)
	out.Header["Via"] = append(slices.Clip(out.Header["Via"]), viaValue("", r.ProtoMajor, r.ProtoMinor))
	return out
}

// viaValue is "1.1 Caddy" for HTTP/1.1, without building it each time.
func viaValue(prefix string, major, minor int) string {
	switch {
	case prefix == "" && major == 1 && minor == 1:
		return "1.1 Caddy"
	case prefix == "" && major == 2 && minor == 0:
		return "2.0 Caddy"
	}
	return prefix + strconv.Itoa(major) + "." + strconv.Itoa(minor) + " Caddy"
}

// addForwardedHeaders sets X-Forwarded-For, -Proto and -Host as Caddy's
// reverse_proxy does: the client's values are kept (For appended to)
// only when the server's trusted_proxies trust the client; an empty
// header the client set to nil is omitted.
func addForwardedHeaders(req *http.Request) {
	trusted, _ := caddyhttp.GetVar(req.Context(), caddyhttp.TrustedProxyVarKey).(bool)
	var clientIP string
	if req.RemoteAddr == "@" {
		if !trusted {
			delete(req.Header, "X-Forwarded-For")
			delete(req.Header, "X-Forwarded-Proto")
			delete(req.Header, "X-Forwarded-Host")
			return
		}
	} else {
		var err error
		clientIP, _, err = net.SplitHostPort(req.RemoteAddr)
		if err != nil {
			delete(req.Header, "X-Forwarded-For")
			delete(req.Header, "X-Forwarded-Proto")
			delete(req.Header, "X-Forwarded-Host")
			return
		}
		clientIP, _, _ = strings.Cut(clientIP, "%")
	}
	if values, ok := req.Header["X-Forwarded-For"]; !(ok && values == nil) {
		prior := strings.Join(values, ", ")
		if trusted && prior != "" {
			if clientIP != "" {
				req.Header["X-Forwarded-For"] = []string{prior + ", " + clientIP}
			} else {
				req.Header["X-Forwarded-For"] = []string{prior}
			}
		} else if clientIP != "" {
			req.Header["X-Forwarded-For"] = []string{clientIP}
		}
	}
	setForwarded := func(field, ours string) {
		values, ok := req.Header[field]
		if ok && values == nil {
			return // omitted on purpose
		}
		if trusted && len(values) > 0 && values[len(values)-1] != "" {
			ours = values[len(values)-1]
		}
		req.Header[field] = []string{ours}
	}
	proto := "https"
	if req.TLS == nil {
		proto = "http"
	}
	setForwarded("X-Forwarded-Proto", proto)
	setForwarded("X-Forwarded-Host", req.Host)
}

// attempt is one round trip's state shared with its 1xx callback.
type attempt struct {
	mu   sync.Mutex
	done bool
	w    http.ResponseWriter
}

// got1xx forwards an informational response (103 Early Hints, 100
// Continue) to the client, as Caddy does, keeping the client's response
// headers as they were.
func (a *attempt) got1xx(code int, header textproto.MIMEHeader) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.done {
		return nil
	}
	h := a.w.Header()
	own := h.Clone()
	up := http.Header(header).Clone()
	stripHopByHopHeaders(up)
	copyHeader(h, up)
	a.w.WriteHeader(code)
	clear(h)
	for k, v := range own {
		h[k] = v
	}
	return nil
}

// roundTrip sends out to target and copies the response to w. An error
// is returned only when nothing was written; a failure while copying
// the body aborts the response (http.ErrAbortHandler), as Caddy does.
func (p *Proxy) roundTrip(w http.ResponseWriter, r, out *http.Request, a *attempt, target string) error {
	if p.cfg.InFlight != nil {
		done := p.cfg.InFlight(target)
		defer done()
	}
	out.URL.Host = target
	a.mu.Lock()
	a.done = false
	a.mu.Unlock()
	var res *http.Response
	var err error
	if p.cfg.Client != nil {
		res, err = p.cfg.Client.RoundTrip(out, target, a.got1xx)
	} else {
		res, err = p.cfg.Transport.RoundTrip(out)
	}
	a.mu.Lock()
	a.done = true
	a.mu.Unlock()
	if err != nil {
		return err
	}
	return finalize(w, res)
}

// finalize writes res to w: Caddy's finalizeResponse for a response
// that is not a protocol switch.
func finalize(w http.ResponseWriter, res *http.Response) error {
	incremental := caddyhttp.IsIncremental(res.Header)
	stripHopByHopHeaders(res.Header)
	if res.StatusCode == http.StatusSwitchingProtocols {
		// Not asked for (upgrades go to Caddy's handler): nothing to
		// switch to. Caddy's handleUpgradeResponse refuses the
		// mismatched protocol before touching the response: none of
		// the app's headers, no Via, nothing written (the server then
		// sends an empty 200).
		res.Body.Close()
		return nil
	}
	h := w.Header()
	delete(h, "Server") // Caddy's own: the app's, if any, is sent
	var prefix string
	if !strings.HasPrefix(strings.ToUpper(res.Proto), "HTTP/") {
		if i := strings.Index(res.Proto, "/"); i >= 0 {
			prefix = res.Proto[:i+1]
		}
	}
	h["Via"] = append(h["Via"], viaValue(prefix, res.ProtoMajor, res.ProtoMinor))
	copyHeader(h, res.Header)
	announced := len(res.Trailer)
	if announced > 0 {
		keys := make([]string, 0, len(res.Trailer))
		for k := range res.Trailer {
			keys = append(keys, k)
		}
		h.Add("Trailer", strings.Join(keys, ", "))
	}
	w.WriteHeader(res.StatusCode)
	err := copyBody(w, res.Body, flushAtOnce(res, incremental))
	res.Body.Close() // now, not deferred: it fills res.Trailer
	if err != nil {
		_ = http.NewResponseController(w).Flush()
		panic(http.ErrAbortHandler)
	}
	if len(res.Trailer) > 0 {
		_ = http.NewResponseController(w).Flush()
	}
	if len(res.Trailer) == announced {
		copyHeader(w.Header(), res.Trailer)
		return nil
	}
	for k, vv := range res.Trailer {
		k = http.TrailerPrefix + k
		for _, v := range vv {
			w.Header().Add(k, v)
		}
	}
	return nil
}

// flushAtOnce says whether each chunk of the body is flushed to the
// client at once (Caddy's flushInterval -1; its default interval is
// otherwise 0, no flushing): streams of unknown length, server-sent
// events, incremental responses. (Caddy's fourth case, an HTTP/2
// bidirectional stream, needs an HTTP/2 upstream: Berth's are HTTP/1.1.)
func flushAtOnce(res *http.Response, incremental bool) bool {
	if incremental || caddyhttp.IsIncremental(res.Header) || res.ContentLength == -1 {
		return true
	}
	ct := res.Header.Get("Content-Type")
	if i := strings.IndexByte(ct, ';'); i >= 0 {
		ct = ct[:i]
	}
	if strings.EqualFold(strings.TrimSpace(ct), "text/event-stream") {
		return true
	}
	return false
}

// bufPool holds the buffers bodies are copied through (Caddy's size).
var bufPool = sync.Pool{New: func() any { b := make([]byte, 32*1024); return &b }}

// errWriting marks a failure to write to the client.
var errWriting = errors.New("writing")

// copyBody copies the app's body to the client through a pooled buffer,
// flushing after each write when flush is set (and once before the
// first, so that a stream's headers reach the client at once).
func copyBody(w http.ResponseWriter, body io.Reader, flush bool) error {
	var rc *http.ResponseController
	if flush {
		rc = http.NewResponseController(w)
		_ = rc.Flush()
	}
	bp := bufPool.Get().(*[]byte)
	defer bufPool.Put(bp)
	buf := *bp
	for {
		n, rerr := body.Read(buf)
		if n > 0 {
			nw, werr := w.Write(buf[:n])
			if werr != nil {
				return errors.Join(errWriting, werr)
			}
			if nw != n {
				return io.ErrShortWrite
			}
			if flush {
				// A failed flush is ignored, as Caddy's
				// maxLatencyWriter does: a writer chain that cannot
				// flush (http.ErrNotSupported) still gets the whole
				// body, and a gone client fails the next Write.
				_ = rc.Flush()
			}
		}
		if rerr == io.EOF {
			return nil
		}
		if rerr != nil {
			return rerr
		}
	}
}

// bodyWithTrailers copies the client's trailers into the upstream
// request's own map when the body ends (Caddy's requestBodyWithTrailers):
// the server fills the client request's Trailer only then, and the
// transport writes the upstream's after the last read.
type bodyWithTrailers struct {
	io.ReadCloser
	from *http.Request
	to   http.Header
}

func (b *bodyWithTrailers) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err == io.EOF && b.from != nil {
		clear(b.to)
		for k, vv := range b.from.Trailer {
			b.to[k] = slices.Clone(vv)
		}
		b.from = nil // a second EOF copies nothing again
	}
	return n, err
}

// keepBodyIfUnread keeps the client's body open when the transport
// closes it without having read it (a failed dial), so that the next
// attempt can send it; once read, Close closes.
type keepBodyIfUnread struct {
	io.ReadCloser
	read int // bytes read; -1 when the first read was an empty EOF
}

func (b *keepBodyIfUnread) Read(p []byte) (int, error) {
	if b.read == -1 {
		return 0, io.EOF
	}
	n, err := b.ReadCloser.Read(p)
	if b.read == 0 && n == 0 && err == io.EOF {
		b.read = -1
	} else {
		b.read += n
	}
	return n, err
}

func (b *keepBodyIfUnread) Close() error {
	if b.read == 0 {
		return nil
	}
	return b.ReadCloser.Close()
}

func copyHeader(dst, src http.Header) {
	for k, vv := range src {
		for _, v := range vv {
			dst.Add(k, v)
		}
	}
}

func removeConnectionHeaders(h http.Header) {
	for _, f := range h["Connection"] {
		for sf := range strings.SplitSeq(f, ",") {
			if sf = textproto.TrimString(sf); sf != "" {
				h.Del(sf)
			}
		}
	}
}

func stripHopByHopHeaders(h http.Header) {
	removeConnectionHeaders(h)
	for _, hop := range hopHeaders {
		h.Del(hop)
	}
}

// upgradeType is the protocol the request asks to switch to, lowercase,
// or "".
func upgradeType(h http.Header) string {
	if !headerValuesContainToken(h["Connection"], "Upgrade") {
		return ""
	}
	if v := h["Upgrade"]; len(v) > 0 {
		return strings.ToLower(v[0])
	}
	return ""
}

// headerValuesContainToken is httpguts.HeaderValuesContainsToken: any of
// the comma-separated values is token, case-insensitively.
func headerValuesContainToken(values []string, token string) bool {
	for _, v := range values {
		for part := range strings.SplitSeq(v, ",") {
			if strings.EqualFold(textproto.TrimString(part), token) {
				return true
			}
		}
	}
	return false
}
