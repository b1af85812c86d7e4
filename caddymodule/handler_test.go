package caddymodule

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/appmetrics"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
)

// An app's own Strict-Transport-Security header replaces Berth's; without
// one, Berth's is sent.
func TestHSTSWriterKeepsTheAppsOwnHeader(t *testing.T) {
	for _, tc := range []struct {
		name, upstream string
		want           []string
	}{
		{"app sends none", "", []string{"max-age=100"}},
		{"app sends its own", "max-age=5", []string{"max-age=5"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			rec := httptest.NewRecorder()
			rec.Header().Set(hstsHeader, "max-age=100")
			var w http.ResponseWriter = &hstsWriter{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: rec}, ours: "max-age=100"}
			// As the reverse proxy copies the upstream's headers: Add.
			if tc.upstream != "" {
				w.Header().Add(hstsHeader, tc.upstream)
			}
			w.WriteHeader(http.StatusOK)
			if got := rec.Result().Header.Values(hstsHeader); !slices.Equal(got, tc.want) {
				t.Errorf("Strict-Transport-Security %q, want %q", got, tc.want)
			}
		})
	}
}

// A login URL's token must not stay in Caddy's access log.
func TestDashboardLoginTokenSkipsTheAccessLog(t *testing.T) {
	for target, skip := range map[string]bool{
		"/login?token=abc": true,
		"/login":           false,
		"/apps/blog":       false,
	} {
		vars := map[string]any{}
		r := httptest.NewRequest("GET", "http://dash.example.test"+target, nil)
		r = r.WithContext(context.WithValue(r.Context(), caddyhttp.VarsCtxKey, vars))
		skipLoginTokenLog(r)
		if got, _ := vars[caddyhttp.LogSkipVar].(bool); got != skip {
			t.Errorf("%s: log_skip %v, want %v", target, got, skip)
		}
	}
}

func TestHandlerMetricsOption(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want *bool
		err  string
	}{
		{in: "berth", want: nil},
		{in: "berth {\n\tmetrics off\n}", want: new(bool)},
		{in: "berth {\n\tmetrics on\n}", want: func() *bool { b := true; return &b }()},
		{in: "berth {\n\tmetrics no\n}", err: `"no" is neither on nor off`},
		{in: "berth {\n\tmetrics\n}", err: "wrong argument count"},
		{in: "berth {\n\tmetrics off on\n}", err: "wrong argument count"},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case (h.Metrics == nil) != (tc.want == nil) || h.Metrics != nil && *h.Metrics != *tc.want:
			t.Errorf("%q: metrics %v, want %v", tc.in, h.Metrics, tc.want)
		}
	}
}

// The proxy path: berth (the default) or caddy; anything else is an
// error that names both.
func TestHandlerProxyOption(t *testing.T) {
	for _, tc := range []struct{ in, want, err string }{
		{in: "berth", want: ""},
		{in: "berth {\n\tproxy caddy\n}", want: ProxyCaddy},
		{in: "berth {\n\tproxy berth\n}", want: ProxyBerth},
		{in: "berth {\n\tproxy nginx\n}", err: `proxy "nginx" is neither berth (the default) nor caddy`},
		{in: "berth {\n\tproxy\n}", err: "wrong argument count"},
		{in: "berth {\n\tproxy caddy berth\n}", err: "wrong argument count"},
	} {
		var h Handler
		err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in))
		switch {
		case tc.err != "":
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want one with %q", tc.in, err, tc.err)
			}
		case err != nil:
			t.Errorf("%q: %v", tc.in, err)
		case h.Proxy != tc.want:
			t.Errorf("%q: proxy %q, want %q", tc.in, h.Proxy, tc.want)
		}
	}
}

