package tests

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berth-paas/berth/internal/berthtest"
)

// acmeEnv is a script's own ACME server: Pebble, with its challenge-test
// DNS server answering 127.0.0.1 for every name, so Pebble validates
// HTTP-01 and TLS-ALPN-01 challenges against the script's caddy for real.
type acmeEnv struct {
	dir        string
	acmePort   int
	mgmtPort   int
	caRoot     string // the CA of Pebble's own listener, which caddy trusts
	issuerRoot string // Pebble's issuing root (/roots/0), which clients trust
	pebbleLog  string
}

var (
	pebbleOnce sync.Once
	pebbleErr  error
)

// buildPebble builds pebble and pebble-challtestsrv, at the versions
// go.mod pins as tools, next to the caddy under test.
func buildPebble() (pebble, challtestsrv string, err error) {
	dir := filepath.Dir(caddyBin)
	pebble, challtestsrv = filepath.Join(dir, "pebble"), filepath.Join(dir, "pebble-challtestsrv")
	pebbleOnce.Do(func() {
		for bin, pkg := range map[string]string{
			pebble:       "github.com/letsencrypt/pebble/v2/cmd/pebble",
			challtestsrv: "github.com/letsencrypt/pebble/v2/cmd/pebble-challtestsrv",
		} {
			if pebbleErr = berthtest.GoBuild(moduleRoot, bin, pkg, nil); pebbleErr != nil {
				return
			}
		}
	})
	return pebble, challtestsrv, pebbleErr
}

// cmdPebble runs the script's ACME server:
//
//	pebble start    start Pebble and its DNS server, and make the script's
//	                Caddyfile serve every app over HTTPS with certificates
//	                from it (before berth start)
//	pebble orders   print "orders N", the orders Pebble holds, then
//	                "validated NAME" for each name it validated a challenge
//	                of, from Pebble's own log
func cmdPebble(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: pebble start|orders")
	}
	inst := ts.Value(instanceKey{}).(*instance)
	switch args[0] {
	case "start":
		env, err := startPebble(ts, inst)
		ts.Check(err)
		inst.acme = env
		c := &inst.config
		c.TLS, c.Email = berthtest.ACME, "test@berth.test"
		c.ACMEDirectory, c.ACMERoot = fmt.Sprintf("https://127.0.0.1:%d/dir", env.acmePort), env.caRoot
		ts.Check(inst.writeCaddyfile())
		ts.Setenv("HTTPS_PORT", strconv.Itoa(c.HTTPSPort))
		ts.Setenv("PEBBLE_ROOT", env.issuerRoot)
	case "orders":
		if inst.acme == nil {
			ts.Fatalf("pebble orders: run pebble start first")
		}
		data, err := os.ReadFile(inst.acme.pebbleLog)
		ts.Check(err)
		orders := "0"
		for _, m := range regexp.MustCompile(`There are now (\d+) orders in the db`).FindAllStringSubmatch(string(data), -1) {
			orders = m[1]
		}
		fmt.Fprintf(ts.Stdout(), "orders %s\n", orders)
		var names []string
		for _, m := range regexp.MustCompile(`Pulled a task from the Tasks queue: .*?Identifier:acme.Identifier\{Type:"dns", Value:"([^"]+)"\}`).FindAllStringSubmatch(string(data), -1) {
			if !slices.Contains(names, m[1]) {
				names = append(names, m[1])
			}
		}
		for _, n := range names {
			fmt.Fprintf(ts.Stdout(), "validated %s\n", n)
		}
	default:
		ts.Fatalf("pebble: unknown subcommand %q", args[0])
	}
}

