package docker

import (
	"context"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// A node engine's client goes straight to the engine, whatever proxy
// Berth's environment names: the engine API is root on its node. The
// engine is an httptest TLS server, reached by its certificate's name
// (example.com) through nodeDial; any other address (the proxy's) is
// refused. Go never proxies a loopback address, hence the name.
func TestConnectNodeIgnoresTheEnvironmentsProxy(t *testing.T) {
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Api-Version", "1.44")
		switch {
		case strings.HasSuffix(r.URL.Path, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(r.URL.Path, "/info"):
			w.Header().Set("Content-Type", "application/json")
			w.Write([]byte(`{"Swarm":{"NodeID":"node-1"}}`))
		default:
			http.NotFound(w, r)
		}
	}))
	defer srv.Close()
	dir := t.TempDir()
	cert := srv.TLS.Certificates[0]
	key, err := x509.MarshalPKCS8PrivateKey(cert.PrivateKey)
	if err != nil {
		t.Fatal(err)
	}
	for f, b := range map[string][]byte{
		TLSCAFile:   pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		TLSCertFile: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Certificate[0]}),
		TLSKeyFile:  pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: key}),
	} {
		if err := os.WriteFile(filepath.Join(dir, f), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	defer func(d func(context.Context, string, string) (net.Conn, error)) { nodeDial = d }(nodeDial)
	var dialed []string
	nodeDial = func(ctx context.Context, network, addr string) (net.Conn, error) {
		dialed = append(dialed, addr)
		if addr != "example.com:2376" {
			return nil, errors.New("refused: not the engine")
		}
		return (&net.Dialer{}).DialContext(ctx, network, srv.Listener.Addr().String())
	}
	t.Setenv("HTTPS_PROXY", "http://127.0.0.1:1")
	t.Setenv("HTTP_PROXY", "http://127.0.0.1:1")
	t.Setenv("NO_PROXY", "")
	c, err := ConnectNode(context.Background(), "tcp://example.com:2376", dir)
	if err != nil {
		t.Fatalf("connect (dialed %v): %v", dialed, err)
	}
	defer c.Close()
	if id, err := c.SwarmNodeID(context.Background()); err != nil || id != "node-1" {
		t.Fatalf("node %q, %v (dialed %v)", id, err, dialed)
	}
}