// App requests go through Berth's own proxy (appproxy) unless the site
// says `proxy caddy`; Caddy's handler is there for upgrades either way.
func TestHandlerUsesBerthsProxyByDefault(t *testing.T) {
	// Caddy's handler provisions with a loaded config (it asks for the
	// events app): an empty one, admin endpoint off, not saved to disk.
	if err := caddy.Load([]byte(`{"admin":{"disabled":true,"config":{"persist":false}}}`), false); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { caddy.Stop() })
	for _, tc := range []struct {
		in   string
		lean bool
	}{
		{in: "berth", lean: true},
		{in: "berth {\n\tproxy berth\n}", lean: true},
		{in: "berth {\n\tproxy caddy\n}", lean: false},
	} {
		var h Handler
		if err := h.UnmarshalCaddyfile(caddyfile.NewTestDispenser(tc.in)); err != nil {
			t.Fatalf("%q: %v", tc.in, err)
		}
		ctx, cancel := caddy.NewContext(caddy.ActiveContext())
		if err := h.provision(ctx, &App{}); err != nil {
			cancel()
			t.Fatalf("%q: %v", tc.in, err)
		}
		if (h.lean != nil) != tc.lean || h.proxy == nil {
			t.Errorf("%q: Berth's proxy set %v (want %v), Caddy's handler set %v", tc.in, h.lean != nil, tc.lean, h.proxy != nil)
		}
		h.Cleanup()
		cancel()
	}
}

// With debug lines on, each failed proxy attempt is logged with its
// host, target, duration and error; without them there is no hook.
func TestAttemptLoggerOnlyAtDebug(t *testing.T) {
	var buf bytes.Buffer
	if f := attemptLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelInfo}))); f != nil {
		t.Error("a hook without debug lines: the proxy would time every attempt for nothing")
	}
	f := attemptLogger(slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug})))
	if f == nil {
		t.Fatal("no hook with debug lines on")
	}
	f(httptest.NewRequest("GET", "http://web.test/", nil), "10.0.0.7:5000", errors.New("connection refused"), 3*time.Millisecond)
	line := buf.String()
	for _, want := range []string{`msg="proxy attempt failed"`, "host=web.test", "target=10.0.0.7:5000", "took=3ms", `error="connection refused"`} {
		if !strings.Contains(line, want) {
			t.Errorf("log line %q lacks %s", line, want)
		}
	}
}

// A response the proxy aborts half way (the app's body failed after its
// 200 was sent) counts as an upstream error with a 502, not as a 200;
// one aborted because the client went away counts as Caddy's 499.
func TestObserveCountsAnAbortedResponseAsTheAppsFailure(t *testing.T) {
	for _, tc := range []struct {
		name       string
		abort      bool
		clientGone bool
		code       string
		upstream   float64
	}{
		{name: "served", code: "200"},
		{name: "app's body failed", abort: true, code: "502", upstream: 1},
		{name: "client went away", abort: true, clientGone: true, code: "499"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			set := appmetrics.New()
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			if tc.clientGone {
				cancel()
			}
			r := httptest.NewRequest("GET", "http://web.test/", nil).WithContext(ctx)
			// As ServeHTTP: observe deferred, the proxy's 200 written,
			// then the abort.
			func() {
				defer func() {
					if v := recover(); v != nil && v != http.ErrAbortHandler {
						panic(v)
					}
				}()
				var err error
				var proxied bool
				watch := &headerWatch{ResponseWriterWrapper: &caddyhttp.ResponseWriterWrapper{ResponseWriter: httptest.NewRecorder()}}
				defer observe(set.App("web"), watch, r, time.Now(), &err, &proxied)
				watch.WriteHeader(http.StatusOK)
				if tc.abort {
					panic(http.ErrAbortHandler)
				}
				proxied = true
			}()
			codes, upstream := gatherAppMetrics(t, set)
			if len(codes) != 1 || codes[tc.code] != 1 || upstream != tc.upstream {
				t.Errorf("requests by code %v, upstream errors %v; want one %s, %v", codes, upstream, tc.code, tc.upstream)
			}
		})
	}
}

// gatherAppMetrics reads the requests by code and the upstream errors
// the metrics endpoint would show.
func gatherAppMetrics(t *testing.T, set *appmetrics.Set) (codes map[string]float64, upstream float64) {
	t.Helper()
	reg := prometheus.NewRegistry()
	reg.MustRegister(set)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	codes = map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			switch mf.GetName() {
			case "berth_app_requests_total":
				for _, l := range m.GetLabel() {
					if l.GetName() == "code" {
						codes[l.GetValue()] += m.GetCounter().GetValue()
					}
				}
			case "berth_app_upstream_errors_total":
				upstream += m.GetCounter().GetValue()
			}
		}
	}
	return codes, upstream
}
