package appproxy

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/textproto"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Client is appproxy's own HTTP/1.1 client for plain (non-upgrade)
// requests to app containers (issue 16). The profile of the Berth route
// put most of appproxy's cost in Go's http.Transport: its RoundTrip
// hands every request to two goroutines per connection (a write loop
// and a read loop) through channels and back. Here the request is
// written and the response read on the caller's goroutine, on a
// connection from a per-target pool of idle keep-alive connections;
// only a request with a body writes it from a goroutine of its own, so
// that an app answering before it has read the body is heard.
//
// It keeps what the transport gave: the dialer (Caddy's, whose errors
// are reverseproxy.DialError: nothing was sent), the response-header
// timeout (proxy_read_timeout), the header size limit, idle connections
// per target and their idle timeout. What Go's read loop did for free,
// noticing that the app closed an idle connection, is done when a
// connection is taken from the pool (a non-blocking peek) and, for the
// race that is left, by retrying once on a new connection what Go's
// transport retries (see retryable). Client does not follow proxies from
// the environment (targets are container addresses) and does not ask
// the app for gzip on the client's behalf (the app sees the client's
// Accept-Encoding, or none).
type Client struct {
	dial                  func(ctx context.Context, network, addr string) (net.Conn, error)
	responseHeaderTimeout time.Duration
	maxHeaderBytes        int64
	maxIdlePerTarget      int
	maxIdle               int
	idleTimeout           time.Duration
	readBufSize           int
	writeBufSize          int
	unackedTimeout        time.Duration

	mu      sync.Mutex
	idle    map[string][]*conn // per target, most recently used last
	nIdle   int
	closed  bool
	sweeper *time.Timer
}

// ClientConfig sets up a Client; zero values take Go's transport's
// defaults.
type ClientConfig struct {
	// Dial opens a connection to a target ("ip:port"). Default: a
	// net.Dialer with a 3 s timeout (Caddy's).
	Dial func(ctx context.Context, network, addr string) (net.Conn, error)
	// ResponseHeaderTimeout is how long the app may take to begin its
	// response once the request is written (0: no limit).
	ResponseHeaderTimeout time.Duration
	// MaxResponseHeaderBytes limits the response's header (default
	// 10 MiB, Go's).
	MaxResponseHeaderBytes int64
	// MaxIdlePerTarget is how many idle connections a target keeps
	// (default 2, Go's); MaxIdle all targets together (0: no limit).
	MaxIdlePerTarget, MaxIdle int
	// IdleTimeout closes a connection idle for this long (default
	// 90 s, Go's).
	IdleTimeout time.Duration
	// ReadBufferSize and WriteBufferSize size each connection's
	// buffers (default 4 KiB, Go's).
	ReadBufferSize, WriteBufferSize int
	// UnackedTimeout ends a connection when what was sent on it has gone
	// unacknowledged this long (Linux's TCP_USER_TIMEOUT; elsewhere
	// nothing). Default DefaultUnackedTimeout; negative: the kernel's
	// own (about 15 minutes of retransmissions).
	UnackedTimeout time.Duration
}

// DefaultUnackedTimeout bounds a request sent on a kept-alive connection
// to a host that vanished (a swarm node that lost power or its link):
// it is not a dial, so neither the dial timeout nor the passive health
// notices it, and without a bound it waits for proxy_read_timeout (60 s
// by default) and fails. With it, the request fails with ErrUnreachable
// after 4 s, every target on the host leaves the choice as a failed
// dial's does, and a GET is tried on another target. A host that is
// there acknowledges within milliseconds (its kernel answers, whatever
// its app is doing), but for a connection that its app's full accept
// queue dropped: 4 s is about five retransmissions on a LAN.
// Connections go without it while they carry a request body, but for a
// small one on a connection that served a request before (see
// roundTrip).
const DefaultUnackedTimeout = 4 * time.Second

// smallBody is the largest request body, by its Content-Length, that is
// sent with the unacked timeout on (on a connection that served a
// request before): well within the receive window of a Linux socket
// with the default buffers (tcp_rmem's 128 KiB, 87 KiB before Linux
// 4.20, about half of it offered as window). An app that shrinks its
// receive buffer below it (SO_RCVBUF) and reads a body slowly would see
// the request fail as unreachable after the unacked timeout.
const smallBody = 16 << 10

