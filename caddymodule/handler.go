package caddymodule

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/routing"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("berth", parseHandlerCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("berth", httpcaddyfile.Before, "reverse_proxy")
}

// Handler serves every Berth app: it proxies a request to the app whose
// domain the Host names, and answers 404 for a host no app serves, so a
// request never reaches another app. The proxying is Caddy's own
// reverse_proxy with the `berth` upstream source.
//
// A request for an app that has no ready container (a restart in
// progress) is held for TryDuration while the proxy looks for one, and
// then answered 503 with a page that says the app is down; a container
// that refuses or drops the connection gets a 502 page, one that does not
// answer in time a 504 page (errorpage.go).
type Handler struct {
	// TryDuration is how long a request may wait for a ready container.
	// Default: 5s.
	TryDuration caddy.Duration `json:"try_duration,omitempty"`

	// StreamCloseDelay is how long upgraded connections (websockets) and
	// other streams outlive a config reload. Caddy closes them at once by
	// default, which makes a `caddy reload` cut every websocket (measured
	// by bench/). Default: 5m.
	StreamCloseDelay caddy.Duration `json:"stream_close_delay,omitempty"`

	// Metrics counts each app's requests for Caddy's metrics endpoint
	// (berth_app_*) and the dashboard's plots. Caddyfile: `metrics off`.
	// Default: on (bench/ measures what it costs).
	Metrics *bool `json:"metrics,omitempty"`

	app   *App
	proxy *reverseproxy.Handler
}

// CaddyModule returns the Caddy module information.
func (Handler) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.handlers.berth",
		New: func() caddy.Module { return new(Handler) },
	}
}

// Defaults of the handler's options.
const (
	// DefaultTryDuration is how long a request waits for an app container.
	DefaultTryDuration = 5 * time.Second
	// DefaultStreamCloseDelay is how long streams outlive a config reload.
	DefaultStreamCloseDelay = 5 * time.Minute
	// DefaultProxyReadTimeout is how long an app's response may take to
	// begin (the berth option proxy_read_timeout): Dokku's nginx default.
	DefaultProxyReadTimeout = 60 * time.Second
)

// Provision finds the berth app and sets up the inner reverse proxy.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := berthApp(ctx)
	if err != nil {
		return err
	}
	h.app = app
	if h.TryDuration == 0 {
		h.TryDuration = caddy.Duration(DefaultTryDuration)
	}
	if h.StreamCloseDelay == 0 {
		h.StreamCloseDelay = caddy.Duration(DefaultStreamCloseDelay)
	}
	// An app that never answers would hold the visitor (and a connection
	// to it) for ever; Dokku's nginx gives up after proxy-read-timeout,
	// and so does Berth, with the 504 page.
	readTimeout := DefaultProxyReadTimeout
	if app.ProxyReadTimeout != nil {
		readTimeout = time.Duration(*app.ProxyReadTimeout)
	}
	// Idle upstream connections per host: Caddy's default is 32, so more
	// concurrent clients than that on one app would open and close an
	// upstream connection per request. 256 covers what one app on one
	// host sees; nginx's keepalive cache is per worker and unbounded in
	// this sense (it closes above its own count too).
	transport := &reverseproxy.HTTPTransport{KeepAlive: &reverseproxy.KeepAlive{MaxIdleConnsPerHost: 256, MaxIdleConns: 1024},
		ResponseHeaderTimeout: caddy.Duration(readTimeout)}
	if err := transport.Provision(ctx); err != nil {
		return err
	}
	h.proxy = &reverseproxy.Handler{
		Transport:           &countingTransport{HTTPTransport: transport, app: app},
		DynamicUpstreamsRaw: json.RawMessage(`{"source":"berth"}`),
		StreamCloseDelay:    h.StreamCloseDelay,
		LoadBalancing: &reverseproxy.LoadBalancing{
			TryDuration: h.TryDuration,
			TryInterval: caddy.Duration(100 * time.Millisecond),
		},
	}
	return h.proxy.Provision(ctx)
}

// Cleanup releases the inner proxy.
func (h *Handler) Cleanup() error {
	if h.proxy != nil {
		return h.proxy.Cleanup()
	}
	return nil
}

