package tests

import (
	"context"
	"crypto/subtle"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-paas/berth/internal/berthtest"
	"github.com/distribution/distribution/v3/configuration"
	"github.com/distribution/distribution/v3/registry/handlers"
	"github.com/rogpeppe/go-internal/testscript"
	"github.com/sirupsen/logrus"

	// The filesystem driver registers itself with the factory NewApp
	// reads its configuration through.
	_ "github.com/distribution/distribution/v3/registry/storage/driver/filesystem"
)

// userRegistry is a registry of a user's own, the kind registry:set
// names: the distribution project's registry (what most self-hosted
// registries run) behind basic auth of one user, as an htpasswd-protected
// registry answers. It keeps a line per request for the script.
type userRegistry struct {
	app        *handlers.App
	user, pass string

	mu       sync.Mutex
	requests []string
}

func (u *userRegistry) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	rec := &statusRecorder{ResponseWriter: w, status: http.StatusOK}
	user, pass, ok := r.BasicAuth()
	if ok && subtle.ConstantTimeCompare([]byte(user), []byte(u.user)) == 1 && subtle.ConstantTimeCompare([]byte(pass), []byte(u.pass)) == 1 {
		u.app.ServeHTTP(rec, r)
	} else {
		if !ok {
			user = "-"
		}
		w.Header().Set("Docker-Distribution-API-Version", "registry/2.0")
		w.Header().Set("WWW-Authenticate", `Basic realm="user registry"`)
		rec.WriteHeader(http.StatusUnauthorized)
		fmt.Fprintln(rec, `{"errors":[{"code":"UNAUTHORIZED","message":"authentication required"}]}`)
	}
	u.mu.Lock()
	u.requests = append(u.requests, fmt.Sprintf("%s %s %d %s", r.Method, r.URL.Path, rec.status, user))
	u.mu.Unlock()
}

type statusRecorder struct {
	http.ResponseWriter
	status int
}

func (s *statusRecorder) WriteHeader(code int) {
	s.status = code
	s.ResponseWriter.WriteHeader(code)
}

// Unwrap lets http.ResponseController reach the connection (the
// registry's uploads flush).
func (s *statusRecorder) Unwrap() http.ResponseWriter { return s.ResponseWriter }

// cmdUserRegistry runs the script's registry of a user's own:
//
//	userregistry start USER PASSWORD   serve it on 127.0.0.1 over plain HTTP
//	                                   (Docker trusts a localhost registry
//	                                   without TLS), its storage under
//	                                   $WORK/userregistry; $USER_REGISTRY is
//	                                   localhost:PORT
//	userregistry start -tls USER PASSWORD
//	                                   serve it over HTTPS at the host's
//	                                   address on the private engine's
//	                                   bridge (privdockerd start first), the
//	                                   one a swarm worker's namespace has a
//	                                   route to, with a certificate of a CA
//	                                   of the script's own that the engines
//	                                   trust through /etc/docker/certs.d (as
//	                                   a user trusts a private CA);
//	                                   $USER_REGISTRY is IP:PORT
//	userregistry log                   print each request so far, one line
//	                                   "METHOD PATH STATUS USER" ("-" no auth)
func cmdUserRegistry(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: userregistry start USER PASSWORD | userregistry log")
	}
	switch args[0] {
	case "start":
		useTLS := len(args) > 1 && args[1] == "-tls"
		if useTLS {
			args = slices.Delete(args, 1, 2)
		}
		if len(args) != 3 {
			ts.Fatalf("usage: userregistry start [-tls] USER PASSWORD")
		}
		inst := ts.Value(instanceKey{}).(*instance)
		if inst.userRegistry != nil {
			ts.Fatalf("userregistry: already started")
		}
		// Plain HTTP on localhost (Docker trusts it), or HTTPS at the
		// private engine's bridge address with a CA the engines trust.
		ip, host := "127.0.0.1", "localhost"
		var ca *berthtest.CA
		var tlsConf *tls.Config
		if useTLS {
			e, _ := ts.Value(privateEngineKey{}).(*privateEngine)
			if e == nil || e.cmd == nil {
				ts.Fatalf("userregistry start -tls: privdockerd start first (the registry listens on the host's address on its bridge)")
			}
			ip, _, _ = strings.Cut(e.bridgeAddr, "/")
			host = ip
			var err error
			ca, err = berthtest.NewCA("berth test user registry CA")
			ts.Check(err)
			certPEM, keyPEM, err := ca.IssueCN(ip, nil, []net.IP{net.ParseIP(ip)})
			ts.Check(err)
			cert, err := tls.X509KeyPair(certPEM, keyPEM)
			ts.Check(err)
			tlsConf = &tls.Config{Certificates: []tls.Certificate{cert}}
		}
		u, addr, err := startUserRegistry(ts, filepath.Join(ts.Getenv("WORK"), "userregistry"), ip, tlsConf, args[1], args[2])
		ts.Check(err)
		inst.userRegistry = u
		hostPort := net.JoinHostPort(host, strconv.Itoa(addr.Port))
		if ca != nil {
			ts.Check(trustRegistry(ts, hostPort, ca.CertPEM))
		}
		ts.Setenv("USER_REGISTRY", hostPort)
	case "log":
		u := ts.Value(instanceKey{}).(*instance).userRegistry
		if u == nil {
			ts.Fatalf("userregistry log: run userregistry start first")
		}
		u.mu.Lock()
		defer u.mu.Unlock()
		fmt.Fprint(ts.Stdout(), strings.Join(u.requests, "\n")+"\n")
	default:
		ts.Fatalf("userregistry: unknown subcommand %q", args[0])
	}
}

// startUserRegistry serves the registry on ip (a port of the kernel's
// choosing), over TLS when tlsConf is not nil.
func startUserRegistry(ts *testscript.TestScript, root, ip string, tlsConf *tls.Config, user, pass string) (*userRegistry, *net.TCPAddr, error) {
	// distribution logs every request at info, and the 404s of a push's
	// blob checks as errors, through logrus's standard logger (into the
	// suite's output); userregistry log is the script's record.
	logrus.SetLevel(logrus.FatalLevel)
	conf := &configuration.Configuration{
		Storage: configuration.Storage{
			"filesystem":  configuration.Parameters{"rootdirectory": root},
			"redirect":    configuration.Parameters{"disable": true},
			"maintenance": configuration.Parameters{"uploadpurging": map[any]any{"enabled": false}},
		},
	}
	conf.HTTP.Secret = "user-registry-test-secret"
	u := &userRegistry{app: handlers.NewApp(context.Background(), conf), user: user, pass: pass}
	ln, err := net.Listen("tcp", net.JoinHostPort(ip, "0"))
	if err != nil {
		return nil, nil, err
	}
	addr := ln.Addr().(*net.TCPAddr)
	if tlsConf != nil {
		ln = tls.NewListener(ln, tlsConf)
	}
	srv := &http.Server{Handler: u}
	go srv.Serve(ln)
	ts.Defer(func() {
		srv.Close()
		u.app.Shutdown()
	})
	return u, addr, nil
}