// keepAliveIdle is how long a connection with the unacked timeout goes
// without a byte from the app before the kernel probes it, then every
// second (Caddy's dialer: after 15 s, every 30 s). A request in flight
// when its host vanished, all of it acknowledged, sends nothing more, so
// only the probes find it out: the kernel ends the connection once the
// app's host has been silent for the unacked timeout with a probe out,
// so three probes in a row must go unanswered (at 1, 2 and 3 s), and a
// GET goes to another target (ServeHTTP). The cost: a probe and its
// answer per idle connection a second.
const keepAliveIdle = 1 * time.Second

// NewClient returns a client with cfg's settings.
func NewClient(cfg ClientConfig) *Client {
	c := &Client{
		dial:                  cfg.Dial,
		responseHeaderTimeout: cfg.ResponseHeaderTimeout,
		maxHeaderBytes:        cfg.MaxResponseHeaderBytes,
		maxIdlePerTarget:      cfg.MaxIdlePerTarget,
		maxIdle:               cfg.MaxIdle,
		idleTimeout:           cfg.IdleTimeout,
		readBufSize:           cfg.ReadBufferSize,
		writeBufSize:          cfg.WriteBufferSize,
		unackedTimeout:        cfg.UnackedTimeout,
		idle:                  make(map[string][]*conn),
	}
	if c.dial == nil {
		c.dial = (&net.Dialer{Timeout: 3 * time.Second}).DialContext
	}
	if c.maxHeaderBytes <= 0 {
		c.maxHeaderBytes = 10 << 20
	}
	if c.maxIdlePerTarget == 0 {
		c.maxIdlePerTarget = http.DefaultMaxIdleConnsPerHost
	}
	if c.idleTimeout <= 0 {
		c.idleTimeout = 90 * time.Second
	}
	if c.readBufSize <= 0 {
		c.readBufSize = 4 << 10
	}
	if c.writeBufSize <= 0 {
		c.writeBufSize = 4 << 10
	}
	if c.unackedTimeout == 0 {
		c.unackedTimeout = DefaultUnackedTimeout
	}
	return c
}

// ClientFromTransport is a client with t's settings: its dialer (so
// Caddy's DialError still tells a failed dial), response-header
// timeout, header limit, idle connection counts and timeout, buffer
// sizes.
func ClientFromTransport(t *http.Transport) *Client {
	return NewClient(ClientConfig{
		Dial:                   t.DialContext,
		ResponseHeaderTimeout:  t.ResponseHeaderTimeout,
		MaxResponseHeaderBytes: t.MaxResponseHeaderBytes,
		MaxIdlePerTarget:       t.MaxIdleConnsPerHost,
		MaxIdle:                t.MaxIdleConns,
		IdleTimeout:            t.IdleConnTimeout,
		ReadBufferSize:         t.ReadBufferSize,
		WriteBufferSize:        t.WriteBufferSize,
	})
}

// CloseIdle closes the idle connections and every connection returned
// later: the client is being replaced (a config reload).
func (c *Client) CloseIdle() {
	c.mu.Lock()
	idle := c.idle
	c.idle = make(map[string][]*conn)
	c.nIdle = 0
	c.closed = true
	if c.sweeper != nil {
		c.sweeper.Stop()
		c.sweeper = nil
	}
	c.mu.Unlock()
	for _, cs := range idle {
		for _, pc := range cs {
			pc.nc.Close()
		}
	}
}

// conn is one connection to a target.
type conn struct {
	nc     net.Conn
	target string
	lr     limitReader
	br     *bufio.Reader
	bw     *bufio.Writer
	cw     countWriter
	idleAt time.Time
	used   bool // served a request before: a failure may be a stale connection
	broken atomic.Bool
	// unackedBound: the connection has the client's unacked timeout
	// (setUnackedTimeout); bodyUnbound: it was taken off for a request
	// body, and goes back on when the connection is idle again (put).
	unackedBound, bodyUnbound bool
}

// limitReader limits the bytes the response's header may take, as Go's
// transport does; the body is not limited.
type limitReader struct {
	nc    net.Conn
	limit int64
}

func (r *limitReader) Read(p []byte) (int, error) {
	if r.limit <= 0 {
		return 0, errHeaderTooLarge
	}
	if int64(len(p)) > r.limit {
		p = p[:r.limit]
	}
	n, err := r.nc.Read(p)
	r.limit -= int64(n)
	return n, err
}