// ServeHTTP proxies to the app the Host names, or answers 404.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request, next caddyhttp.Handler) error {
	table, err := h.app.routes(r.Context())
	if err != nil {
		return caddyhttp.Error(http.StatusServiceUnavailable, err)
	}
	// The dashboard's host is Berth's own (no app can take it).
	if c := h.app.core.Load(); c != nil && c.dashboard.Serves(r.Host) {
		skipLoginTokenLog(r)
		c.dashboard.ServeHTTP(w, r)
		return nil
	}
	// So is the registry's: swarm apps' images for the swarm's nodes.
	if c := h.app.core.Load(); c != nil && c.registry.Serves(r.Host) {
		c.registry.ServeHTTP(w, r)
		return nil
	}
	route, ok := table.Match(r.Host)
	if !ok || route.Disabled { // a disabled app's hosts are its, unserved
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		w.Header().Set("X-Content-Type-Options", "nosniff")
		w.WriteHeader(http.StatusNotFound)
		fmt.Fprintf(w, "404: no app is served at %s\n", routing.NormalizeHost(r.Host))
		return nil
	}
	// HSTS only over HTTPS: browsers ignore it on plain HTTP, and a
	// response there must not pin a name that has no certificate yet.
	// It is set before proxying, so that Caddy's own error responses (a
	// 502 while the app is down) carry it too; an app that sends its own
	// header keeps it alone (hstsWriter).
	if r.TLS != nil {
		if c := h.app.core.Load(); c != nil {
			if v := c.certs.HSTSHeader(r.Context(), route.App); v != "" {
				w.Header().Set(hstsHeader, v)
				w = &hstsWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}, ours: v}
			}
		}
	}
	watch := &headerWatch{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: w}}
	if h.Metrics == nil || *h.Metrics {
		// The app's name is the routing table's, never the Host's: the
		// metrics' labels stay bounded by the apps there are.
		if c := h.app.core.Load(); c != nil {
			defer observe(c.metrics.App(route.App), watch, time.Now(), &err)
		}
	}
	err = h.proxy.ServeHTTP(watch, r, next)
	var he caddyhttp.HandlerError
	if err == nil || watch.wrote || !errors.As(err, &he) {
		return err
	}
	page, ok := pageFor(route.App, he.StatusCode, he.Err)
	if !ok {
		return err
	}
	// The page's status is the request's, for the metrics.
	watch.status = he.StatusCode
	// The cause is for the log, not for the visitor.
	h.app.log.Debug("app unavailable", "app", route.App, "status", he.StatusCode, "error", he.Err)
	page.write(w, r)
	return nil
}

// observe counts a proxied request in its app's metrics: the status
// code sent (or the one Caddy sends for the error returned), how long it
// took, and whether the proxy failed to complete it with a container.
func observe(m *appmetrics.App, watch *headerWatch, start time.Time, errp *error) {
	code := watch.status
	var he caddyhttp.HandlerError
	if err := *errp; err != nil {
		if code == 0 {
			code = http.StatusInternalServerError
			if errors.As(err, &he) && he.StatusCode != 0 {
				code = he.StatusCode
			}
		}
	}
	if code == 0 {
		code = http.StatusOK // nothing written: Caddy sends an empty 200
	}
	// A client that went away (Caddy's 499) is not the app's failure.
	if *errp != nil && code != 499 {
		m.UpstreamError()
	}
	m.Observe(code, time.Since(start))
}

const hstsHeader = "Strict-Transport-Security"

// hstsWriter drops Berth's Strict-Transport-Security header from a
// response whose app sent its own: the proxy adds the upstream's headers
// to those already set, and a browser given two uses only the first.
type hstsWriter struct {
	*caddyhttp.ResponseWriterWrapper
	ours string
}

