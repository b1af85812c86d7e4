package caddymodule

import (
	"bytes"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// FuzzAdminRequests sends the admin API's JSON shorthand routes any app in
// the path and any body, through the same patterns as the real mux, and
// checks the command line each request stands for: the app it names is
// the path's, and valid; nothing from the path or body becomes a flag;
// every config var and quantity arrives as given, or the request is
// refused with no command at all.
func FuzzAdminRequests(f *testing.F) {
	f.Add(uint8(5), "blog", []byte(`{"GREETING": "hi there", "MODE": "a=b"}`))
	f.Add(uint8(5), "--global", []byte(`{"A": "b"}`))
	f.Add(uint8(5), "blog", []byte(`{"--global": "x"}`))
	f.Add(uint8(6), "blog", []byte(`{"web": 2, "worker": 0}`))
	f.Add(uint8(6), "blog", []byte(`{"web": 2.5}`))
	f.Add(uint8(6), "blog", []byte(`{"web": 1e300}`))
	f.Add(uint8(6), "blog", []byte(`{"--format": 1}`))
	f.Add(uint8(9), "blog", []byte(`{"version": 3}`))
	f.Add(uint8(9), "blog", []byte(`{"version": "--help"}`))
	f.Add(uint8(1), "", []byte(`{"name": "--force"}`))
	f.Add(uint8(3), "-x", []byte(``))
	f.Add(uint8(2), "a/b", []byte(`null`))
	f.Fuzz(func(t *testing.T, which uint8, app string, body []byte) {
		rt := restRoutes[int(which)%len(restRoutes)]
		method, pattern, _ := strings.Cut(rt.pattern, " ")
		target := strings.ReplaceAll(pattern, "{app}", url.PathEscape(app))
		mux := http.NewServeMux()
		handled := false
		mux.HandleFunc(rt.pattern, func(w http.ResponseWriter, r *http.Request) {
			handled = true
			check(t, rt, r, body)
		})
		req, err := http.NewRequest(method, "http://admin"+target, bytes.NewReader(body))
		if err != nil {
			return
		}
		mux.ServeHTTP(httptest.NewRecorder(), req)
		if !handled && strings.Contains(pattern, "{app}") && platform.ValidateAppName(app) == nil {
			t.Fatalf("%s %s did not reach its route", method, target)
		}
	})
}

func check(t *testing.T, rt restRoute, r *http.Request, raw []byte) {
	body, err := decodeBody(r)
	if err != nil {
		if body != nil {
			t.Fatalf("%s: refused (%v) but decoded %v", raw, err, body)
		}
		return
	}
	args, err := commandFor(rt, r, body)
	if err != nil {
		if args != nil {
			t.Fatalf("%s %s: refused (%v) but gave %q", rt.pattern, raw, err, args)
		}
		return
	}
	if len(args) == 0 {
		t.Fatalf("%s: no command", rt.pattern)
	}
	rest := args[1:]
	if strings.Contains(rt.pattern, "{app}") {
		app := r.PathValue("app")
		if len(args) < 2 || args[1] != app || platform.ValidateAppName(app) != nil {
			t.Fatalf("%s for app %q gave %q", rt.pattern, app, args)
		}
		rest = args[2:]
	}
	for _, a := range rest {
		if strings.HasPrefix(a, "-") && !slices.Contains([]string{"--format", "--force"}, a) {
			t.Fatalf("%s %s gave the flag %q: %q", rt.pattern, raw, a, args)
		}
	}
	switch args[0] {
	case "apps:create":
		if platform.ValidateAppName(args[1]) != nil {
			t.Fatalf("creates app %q", args[1])
		}
	case "config:set", "ps:scale":
		if len(rest) != len(body) {
			t.Fatalf("%s: %d entries became %q", raw, len(body), rest)
		}
		for _, a := range rest {
			k, v, _ := strings.Cut(a, "=")
			want, ok := body[k]
			if n, isNum := want.(float64); isNum {
				want = fmt.Sprintf("%d", int64(n))
				if float64(int64(n)) != n {
					t.Fatalf("%s: quantity %v became %q", raw, n, a)
				}
			}
			if !ok || want != v {
				t.Fatalf("%s: %q is not what the body says (%v)", raw, a, body[k])
			}
		}
	}
}
