package caddymodule

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/caddyconfig/httpcaddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/berth-paas/berth/appproxy"
	"github.com/berth-paas/berth/routing"
)

func init() {
	caddy.RegisterModule(Handler{})
	httpcaddyfile.RegisterHandlerDirective("berth", parseHandlerCaddyfile)
	httpcaddyfile.RegisterDirectiveOrder("berth", httpcaddyfile.Before, "reverse_proxy")
}

// Handler serves every Berth app: it proxies a request to the app whose
// domain the Host names, and answers 404 for a host no app serves, so a
// request never reaches another app. The proxying is Berth's own lean
// proxy (appproxy: what Caddy's reverse_proxy sends and answers, without
// its per-request costs, issue 16); protocol upgrades (websockets) go
// through Caddy's reverse_proxy with the `berth` upstream source, which
// keeps them open across reloads. `proxy caddy` sends every request
// through Caddy's, for comparison (bench/).
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

	// Proxy is the proxy path: "berth" (Berth's own, appproxy) or
	// "caddy" (Caddy's reverse_proxy handler for every request, as
	// before issue 16: kept to measure one against the other).
	// Default: berth.
	Proxy string `json:"proxy,omitempty"`

	app   *App
	proxy *reverseproxy.Handler
	// lean is Berth's own proxy, client its upstream connections; nil
	// with `proxy caddy`.
	lean   *appproxy.Proxy
	client *appproxy.Client
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
	// tryInterval is the wait between attempts while a request is held.
	tryInterval = 100 * time.Millisecond
	// dialTimeout bounds a dial to a container or task (Caddy's default:
	// 3 s). A dial that works takes one round trip (under a millisecond
	// on a bridge or a LAN); Linux resends a lost SYN after 1 s, so 1.5 s
	// still lets one be lost on a path of up to 500 ms. A dial to a node
	// cut off the network never answers: each one costs this long, and a
	// request that meets three dead targets in a row still fits in
	// DefaultTryDuration (measured with 3 s: two in a row, 6 s, failed
	// requests; docs/SCALING.md).
	dialTimeout = 1500 * time.Millisecond
)

// The proxy paths (the handler's proxy option).
const (
	ProxyBerth = "berth"
	ProxyCaddy = "caddy"
)

// checkProxy says what to do about a proxy option Berth does not know.
func checkProxy(v string) error {
	switch v {
	case "", ProxyBerth, ProxyCaddy:
		return nil
	}
	return fmt.Errorf("berth handler: proxy %q is neither %s (the default) nor %s", v, ProxyBerth, ProxyCaddy)
}

// Provision finds the berth app and sets up the inner reverse proxy.
func (h *Handler) Provision(ctx caddy.Context) error {
	app, err := berthApp(ctx)
	if err != nil {
		return err
	}
	return h.provision(ctx, app)
}

// provision sets up the proxy paths for app (Provision without the
// lookup of the berth app, which a unit test cannot load).
func (h *Handler) provision(ctx caddy.Context, app *App) error {
	h.app = app
	if err := checkProxy(h.Proxy); err != nil {
		return err
	}
	if h.Proxy == "" {
		h.Proxy = ProxyBerth
	}
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
		DialTimeout: caddy.Duration(dialTimeout), ResponseHeaderTimeout: caddy.Duration(readTimeout)}
	if err := transport.Provision(ctx); err != nil {
		return err
	}
	h.proxy = &reverseproxy.Handler{
		Transport: &countingTransport{HTTPTransport: transport, app: app},
		// The berth upstream source, given directly rather than loaded
		// as the module (`{"source":"berth"}`), whose Provision would
		// look the app up again.
		DynamicUpstreams: &Upstreams{app: app},
		StreamCloseDelay: h.StreamCloseDelay,
		LoadBalancing: &reverseproxy.LoadBalancing{
			TryDuration: h.TryDuration,
			TryInterval: caddy.Duration(tryInterval),
		},
	}
	if err := h.proxy.Provision(ctx); err != nil {
		return err
	}
	if h.Proxy == ProxyBerth {
		// appproxy's own client (issue 16: Go's transport was most of
		// its cost) with the settings of Caddy's transport: the same
		// dialer (its DialError tells a failed dial), timeouts and
		// idle counts. Its pool is its own.
		h.client = appproxy.ClientFromTransport(transport.Transport)
		cfg := appproxy.Config{
			Transport:   transport.Transport,
			Client:      h.client,
			Targets:     h.targets,
			InFlight:    h.inFlight,
			TryDuration: time.Duration(h.TryDuration),
			TryInterval: tryInterval,
		}
		cfg.AttemptFailed = attemptLogger(app.log)
		h.lean = appproxy.New(cfg)
	}
	return nil
}