var errHeaderTooLarge = errors.New("appproxy: the app's response header is too large")

// countWriter counts what reached the connection: a failed write that
// sent nothing may be retried with any method.
type countWriter struct {
	nc net.Conn
	n  atomic.Int64 // atomic: a request's body is written from a goroutine
}

func (w *countWriter) Write(p []byte) (int, error) {
	n, err := w.nc.Write(p)
	w.n.Add(int64(n))
	return n, err
}

const noLimit = 1<<63 - 1

// get returns an idle connection to target that the app has not closed,
// or a new one.
func (c *Client) get(ctx context.Context, target string, fresh bool) (*conn, error) {
	if !fresh {
		for {
			pc := c.popIdle(target)
			if pc == nil {
				break
			}
			if pc.alive() {
				return pc, nil
			}
			pc.nc.Close()
		}
	}
	nc, err := c.dial(ctx, "tcp", target)
	if err != nil {
		return nil, err
	}
	pc := &conn{nc: nc, target: target}
	if c.unackedTimeout > 0 {
		pc.unackedBound = setUnackedTimeout(nc, c.unackedTimeout) == nil
	}
	pc.lr.nc = nc
	pc.cw.nc = nc
	pc.br = bufio.NewReaderSize(&pc.lr, c.readBufSize)
	pc.bw = bufio.NewWriterSize(&pc.cw, c.writeBufSize)
	return pc, nil
}

func (c *Client) popIdle(target string) *conn {
	c.mu.Lock()
	defer c.mu.Unlock()
	cs := c.idle[target]
	for len(cs) > 0 {
		pc := cs[len(cs)-1]
		cs[len(cs)-1] = nil
		cs = cs[:len(cs)-1]
		c.nIdle--
		if time.Since(pc.idleAt) < c.idleTimeout {
			c.idle[target] = cs
			return pc
		}
		pc.nc.Close() // idle too long; the older ones below it too
		for _, old := range cs {
			old.nc.Close()
			c.nIdle--
		}
		cs = cs[:0]
	}
	if cs != nil && len(cs) == 0 {
		delete(c.idle, target)
	}
	return nil
}

// put returns pc to its target's idle pool, or closes it when the pool
// is full or the client closed.
func (c *Client) put(pc *conn) {
	if pc.broken.Load() || pc.br.Buffered() > 0 {
		// The app sent more than its response: the stream is not at a
		// message boundary.
		pc.nc.Close()
		return
	}
	pc.used = true
	pc.idleAt = time.Now()
	if pc.bodyUnbound {
		// The body is written and the answer read: nothing of it can
		// sit behind a shut window now.
		pc.unackedBound = setUnackedTimeout(pc.nc, c.unackedTimeout) == nil
		pc.bodyUnbound = false
	}
	c.mu.Lock()
	cs := c.idle[pc.target]
	if c.closed || len(cs) >= c.maxIdlePerTarget || (c.maxIdle > 0 && c.nIdle >= c.maxIdle) {
		c.mu.Unlock()
		pc.nc.Close()
		return
	}
	c.idle[pc.target] = append(cs, pc)
	c.nIdle++
	if c.sweeper == nil {
		c.sweeper = time.AfterFunc(c.idleTimeout, c.sweep)
	}
	c.mu.Unlock()
}

// sweep closes the connections idle longer than the idle timeout (an
// app's connections would otherwise outlive its container), and runs
// again while any are idle.
func (c *Client) sweep() {
	var stale []*conn
	c.mu.Lock()
	now := time.Now()
	for target, cs := range c.idle {
		// Oldest first: the pool is a stack.
		n := 0
		for n < len(cs) && now.Sub(cs[n].idleAt) >= c.idleTimeout {
			n++
		}
		if n == 0 {
			continue
		}
		stale = append(stale, cs[:n]...)
		rest := make([]*conn, len(cs)-n, cap(cs))
		copy(rest, cs[n:])
		if len(rest) == 0 {
			delete(c.idle, target)
		} else {
			c.idle[target] = rest
		}
		c.nIdle -= n
	}
	c.sweeper = nil
	if c.nIdle > 0 && !c.closed {
		c.sweeper = time.AfterFunc(c.idleTimeout/2, c.sweep)
	}
	c.mu.Unlock()
	for _, pc := range stale {
		pc.nc.Close()
	}
}