func (w *hstsWriter) WriteHeader(status int) {
	if vs := w.Header().Values(hstsHeader); len(vs) > 1 && vs[0] == w.ours {
		w.Header()[hstsHeader] = vs[1:]
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

// UnmarshalCaddyfile sets up the handler from Caddyfile tokens:
//
//	berth {
//		try_duration 5s
//		stream_close_delay 5m
//		metrics on|off
//	}
func (h *Handler) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // directive name
	if d.NextArg() {
		return d.ArgErr()
	}
	for d.NextBlock(0) {
		switch d.Val() {
		case "try_duration", "stream_close_delay":
			opt := d.Val()
			if !d.NextArg() {
				return d.ArgErr()
			}
			dur, err := caddy.ParseDuration(d.Val())
			if err != nil {
				return d.Errf("%s: %v", opt, err)
			}
			if opt == "try_duration" {
				h.TryDuration = caddy.Duration(dur)
			} else {
				h.StreamCloseDelay = caddy.Duration(dur)
			}
		case "metrics":
			if !d.NextArg() {
				return d.ArgErr()
			}
			on := d.Val() == "on"
			if !on && d.Val() != "off" {
				return d.Errf("metrics: %q is neither on nor off", d.Val())
			}
			if d.NextArg() {
				return d.ArgErr()
			}
			h.Metrics = &on
		default:
			return d.Errf("unknown berth handler option %q", d.Val())
		}
	}
	return nil
}

func parseHandlerCaddyfile(h httpcaddyfile.Helper) (caddyhttp.MiddlewareHandler, error) {
	var handler Handler
	err := handler.UnmarshalCaddyfile(h.Dispenser)
	return &handler, err
}

// berthApp returns the config's berth app.
func berthApp(ctx caddy.Context) (*App, error) {
	v, err := ctx.App("berth")
	if err != nil {
		return nil, fmt.Errorf("berth app: %w", err)
	}
	return v.(*App), nil
}

// Upstreams is the reverse_proxy upstream source `berth`
// (`reverse_proxy { dynamic berth }`): the ready containers of the app
// whose domain the request's Host names. It reads the in-memory routing
// table on every request; no config reload is ever needed.
type Upstreams struct {
	app *App
}

// CaddyModule returns the Caddy module information.
func (Upstreams) CaddyModule() caddy.ModuleInfo {
	return caddy.ModuleInfo{
		ID:  "http.reverse_proxy.upstreams.berth",
		New: func() caddy.Module { return new(Upstreams) },
	}
}

func init() { caddy.RegisterModule(Upstreams{}) }

// Provision finds the berth app.
func (u *Upstreams) Provision(ctx caddy.Context) error {
	app, err := berthApp(ctx)
	u.app = app
	return err
}

// GetUpstreams returns fresh upstreams on every call: Caddy fills them in
// place, so they must not be shared between requests.
func (u *Upstreams) GetUpstreams(r *http.Request) ([]*reverseproxy.Upstream, error) {
	var table *routing.Table
	if c := u.app.core.Load(); c != nil {
		// Started: no context with a timer per request (issue 16 profile).
		table = c.table
	} else {
		ctx, cancel := context.WithTimeout(r.Context(), 10*time.Second)
		defer cancel()
		var err error
		if table, err = u.app.routes(ctx); err != nil {
			return nil, err
		}
	}
	route, ok := table.Match(r.Host)
	if !ok || route.Disabled {
		return nil, nil
	}
	ups := make([]*reverseproxy.Upstream, len(route.Targets))
	for i, t := range route.Targets {
		ups[i] = &reverseproxy.Upstream{Dial: t}
	}
	return ups, nil
}

// UnmarshalCaddyfile reads `dynamic berth`, which takes no options.
func (u *Upstreams) UnmarshalCaddyfile(d *caddyfile.Dispenser) error {
	d.Next() // source name
	if d.NextArg() {
		return d.ArgErr()
	}
	if d.NextBlock(0) {
		return d.Err("the berth upstream source takes no options")
	}
	return nil
}

// Interface guards
var (
	_ caddyhttp.MiddlewareHandler = (*Handler)(nil)
	_ caddy.Provisioner           = (*Handler)(nil)
	_ caddy.CleanerUpper          = (*Handler)(nil)
	_ caddyfile.Unmarshaler       = (*Handler)(nil)
	_ reverseproxy.UpstreamSource = (*Upstreams)(nil)
	_ caddy.Provisioner           = (*Upstreams)(nil)
	_ caddyfile.Unmarshaler       = (*Upstreams)(nil)
)

// skipLoginTokenLog keeps a dashboard login URL out of Caddy's access log
// (when the site has one): its token signs a browser in until it is used,
// and a log line would keep it for whoever reads the logs. The dashboard
// logs the request itself, without the token; the POST that uses the
// token carries it in its body, which access logs do not keep.
func skipLoginTokenLog(r *http.Request) {
	if r.URL.Path == "/login" && r.URL.Query().Has("token") {
		caddyhttp.SetVar(r.Context(), caddyhttp.LogSkipVar, true)
	}
}