// attemptLogger logs each failed proxy attempt (a dial the app refused,
// a container gone under a request) with its duration at debug level:
// what a request that was slow to reach a new container met on the way.
// It is nil, and the proxy pays nothing, when log does not log debug
// lines (Caddy's `debug` global option turns them on).
func attemptLogger(log *slog.Logger) func(r *http.Request, target string, err error, took time.Duration) {
	if log == nil || !log.Enabled(context.Background(), slog.LevelDebug) {
		return nil
	}
	return func(r *http.Request, target string, err error, took time.Duration) {
		log.Debug("proxy attempt failed", "host", r.Host, "target", target, "took", took, "error", err)
	}
}

// targets are the ready containers of the app r's Host names (none for
// a host no app serves or a disabled app).
func (h *Handler) targets(r *http.Request) []string {
	c := h.app.core.Load()
	if c == nil {
		return nil // ServeHTTP waited for the start: not reached
	}
	route, ok := c.table.Match(r.Host)
	if !ok || route.Disabled {
		return nil
	}
	return route.Targets
}

// inFlight counts a request against its container for drains (what
// countingTransport does on Caddy's path).
func (h *Handler) inFlight(addr string) func() {
	if c := h.app.core.Load(); c != nil {
		return c.table.InFlight.Begin(addr)
	}
	return func() {}
}

// Cleanup releases the inner proxy.
func (h *Handler) Cleanup() error {
	if h.client != nil {
		h.client.CloseIdle()
	}
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
	// proxied is set once the proxy returns: a deferred observe that
	// finds it unset runs for a response the proxy aborted half way.
	var proxied bool
	if h.Metrics == nil || *h.Metrics {
		// The app's name is the routing table's, never the Host's: the
		// metrics' labels stay bounded by the apps there are.
		if c := h.app.core.Load(); c != nil {
			defer observe(c.metrics.App(route.App), watch, r, time.Now(), &err, &proxied)
		}
	}
	if h.lean != nil && !appproxy.IsUpgrade(r) {
		err = h.lean.ServeHTTP(watch, r)
	} else {
		err = h.proxy.ServeHTTP(watch, r, next)
	}
	proxied = true
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
// With proxied unset, the proxy did not return: both paths abort a
// response whose body failed half way (panic(http.ErrAbortHandler))
// after sending the app's status, so the status sent says nothing; it
// counts as what it is, an upstream failure (502), unless the client
// went away (Caddy's 499: a failed write to it aborts too).
func observe(m *appmetrics.App, watch *headerWatch, r *http.Request, start time.Time, errp *error, proxied *bool) {
	if !*proxied {
		code := http.StatusBadGateway
		if r.Context().Err() != nil {
			code = 499
		} else {
			m.UpstreamError()
		}
		m.Observe(code, time.Since(start))
		return
	}
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
//		proxy berth|caddy
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
		case "proxy":
			if !d.NextArg() {
				return d.ArgErr()
			}
			if err := checkProxy(d.Val()); err != nil {
				return d.Err(err.Error())
			}
			h.Proxy = d.Val()
			if d.NextArg() {
				return d.ArgErr()
			}
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