// errStale marks an idle connection the app closed (or wrote to) while
// it was idle.
var errStale = errors.New("appproxy: idle connection closed by the app")

// RoundTrip sends req (its URL's path and query, its Host, its headers
// as they are) to target and returns the response, whose body must be
// closed; got1xx, when set, is given the informational responses (not
// 101). A failure on a connection that had served requests before,
// before any byte of the response came, is retried once on a new
// connection when retryable says so.
func (c *Client) RoundTrip(req *http.Request, target string, got1xx func(int, textproto.MIMEHeader) error) (*http.Response, error) {
	ctx := req.Context()
	fresh := false
	for {
		pc, err := c.get(ctx, target, fresh)
		if err != nil {
			return nil, err
		}
		res, err := c.roundTrip(ctx, pc, req, got1xx)
		if err == nil {
			return res, nil
		}
		pc.nc.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		var rt *roundTripError
		if !fresh && pc.used && errors.As(err, &rt) && rt.retryable(req) {
			fresh = true
			continue
		}
		return nil, err
	}
}

// roundTripError is a failed round trip and how far it got.
type roundTripError struct {
	err error
	// nothingWritten: not one byte of the request reached the app.
	nothingWritten bool
	// noResponse: not one byte of the response came (the first read
	// failed).
	noResponse bool
	// bodyUnread: the request's body (if any) was not read from.
	bodyUnread bool
}

func (e *roundTripError) Error() string { return e.err.Error() }
func (e *roundTripError) Unwrap() error { return e.err }

// ErrUnreachable is a round trip's failure (errors.Is) when the
// target's host stopped acknowledging what was sent for the unacked
// timeout (the kernel's ETIMEDOUT): the host is gone, not just its app.
// The app may have acted on the request before it went, so only what
// may be sent twice is tried again, on another target.
var ErrUnreachable = errors.New("appproxy: the app's host stopped acknowledging (gone from the network?)")

// Is makes a kernel ETIMEDOUT an ErrUnreachable.
func (e *roundTripError) Is(target error) bool {
	return target == ErrUnreachable && errors.Is(e.err, syscall.ETIMEDOUT)
}

// Timeout keeps a timeout a net.Error for statusError (504).
func (e *roundTripError) Timeout() bool {
	var ne net.Error
	return errors.As(e.err, &ne) && ne.Timeout()
}

// retryable is Go's transport's rule (persistConn.shouldRetryRequest)
// for a connection that served requests before: a request of which
// nothing was written, whose body was not touched, is sent again with
// any method; one whose response never began only when it is
// idempotent with no body (GET, HEAD, OPTIONS, TRACE, or one with an
// Idempotency-Key): the app may have acted on it and closed the
// connection in the same instant as it would close an idle one.
func (e *roundTripError) retryable(req *http.Request) bool {
	if e.nothingWritten && e.bodyUnread {
		return true
	}
	// An app that did not answer in time is not a stale connection:
	// waiting for it again would double proxy_read_timeout.
	if !e.noResponse || e.Timeout() || (req.Body != nil && req.Body != http.NoBody) {
		return false
	}
	switch req.Method {
	case "", http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodTrace:
		return true
	}
	_, ok := req.Header["Idempotency-Key"]
	if !ok {
		_, ok = req.Header["X-Idempotency-Key"]
	}
	return ok
}

// errHeaderTimeout is the response-header timeout's error: a net.Error
// whose Timeout is true (a 504).
type errHeaderTimeout struct{}

func (errHeaderTimeout) Error() string {
	return "appproxy: timeout awaiting response headers (proxy_read_timeout)"
}
func (errHeaderTimeout) Timeout() bool   { return true }
func (errHeaderTimeout) Temporary() bool { return true }

// Temporary completes net.Error.
func (e *roundTripError) Temporary() bool { return false }

// maxInformational is how many 1xx responses one request may get (Go's
// transport's limit).
const maxInformational = 5

