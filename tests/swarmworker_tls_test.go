package tests

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"
)

// workerTLS makes the worker's engine TLS files, as a node's owner would
// for dockerd --tlsverify: a CA of the test's own, the engine's
// certificate for its address ip (in serverDir: ca.pem, server-cert.pem,
// server-key.pem) and a client's (in clientDir, Docker's DOCKER_CERT_PATH
// layout: ca.pem, cert.pem, key.pem), which is what Berth's node-engine
// setting is given.
func workerTLS(ip, serverDir, clientDir string) error {
	newKey := func() (*ecdsa.PrivateKey, error) { return ecdsa.GenerateKey(elliptic.P256(), rand.Reader) }
	serial := int64(1)
	now := time.Now().Add(-time.Hour)
	caKey, err := newKey()
	if err != nil {
		return err
	}
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: "berth test worker CA"},
		NotBefore: now, NotAfter: now.Add(48 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return err
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return err
	}
	issue := func(cn string, usage x509.ExtKeyUsage, ips []net.IP) (certPEM, keyPEM []byte, err error) {
		k, err := newKey()
		if err != nil {
			return nil, nil, err
		}
		serial++
		tmpl := &x509.Certificate{SerialNumber: big.NewInt(serial), Subject: pkix.Name{CommonName: cn},
			NotBefore: now, NotAfter: now.Add(48 * time.Hour), IPAddresses: ips,
			KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{usage}}
		der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &k.PublicKey, caKey)
		if err != nil {
			return nil, nil, err
		}
		kb, err := x509.MarshalECPrivateKey(k)
		if err != nil {
			return nil, nil, err
		}
		return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kb}), nil
	}
	caPEM := pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER})
	srvCert, srvKey, err := issue(ip, x509.ExtKeyUsageServerAuth, []net.IP{net.ParseIP(ip)})
	if err != nil {
		return err
	}
	cliCert, cliKey, err := issue("berth", x509.ExtKeyUsageClientAuth, nil)
	if err != nil {
		return err
	}
	for dir, files := range map[string]map[string][]byte{
		serverDir: {"ca.pem": caPEM, "server-cert.pem": srvCert, "server-key.pem": srvKey},
		clientDir: {"ca.pem": caPEM, "cert.pem": cliCert, "key.pem": cliKey},
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
