package caddymodule

import (
	"io"
	"net/http"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// countingTransport is Caddy's HTTP transport with in-flight accounting:
// every request counts against its upstream address until its response
// body is closed, which for a stream or an upgraded (websocket)
// connection is when it ends. Deploys read the counts to drain old
// containers before stopping them.
type countingTransport struct {
	*reverseproxy.HTTPTransport
	app *App
}

func (t *countingTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	info, ok := reverseproxy.GetDialInfo(req.Context())
	c := t.app.core.Load()
	if !ok || c == nil {
		return t.HTTPTransport.RoundTrip(req)
	}
	done := c.table.InFlight.Begin(info.Address)
	resp, err := t.HTTPTransport.RoundTrip(req)
	if err != nil {
		done()
		return nil, err
	}
	// The proxy hijacks an upgraded connection through the body, which
	// must then stay an io.ReadWriteCloser.
	if rwc, ok := resp.Body.(io.ReadWriteCloser); ok {
		resp.Body = &countedReadWriteCloser{ReadWriteCloser: rwc, done: done}
	} else {
		resp.Body = &countedBody{ReadCloser: resp.Body, done: done}
	}
	return resp, nil
}

type countedBody struct {
	io.ReadCloser
	done func()
}

func (b *countedBody) Close() error {
	defer b.done()
	return b.ReadCloser.Close()
}

type countedReadWriteCloser struct {
	io.ReadWriteCloser
	done func()
}

func (b *countedReadWriteCloser) Close() error {
	defer b.done()
	return b.ReadWriteCloser.Close()
}

var (
	_ http.RoundTripper  = (*countingTransport)(nil)
	_ caddy.CleanerUpper = (*countingTransport)(nil)
)
