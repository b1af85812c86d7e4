package appproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"
)

// BenchmarkProxy prices one small keep-alive request through appproxy
// (the handler's work: prepare, the round trip, finalize) with its own
// client and with Go's transport, against a net/http app in the same
// process: go test -run '^$' -bench Proxy -benchmem ./appproxy
func BenchmarkProxy(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "streamapp\n")
	}))
	defer app.Close()
	for _, kind := range []string{"client", "gotransport"} {
		b.Run(kind, func(b *testing.B) {
			tr := http.DefaultTransport.(*http.Transport).Clone()
			tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
			defer tr.CloseIdleConnections()
			cfg := Config{Transport: tr, Targets: func(*http.Request) []string { return []string{addr(app)} }}
			if kind == "client" {
				cfg.Client = ClientFromTransport(tr)
				defer cfg.Client.CloseIdle()
			}
			p := New(cfg)
			b.ReportAllocs()
			b.RunParallel(func(pb *testing.PB) {
				r := httptest.NewRequest("GET", "http://web.test/", nil)
				r.RemoteAddr = "192.0.2.1:1234"
				r.Header.Set("User-Agent", "bench")
				r.Header.Set("Accept", "*/*")
				for pb.Next() {
					w := httptest.NewRecorder()
					if err := p.ServeHTTP(w, r); err != nil || w.Code != 200 {
						b.Fatal(w.Code, err)
					}
				}
			})
		})
	}
}

// BenchmarkUnackedTimeout prices the unacked timeout and its keepalive
// probes (DefaultUnackedTimeout) against the kernel's bounds
// (UnackedTimeout -1), per kind of request: a GET on a kept-alive
// connection (no socket option per request), a POST with a small body of
// known length (none either: such a body keeps the timeout on a
// connection that served a request before), a POST with a chunked body
// (the timeout taken off for the body and put back: two setsockopt calls
// per request) and a GET on a new connection each time (the app closes
// it: the options set on every dial). The ratio that matters is "on" against
// "off" of the same kind, from one run with -count so that they
// alternate:
//
//	go test -run '^$' -bench UnackedTimeout -benchmem -count 5 ./appproxy
func BenchmarkUnackedTimeout(b *testing.B) {
	app := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		io.Copy(io.Discard, r.Body)
		if r.URL.Path == "/close" {
			w.Header().Set("Connection", "close")
		}
		w.Header().Set("Content-Type", "text/plain")
		io.WriteString(w, "streamapp\n")
	}))
	defer app.Close()
	kinds := []struct {
		name, method, path, body string
		chunked                  bool // the body of no known length
	}{
		{"get-kept-alive", "GET", "/", "", false},
		{"post-body", "POST", "/", `{"name":"berth","size":64}`, false},
		{"post-chunked", "POST", "/", `{"name":"berth","size":64}`, true},
		{"get-new-connection", "GET", "/close", "", false},
	}
	for _, k := range kinds {
		for _, timeout := range []struct {
			name string
			d    time.Duration
		}{{"on", 0}, {"off", -1}} {
			b.Run(k.name+"/"+timeout.name, func(b *testing.B) {
				tr := http.DefaultTransport.(*http.Transport).Clone()
				tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
				client := NewClient(ClientConfig{Dial: tr.DialContext, MaxIdlePerTarget: 256, MaxIdle: 1024, UnackedTimeout: timeout.d})
				defer client.CloseIdle()
				p := New(Config{Transport: tr, Client: client, Targets: func(*http.Request) []string { return []string{addr(app)} }})
				b.ReportAllocs()
				b.RunParallel(func(pb *testing.PB) {
					for pb.Next() {
						var body io.Reader
						if k.body != "" {
							body = strings.NewReader(k.body)
						}
						if k.chunked {
							body = io.MultiReader(body)
						}
						r := httptest.NewRequest(k.method, "http://web.test"+k.path, body)
						r.RemoteAddr = "192.0.2.1:1234"
						w := httptest.NewRecorder()
						if err := p.ServeHTTP(w, r); err != nil || w.Code != 200 {
							b.Fatal(w.Code, err)
						}
					}
				})
			})
		}
	}
}
