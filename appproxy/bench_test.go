package appproxy

import (
	"io"
	"net/http"
	"net/http/httptest"
	"testing"
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