func (c *Client) roundTrip(ctx context.Context, pc *conn, req *http.Request, got1xx func(int, textproto.MIMEHeader) error) (*http.Response, error) {
	// A client that goes away closes the connection: a blocked read or
	// write returns, and the connection is not reused.
	stop := context.AfterFunc(ctx, func() {
		pc.broken.Store(true)
		pc.nc.Close()
	})
	fail := func(e *roundTripError) (*http.Response, error) {
		stop()
		pc.broken.Store(true)
		return nil, e
	}
	pc.cw.n.Store(0)
	pc.lr.limit = c.maxHeaderBytes
	var body *trackedBody
	var wrote chan error
	var headerDone atomic.Bool
	var deadlineMu sync.Mutex
	setHeaderDeadline := func() {
		if c.responseHeaderTimeout <= 0 {
			return
		}
		deadlineMu.Lock()
		if !headerDone.Load() {
			pc.nc.SetReadDeadline(time.Now().Add(c.responseHeaderTimeout))
		}
		deadlineMu.Unlock()
	}
	if req.Body == nil || req.Body == http.NoBody {
		err := req.Write(pc.bw)
		if err == nil {
			err = pc.bw.Flush()
		}
		if err != nil {
			return fail(&roundTripError{err: err, nothingWritten: pc.cw.n.Load() == 0, bodyUnread: true})
		}
		setHeaderDeadline()
	} else {
		// An app that reads a body slowly (an upload written to a slow
		// disk) closes its receive window, and the kernel counts the
		// time the window stays shut against the unacked timeout: while
		// a connection carries a body it has the kernel's own bound
		// (a syscall here and one in put). Not for a body of known
		// length up to smallBody on a connection that served a request
		// before: the app's kernel takes it into the socket's receive
		// buffer, emptied by the last exchange, and acknowledges it
		// whether or not the app reads, so no shut window can hold it,
		// and most requests with a body (forms, JSON) skip the two
		// syscalls. A new connection may sit in the app's accept queue,
		// or have been dropped from a full one, and nothing sent on it
		// is acknowledged until the app accepts it: a slow accept must
		// not fail a request that is not sent twice.
		small := pc.used && req.ContentLength > 0 && req.ContentLength <= smallBody
		if pc.unackedBound && !small {
			pc.unackedBound = setUnackedTimeout(pc.nc, 0) != nil
			pc.bodyUnbound = !pc.unackedBound
		}
		// The body is written from a goroutine: an app may answer (a
		// 413, a redirect) before reading it all, and the caller must
		// hear it.
		body = &trackedBody{rc: req.Body}
		out := *req
		out.Body = body
		wrote = make(chan error, 1)
		go func() {
			err := out.Write(pc.bw)
			if err == nil {
				err = pc.bw.Flush()
			}
			if err == nil {
				setHeaderDeadline()
			} else {
				// The app has the request's headers and part of its
				// body and waits for the rest, which will never come
				// (a malformed chunk, a body over request_body's
				// max_size): without this the caller would wait in
				// Peek with no deadline armed. Closing the connection
				// ends that wait at once, as Go's transport does on a
				// write error; a response already begun keeps its
				// connection until its body's Close, which does not
				// reuse it.
				deadlineMu.Lock()
				if !headerDone.Load() {
					pc.nc.Close()
				}
				deadlineMu.Unlock()
			}
			wrote <- err
		}()
	}
	// The write's error, if there was one, once the response failed.
	writeErr := func() error {
		if wrote == nil {
			return nil
		}
		select {
		case err := <-wrote:
			wrote <- err // for the body's Close
			return err
		case <-time.After(50 * time.Millisecond):
			return nil
		}
	}
	bodyUnread := func() bool { return body == nil || !body.detach() }
	if _, err := pc.br.Peek(1); err != nil {
		if errors.Is(err, io.EOF) && pc.used {
			err = errStale
		}
		if werr := writeErr(); werr != nil {
			err = werr
		}
		return fail(&roundTripError{err: c.headerErr(err), nothingWritten: pc.cw.n.Load() == 0, noResponse: true, bodyUnread: bodyUnread()})
	}
	var res *http.Response
	for n1xx := 0; ; n1xx++ {
		var err error
		res, err = http.ReadResponse(pc.br, req)
		if err != nil {
			if werr := writeErr(); werr != nil {
				err = werr
			}
			return fail(&roundTripError{err: c.headerErr(err), bodyUnread: bodyUnread()})
		}
		if res.StatusCode < 100 || res.StatusCode > 199 || res.StatusCode == http.StatusSwitchingProtocols {
			break
		}
		if n1xx >= maxInformational {
			bodyUnread()
			return fail(&roundTripError{err: errors.New("appproxy: too many 1xx informational responses")})
		}
		if got1xx != nil {
			if err := got1xx(res.StatusCode, textproto.MIMEHeader(res.Header)); err != nil {
				bodyUnread()
				return fail(&roundTripError{err: err})
			}
		}
		pc.lr.limit = c.maxHeaderBytes
	}
	deadlineMu.Lock()
	headerDone.Store(true)
	if c.responseHeaderTimeout > 0 {
		pc.nc.SetReadDeadline(time.Time{})
	}
	deadlineMu.Unlock()
	pc.lr.limit = noLimit
	reuse := !res.Close && !req.Close && res.StatusCode != http.StatusSwitchingProtocols
	rb := &respBody{rc: res.Body, pc: pc, c: c, stop: stop, reuse: reuse, wrote: wrote, reqBody: body}
	if res.Body == http.NoBody {
		rb.eof = true
	}
	res.Body = rb
	return res, nil
}