func startPebble(ts *testscript.TestScript, inst *instance) (*acmeEnv, error) {
	pebbleBin, challBin, err := buildPebble()
	if err != nil {
		return nil, err
	}
	env := &acmeEnv{dir: filepath.Join(inst.work, "pebble")}
	if err := os.MkdirAll(env.dir, 0o700); err != nil {
		return nil, err
	}
	var dnsPort, challMgmtPort int
	if err := inst.ports.Take(&env.acmePort, &env.mgmtPort, &dnsPort, &challMgmtPort, &inst.config.HTTPSPort); err != nil {
		return nil, err
	}
	// Pebble's ACME listener needs a certificate that caddy can verify.
	ca, err := berthtest.NewCA("Berth Test Pebble Listener CA")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.Issue([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	env.caRoot = filepath.Join(env.dir, "listener-ca.pem")
	for name, data := range map[string][]byte{"listener-ca.pem": ca.CertPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
		if err := os.WriteFile(filepath.Join(env.dir, name), data, 0o600); err != nil {
			return nil, err
		}
	}
	// Pebble validates on the ports the script's caddy serves HTTP and
	// HTTPS on.
	config := map[string]any{"pebble": map[string]any{
		"listenAddress":                  fmt.Sprintf("127.0.0.1:%d", env.acmePort),
		"managementListenAddress":        fmt.Sprintf("127.0.0.1:%d", env.mgmtPort),
		"certificate":                    filepath.Join(env.dir, "cert.pem"),
		"privateKey":                     filepath.Join(env.dir, "key.pem"),
		"httpPort":                       inst.config.HTTPPort,
		"tlsPort":                        inst.config.HTTPSPort,
		"ocspResponderURL":               "",
		"externalAccountBindingRequired": false,
		"profiles": map[string]any{
			"default": map[string]any{"description": "default", "validityPeriod": 7776000},
		},
	}}
	raw, _ := json.Marshal(config)
	if err := os.WriteFile(filepath.Join(env.dir, "pebble-config.json"), raw, 0o600); err != nil {
		return nil, err
	}
	start := func(logName string, bin string, extraEnv []string, args ...string) error {
		logFile, err := os.Create(filepath.Join(env.dir, logName))
		if err != nil {
			return err
		}
		cmd := exec.Command(bin, args...)
		cmd.Dir = env.dir
		cmd.Env = append(os.Environ(), extraEnv...)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
		if err := cmd.Start(); err != nil {
			logFile.Close()
			return err
		}
		ts.Defer(func() {
			cmd.Process.Kill()
			cmd.Wait()
			logFile.Close()
		})
		return nil
	}
	// Every name resolves to 127.0.0.1 (and has no IPv6 address: caddy
	// listens on 127.0.0.1 only). The challenge server's own challenge
	// responders are off: caddy answers the challenges.
	if err := start("challtestsrv.log", challBin, nil,
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort),
		"-management", fmt.Sprintf("127.0.0.1:%d", challMgmtPort),
		"-defaultIPv4", "127.0.0.1", "-defaultIPv6", "",
		"-http01", "", "-https01", "", "-tlsalpn01", "", "-doh", ""); err != nil {
		return nil, err
	}
	env.pebbleLog = filepath.Join(env.dir, "pebble.log")
	// Real validation (no PEBBLE_VA_ALWAYS_VALID), without Pebble's random
	// waits before validating and its random nonce rejections.
	if err := start("pebble.log", pebbleBin, []string{"PEBBLE_VA_NOSLEEP=1", "PEBBLE_WFE_NONCEREJECT=0"},
		"-config", filepath.Join(env.dir, "pebble-config.json"),
		"-dnsserver", fmt.Sprintf("127.0.0.1:%d", dnsPort)); err != nil {
		return nil, err
	}
	// Clients trust Pebble's issuing root, which it makes at start.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ca.CertPEM)
	client := &http.Client{Timeout: 5 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	var root []byte
	deadline := time.Now().Add(30 * time.Second)
	for {
		resp, err := client.Get(fmt.Sprintf("https://127.0.0.1:%d/roots/0", env.mgmtPort))
		if err == nil {
			root, err = io.ReadAll(resp.Body)
			resp.Body.Close()
			if err == nil && resp.StatusCode == 200 {
				break
			}
		}
		if time.Now().After(deadline) {
			log, _ := os.ReadFile(env.pebbleLog)
			return nil, fmt.Errorf("pebble did not serve its root within 30s: %v\n%s", err, log)
		}
		time.Sleep(100 * time.Millisecond)
	}
	env.issuerRoot = filepath.Join(env.dir, "issuer-root.pem")
	if err := os.WriteFile(env.issuerRoot, root, 0o600); err != nil {
		return nil, err
	}
	return env, nil
}

// cmdTLSInternal makes the script's Caddyfile serve every app over HTTPS
// with certificates from Caddy's own local CA (`tls internal`), as the
// README shows for local development (before berth start).
//
// With a domain, the global domain is that one instead of localhost, and
// it gets its own site with a wildcard certificate that Caddy manages
// from the start, as the README's DNS-01 setup does (with the internal
// CA, which needs no DNS provider).
//
//	tls-internal [WILDCARD-DOMAIN]
func cmdTLSInternal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) > 1 {
		ts.Fatalf("usage: tls-internal [WILDCARD-DOMAIN]")
	}
	inst := ts.Value(instanceKey{}).(*instance)
	c := &inst.config
	c.TLS, c.Domains = berthtest.InternalCA, []string{"localhost"}
	if len(args) == 1 {
		c.Domains, c.Wildcard = []string{args[0]}, args[0]
	}
	ts.Check(inst.ports.Take(&c.HTTPSPort))
	ts.Check(inst.writeCaddyfile())
	ts.Setenv("HTTPS_PORT", strconv.Itoa(c.HTTPSPort))
}

