package caddymodule

import (
	"context"
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"

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