// headerErr names a read deadline that passed while the app had not
// begun its response as the response-header timeout.
func (c *Client) headerErr(err error) error {
	if c.responseHeaderTimeout > 0 && errors.Is(err, errDeadline) {
		return errHeaderTimeout{}
	}
	if err == io.EOF {
		return io.ErrUnexpectedEOF
	}
	return err
}

// errDeadline is what a read past its deadline returns.
var errDeadline = os.ErrDeadlineExceeded

// trackedBody is the request's body as the writing goroutine sees it:
// it says whether it was touched (an untouched body can be sent again),
// and once detached it is not read again, so that a retry or the
// server, not a writer that lost its connection, has the rest of it.
type trackedBody struct {
	rc       io.ReadCloser
	mu       sync.Mutex
	touched  bool
	detached bool
}

var errDetached = errors.New("appproxy: request abandoned")

func (b *trackedBody) Read(p []byte) (int, error) {
	b.mu.Lock()
	if b.detached {
		b.mu.Unlock()
		return 0, errDetached
	}
	b.touched = true
	b.mu.Unlock()
	return b.rc.Read(p)
}

func (b *trackedBody) Close() error {
	b.mu.Lock()
	detached := b.detached
	// A closed body cannot be sent again: Request.Write closes it when
	// the write fails, even with nothing read, so a retry must not
	// count it untouched.
	if !detached {
		b.touched = true
	}
	b.mu.Unlock()
	if detached {
		return nil
	}
	return b.rc.Close()
}

// detach stops further reads and says whether the body was touched.
func (b *trackedBody) detach() (touched bool) {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.detached = true
	return b.touched
}

// respBody is the app's response body: the connection goes back to the
// pool when it was read to its end and the response allows reuse;
// otherwise it is closed (closing Go's body unread would read the rest
// of it first).
type respBody struct {
	rc    io.ReadCloser
	pc    *conn
	c     *Client
	stop  func() bool
	reuse bool
	eof   bool
	done  bool
	wrote chan error
	// reqBody is the request's body while a goroutine writes it.
	reqBody *trackedBody
}

func (b *respBody) Read(p []byte) (int, error) {
	if b.eof {
		return 0, io.EOF
	}
	n, err := b.rc.Read(p)
	if err == io.EOF {
		b.eof = true
	} else if err != nil && b.pc.broken.Load() {
		err = fmt.Errorf("appproxy: reading the app's response: %w", context.Canceled)
	}
	return n, err
}

func (b *respBody) Close() error {
	if b.done {
		return nil
	}
	b.done = true
	// stop reports false when the client went away and the connection
	// was closed for it.
	stopped := b.stop()
	reuse := b.reuse && b.eof && stopped
	if reuse && b.wrote != nil {
		// The whole request must have been written before the
		// connection carries another (Go's transport waits as long).
		select {
		case err := <-b.wrote:
			reuse = err == nil
		case <-time.After(50 * time.Millisecond):
			reuse = false
		}
	}
	if !reuse {
		if b.reqBody != nil {
			b.reqBody.detach()
		}
		b.pc.broken.Store(true)
		b.pc.nc.Close()
		b.rc.Close()
		return nil
	}
	err := b.rc.Close() // at EOF: nothing left to read
	b.c.put(b.pc)
	return err
}
