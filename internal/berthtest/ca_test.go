package berthtest

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/pem"
	"net"
	"slices"
	"testing"
)

func TestCAIssuesCertificatesAClientVerifies(t *testing.T) {
	ca, err := NewCA("Berth Test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, keyPEM, err := ca.Issue([]string{"app.example.test", "www.example.test"}, []net.IP{net.IPv4(127, 0, 0, 1)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := tls.X509KeyPair(certPEM, keyPEM); err != nil {
		t.Fatalf("the key does not belong to the certificate: %v", err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "app.example.test" || cert.Issuer.CommonName != "Berth Test CA" {
		t.Errorf("subject %q, issuer %q", cert.Subject.CommonName, cert.Issuer.CommonName)
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(ca.CertPEM) {
		t.Fatal("CertPEM holds no certificate")
	}
	for _, name := range []string{"app.example.test", "www.example.test", "127.0.0.1"} {
		if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: name}); err != nil {
			t.Errorf("verify for %s: %v", name, err)
		}
	}
	if _, err := cert.Verify(x509.VerifyOptions{Roots: roots, DNSName: "other.example.test"}); err == nil {
		t.Error("verified for a name the certificate does not list")
	}
	other, err := NewCA("Another CA")
	if err != nil {
		t.Fatal(err)
	}
	otherRoots := x509.NewCertPool()
	otherRoots.AppendCertsFromPEM(other.CertPEM)
	if _, err := cert.Verify(x509.VerifyOptions{Roots: otherRoots, DNSName: "app.example.test"}); err == nil {
		t.Error("verified against another CA")
	}
}

func TestIssueCNSetsACommonNameTheNamesDoNotList(t *testing.T) {
	ca, err := NewCA("Berth Test CA")
	if err != nil {
		t.Fatal(err)
	}
	certPEM, _, err := ca.IssueCN("victim.example.test", []string{"a.example.test"}, nil)
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	if cert.Subject.CommonName != "victim.example.test" || !slices.Equal(cert.DNSNames, []string{"a.example.test"}) {
		t.Errorf("CN %q, names %q", cert.Subject.CommonName, cert.DNSNames)
	}
	a, _, _ := ca.Issue([]string{"a.example.test"}, nil)
	b, _, _ := ca.Issue([]string{"a.example.test"}, nil)
	ba, _ := pem.Decode(a)
	bb, _ := pem.Decode(b)
	ca1, _ := x509.ParseCertificate(ba.Bytes)
	cb1, _ := x509.ParseCertificate(bb.Bytes)
	if ca1.SerialNumber.Cmp(cb1.SerialNumber) == 0 {
		t.Error("two certificates of one CA share a serial number")
	}
}