// cmdGetTLS sends one HTTPS request for HOST through Caddy, on a new
// connection, trusting only Pebble's issuing root (or Caddy's local root
// after tls-internal, or the roots in FILE),
// and prints the status code, the served certificate's issuer and names,
// the Strict-Transport-Security header ("none" without one), and the
// body. Negated, it expects the handshake or request to fail and prints
// the error to stderr. It logs how long the request took: the first one
// for a name includes getting its certificate.
//
//	get-tls [-root FILE] [-wait] HOST
func cmdGetTLS(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("get-tls", flag.ContinueOnError)
	rootFile := fs.String("root", "", "trust the roots in this file instead of Pebble's")
	wait := fs.Bool("wait", false, "retry a failed request for up to 30s (a certificate Caddy obtains at start)")
	if err := fs.Parse(args); err != nil || fs.NArg() != 1 {
		ts.Fatalf("usage: get-tls [-root FILE] [-wait] HOST")
	}
	host := fs.Arg(0)
	inst := ts.Value(instanceKey{}).(*instance)
	var root string
	switch {
	case inst.acme != nil:
		root = inst.acme.issuerRoot
	case inst.config.TLS == berthtest.InternalCA:
		root = filepath.Join(inst.caddy.Dir, "home", "data", "caddy", "pki", "authorities", "local", "root.crt")
	default:
		ts.Fatalf("get-tls: run pebble start or tls-internal first")
	}
	if *rootFile != "" {
		root = ts.MkAbs(*rootFile)
	}
	pemData, err := os.ReadFile(root)
	ts.Check(err)
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pemData) {
		ts.Fatalf("no certificate in %s", root)
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	client := &http.Client{
		Timeout: 90 * time.Second,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", inst.config.HTTPSPort))
			},
			TLSClientConfig:   &tls.Config{RootCAs: pool, ServerName: host},
			DisableKeepAlives: true,
		},
	}
	defer client.CloseIdleConnections()
	start := time.Now()
	resp, err := client.Get("https://" + host + "/")
	for *wait && err != nil && time.Since(start) < 30*time.Second {
		time.Sleep(100 * time.Millisecond)
		resp, err = client.Get("https://" + host + "/")
	}
	if neg {
		if err == nil {
			resp.Body.Close()
			ts.Fatalf("HTTPS request for %s succeeded with %d", host, resp.StatusCode)
		}
		fmt.Fprintf(ts.Stderr(), "%v\n", err)
		return
	}
	if err != nil {
		ts.Fatalf("HTTPS request for %s: %v", host, err)
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	ts.Check(err)
	ts.Logf("%s answered %d over HTTPS after %s", host, resp.StatusCode, time.Since(start).Round(time.Millisecond))
	leaf := resp.TLS.PeerCertificates[0]
	// Every value: an app that sends its own must not get a second.
	hsts := strings.Join(resp.Header.Values("Strict-Transport-Security"), " | ")
	if hsts == "" {
		hsts = "none"
	}
	fmt.Fprintf(ts.Stdout(), "%d\nissuer: %s\nnames: %s\nhsts: %s\n%s", resp.StatusCode, leaf.Issuer.CommonName,
		strings.Join(leaf.DNSNames, " "), hsts, body)
}

// cmdMkcert makes a CA and a certificate it signs for NAMES, as a user's
// own certificate: DIR/ca.pem, DIR/server.crt, DIR/server.key and both
// of these in DIR/server.pem. Its Common Name is the first name, or CN;
// with -ip it names IP too.
//
//	mkcert [-cn CN] [-ip IP] DIR CA-NAME NAME...
func cmdMkcert(ts *testscript.TestScript, neg bool, args []string) {
	fs := flag.NewFlagSet("mkcert", flag.ContinueOnError)
	cn := fs.String("cn", "", "the certificate's Common Name, if not the first name")
	ip := fs.String("ip", "", "an IP address the certificate names too")
	if err := fs.Parse(args); err != nil || neg || fs.NArg() < 3 {
		ts.Fatalf("usage: mkcert [-cn CN] [-ip IP] DIR CA-NAME NAME...")
	}
	var ips []net.IP
	if *ip != "" {
		ips = []net.IP{net.ParseIP(*ip)}
	}
	args = fs.Args()
	dir := ts.MkAbs(args[0])
	ca, err := berthtest.NewCA(args[1])
	ts.Check(err)
	certPEM, keyPEM, err := ca.IssueCN(*cn, args[2:], ips)
	ts.Check(err)
	ts.Check(os.MkdirAll(dir, 0o700))
	for name, data := range map[string][]byte{
		"ca.pem": ca.CertPEM, "server.crt": certPEM, "server.key": keyPEM,
		"server.pem": append(slices.Clone(certPEM), keyPEM...),
	} {
		ts.Check(os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
}
