package tests

import (
	"net"
	"os"
	"path/filepath"

	"github.com/berth-paas/berth/internal/berthtest"
)

// workerTLS makes the worker's engine TLS files, as a node's owner would
// for dockerd --tlsverify: a CA of the test's own, the engine's
// certificate for its address ip (in serverDir: ca.pem, server-cert.pem,
// server-key.pem) and a client's (in clientDir, Docker's DOCKER_CERT_PATH
// layout: ca.pem, cert.pem, key.pem), which is what Berth's node-engine
// setting is given.
func workerTLS(ip, serverDir, clientDir string) error {
	ca, err := berthtest.NewCA("berth test worker CA")
	if err != nil {
		return err
	}
	srvCert, srvKey, err := ca.IssueCN(ip, nil, []net.IP{net.ParseIP(ip)})
	if err != nil {
		return err
	}
	cliCert, cliKey, err := ca.IssueClient("berth")
	if err != nil {
		return err
	}
	for dir, files := range map[string]map[string][]byte{
		serverDir: {"ca.pem": ca.CertPEM, "server-cert.pem": srvCert, "server-key.pem": srvKey},
		clientDir: {"ca.pem": ca.CertPEM, "cert.pem": cliCert, "key.pem": cliKey},
	} {
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return err
		}
		for name, b := range files {
			if err := os.WriteFile(filepath.Join(dir, name), b, 0o600); err != nil {
				return err
			}
		}
	}
	return nil
}
