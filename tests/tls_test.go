package tests

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"flag"
	"fmt"
	"io"
	"math/big"
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
			if out, err := exec.Command("go", "build", "-o", bin, pkg).CombinedOutput(); err != nil {
				pebbleErr = fmt.Errorf("go build %s: %v\n%s", pkg, err, out)
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
		ts.Check(inst.writeCaddyfile())
		ts.Setenv("HTTPS_PORT", strconv.Itoa(inst.httpsPort))
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
	// Ports are found free by listening and closing, so a port just
	// closed can come back: take none the script already uses.
	var dnsPort, challMgmtPort int
	taken := []int{inst.httpPort, inst.sshPort, inst.adminPort}
	for _, p := range []*int{&env.acmePort, &env.mgmtPort, &dnsPort, &challMgmtPort, &inst.httpsPort} {
		for *p == 0 || slices.Contains(taken, *p) {
			if *p, err = freePort(); err != nil {
				return nil, err
			}
		}
		taken = append(taken, *p)
	}
	// Pebble's ACME listener needs a certificate that caddy can verify.
	ca, err := newCA("Berth Test Pebble Listener CA")
	if err != nil {
		return nil, err
	}
	certPEM, keyPEM, err := ca.issue([]string{"localhost"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		return nil, err
	}
	env.caRoot = filepath.Join(env.dir, "listener-ca.pem")
	for name, data := range map[string][]byte{"listener-ca.pem": ca.certPEM, "cert.pem": certPEM, "key.pem": keyPEM} {
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
		"httpPort":                       inst.httpPort,
		"tlsPort":                        inst.httpsPort,
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
	pool.AppendCertsFromPEM(ca.certPEM)
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

// tlsCaddyfile is the script's Caddyfile once pebble start ran: every app
// over HTTPS with on-demand certificates from Pebble and custom ones from
// Berth, as in Caddyfile.example, on the script's own ports. Plain HTTP
// is Caddy's own: ACME HTTP-01 challenges, and redirects to HTTPS.
func (inst *instance) tlsCaddyfile() string {
	if inst.internalTLS {
		return inst.internalCaddyfile()
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	http_port %d
	https_port %d
	email test@berth.test
	acme_ca https://127.0.0.1:%d/dir
	acme_ca_root %s
	on_demand_tls {
		permission berth
	}
	berth {
		domain %s
		ssh 127.0.0.1:%d
		authorized_keys %s
		state_dir %s
	}
}
https:// {
	bind 127.0.0.1
	tls {
		on_demand
		get_certificate berth
	}
	berth
}
`, inst.adminPort, inst.httpPort, inst.httpsPort, inst.acme.acmePort, inst.acme.caRoot,
		strings.Join(inst.domains, " "), inst.sshPort,
		filepath.Join(inst.work, "admin_keys"), filepath.Join(inst.work, "state"))
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
	if len(args) == 1 {
		inst.wildcard = args[0]
	}
	taken := []int{inst.httpPort, inst.sshPort, inst.adminPort}
	for inst.httpsPort == 0 || slices.Contains(taken, inst.httpsPort) {
		port, err := freePort()
		ts.Check(err)
		inst.httpsPort = port
	}
	inst.internalTLS = true
	ts.Check(inst.writeCaddyfile())
	ts.Setenv("HTTPS_PORT", strconv.Itoa(inst.httpsPort))
}

// internalCaddyfile is the README's local-development Caddyfile on the
// script's ports. skip_install_trust keeps the test from touching the
// machine's trust store; clients trust Caddy's root from its data
// directory instead.
func (inst *instance) internalCaddyfile() string {
	domain, wildcardSite := "localhost", ""
	if inst.wildcard != "" {
		domain = inst.wildcard
		wildcardSite = fmt.Sprintf(`*.%s {
	bind 127.0.0.1
	tls internal
	berth
}
`, inst.wildcard)
	}
	return fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	http_port %d
	https_port %d
	skip_install_trust
	on_demand_tls {
		permission berth
	}
	berth {
		domain %s
		ssh 127.0.0.1:%d
		authorized_keys %s
		state_dir %s
	}
}
%shttps:// {
	bind 127.0.0.1
	tls internal {
		on_demand
		get_certificate berth
	}
	berth
}
`, inst.adminPort, inst.httpPort, inst.httpsPort, domain, inst.sshPort,
		filepath.Join(inst.work, "admin_keys"), filepath.Join(inst.work, "state"), wildcardSite)
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
	case inst.internalTLS:
		root = filepath.Join(inst.work, "home", "data", "caddy", "pki", "authorities", "local", "root.crt")
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
				return dialer.DialContext(ctx, network, fmt.Sprintf("127.0.0.1:%d", inst.httpsPort))
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
	ca, err := newCA(args[1])
	ts.Check(err)
	certPEM, keyPEM, err := ca.issueCN(*cn, args[2:], ips)
	ts.Check(err)
	ts.Check(os.MkdirAll(dir, 0o700))
	for name, data := range map[string][]byte{
		"ca.pem": ca.certPEM, "server.crt": certPEM, "server.key": keyPEM,
		"server.pem": append(slices.Clone(certPEM), keyPEM...),
	} {
		ts.Check(os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
}

type testCA struct {
	cert    *x509.Certificate
	key     *ecdsa.PrivateKey
	certPEM []byte
}

func newCA(name string) (*testCA, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: name},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	return &testCA{cert: cert, key: key, certPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}, nil
}

func (ca *testCA) issue(names []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	return ca.issueCN("", names, ips)
}

// issueCN is issue with Common Name cn ("": the first name).
func (ca *testCA) issueCN(cn string, names []string, ips []net.IP) (certPEM, keyPEM []byte, err error) {
	if cn == "" {
		cn = names[0]
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()),
		Subject:      pkix.Name{CommonName: cn},
		DNSNames:     names,
		IPAddresses:  ips,
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.cert, &key.PublicKey, ca.key)
	if err != nil {
		return nil, nil, err
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, nil, err
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder}), nil
}
