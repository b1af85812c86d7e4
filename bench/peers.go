package main

import (
	"fmt"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/berth-paas/berth/appproxy"
)

// The proxy benchmark's non-Caddy peers (issue 16): nginx as Dokku runs it
// and a plain Go httputil.ReverseProxy (what kamal-proxy is built on).

// nginxConf is nginx in the fair configuration of issue 16: 2 workers
// (the machine's cores), a keepalive upstream, HTTP/1.1 to it, no access
// log. Dokku's nginx template also proxies with keep-alive upstreams.
const nginxConf = `worker_processes 2;
daemon off;
pid %[1]s/nginx.pid;
error_log %[1]s/error.log warn;
events { worker_connections 4096; }
http {
	access_log off;
	client_body_temp_path %[1]s/body;
	proxy_temp_path %[1]s/proxy;
	fastcgi_temp_path %[1]s/fastcgi;
	uwsgi_temp_path %[1]s/uwsgi;
	scgi_temp_path %[1]s/scgi;
	upstream app {
		server %[3]s;
		keepalive 64;
	}
	server {
		listen 127.0.0.1:%[2]d;
		location / {
			proxy_pass http://app;
			proxy_http_version 1.1;
			proxy_set_header Connection "";
			proxy_set_header Host $host;
		}
	}
}
`

// startNginx runs Debian's nginx in front of upstream (ip:port) on a port
// of its own, installing the package first if it is missing.
func (e *env) startNginx(upstream string) (int, error) {
	bin, err := exec.LookPath("nginx")
	if err != nil {
		if _, err := os.Stat("/usr/sbin/nginx"); err == nil {
			bin = "/usr/sbin/nginx"
		} else {
			progress("installing Debian's nginx (apt-get install nginx-light)")
			cmd := exec.Command("apt-get", "install", "-y", "--no-install-recommends", "nginx-light")
			cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
			if out, err := cmd.CombinedOutput(); err != nil {
				return 0, fmt.Errorf("nginx is missing and apt-get install nginx-light failed (install it by hand): %v\n%s", err, out)
			}
			bin = "/usr/sbin/nginx"
		}
	}
	var port int
	if err := e.ports.Take(&port); err != nil {
		return 0, err
	}
	dir := filepath.Join(e.tmp, "nginx")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return 0, err
	}
	conf := filepath.Join(dir, "nginx.conf")
	if err := os.WriteFile(conf, []byte(fmt.Sprintf(nginxConf, dir, port, upstream)), 0o644); err != nil {
		return 0, err
	}
	cmd := exec.Command(bin, "-c", conf, "-p", dir)
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("nginx: %w", err)
	}
	e.defer_("stop nginx", func() {
		cmd.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
		}
	})
	return port, nil
}

// goProxyEnv, when set in the environment to "LISTEN UPSTREAM", makes the
// bench binary run a plain httputil.ReverseProxy instead of benchmarks:
// the bench starts itself that way so the Go peer is a process of its own,
// like caddy and nginx, and does not share the load generator's runtime.
const goProxyEnv = "BERTH_BENCH_GOPROXY"

// runGoProxy is the plain Go peer: httputil.ReverseProxy with the default
// transport, except that idle connections per host are raised from Go's
// default of 2 to 100 (kamal-proxy does the same); with 2, most requests
// would open a new connection and the comparison would say nothing.
//
// With a third word "appproxy" it runs Berth's own proxy (appproxy) in a
// plain net/http server instead, with Berth's transport settings and GC
// percent: Berth's proxy without Caddy's server around it, which prices
// what Caddy's server costs a Berth route.
func runGoProxy(spec string) {
	var listen, upstream, kind string
	// The third word is optional: Sscan's error for its absence is
	// expected, but the listen address and the upstream are not.
	fmt.Sscan(spec, &listen, &upstream, &kind)
	if listen == "" || upstream == "" {
		fmt.Fprintf(os.Stderr, "goproxy: %s=%q: want \"LISTEN UPSTREAM [appproxy]\"\n", goProxyEnv, spec)
		os.Exit(2)
	}
	if kind == "appproxy" || kind == "appproxy-gotransport" {
		debug.SetGCPercent(200) // caddymodule/gc.go's default
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 1024, 256
		// As the berth handler: appproxy's own client with the
		// transport's settings; "appproxy-gotransport" keeps Go's
		// transport, to price the client in the same run.
		var client *appproxy.Client
		if kind == "appproxy" {
			client = appproxy.ClientFromTransport(tr)
		}
		p := appproxy.New(appproxy.Config{
			Transport: tr,
			Client:    client,
			Targets:   func(*http.Request) []string { return []string{upstream} },
		})
		ln, err := net.Listen("tcp", listen)
		if err != nil {
			fmt.Fprintln(os.Stderr, "goproxy:", err)
			os.Exit(1)
		}
		h := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if err := p.ServeHTTP(w, r); err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
			}
		})
		fmt.Fprintln(os.Stderr, (&http.Server{Handler: h}).Serve(ln))
		os.Exit(1)
	}
	u, err := url.Parse("http://" + upstream)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goproxy:", err)
		os.Exit(2)
	}
	tr := http.DefaultTransport.(*http.Transport).Clone()
	tr.MaxIdleConns, tr.MaxIdleConnsPerHost = 100, 100
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.Transport = tr
	ln, err := net.Listen("tcp", listen)
	if err != nil {
		fmt.Fprintln(os.Stderr, "goproxy:", err)
		os.Exit(1)
	}
	fmt.Fprintln(os.Stderr, (&http.Server{Handler: rp}).Serve(ln))
	os.Exit(1)
}

// startGoProxy starts the plain Go peer in front of upstream (kind
// "appproxy": Berth's proxy without Caddy; "": httputil).
func (e *env) startGoProxy(upstream, kind string) (int, error) {
	var port int
	if err := e.ports.Take(&port); err != nil {
		return 0, err
	}
	self, err := os.Executable()
	if err != nil {
		return 0, err
	}
	cmd := exec.Command(self)
	cmd.Env = append(os.Environ(), strings.TrimSpace(fmt.Sprintf("%s=127.0.0.1:%d %s %s", goProxyEnv, port, upstream, kind)))
	cmd.Stderr = os.Stderr
	if err := cmd.Start(); err != nil {
		return 0, fmt.Errorf("go proxy: %w", err)
	}
	e.defer_("stop the Go proxy", func() { cmd.Process.Kill(); cmd.Wait() })
	return port, nil
}
