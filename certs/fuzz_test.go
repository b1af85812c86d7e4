package certs

// Fuzz targets for the parsers a user's input reaches in this package:
// tls:set's HSTS values and certs:add's certificate bundle (moved here
// from platform/fuzz_test.go with the code). tests/fuzz.sh runs each one
// for a few seconds.

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzApplyHSTS: tls:set KEY VALUE either changes that one setting or is
// refused and changes nothing.
func FuzzApplyHSTS(f *testing.F) {
	for _, k := range hstsKeys {
		f.Add(k, "true")
		f.Add(k, "")
	}
	f.Add("hsts-max-age", "31536000")
	f.Add("hsts-max-age", "-1")
	f.Add("hsts", "maybe")
	f.Add("hsts-preload", "nope")
	f.Add("other", "1")
	f.Fuzz(func(t *testing.T, key, value string) {
		yes, age := true, 300
		s := HSTSSettings{Enabled: &yes, MaxAge: &age, IncludeSubdomains: &yes, Preload: &yes}
		before, _ := json.Marshal(s)
		err := applyHSTS(&s, key, value)
		after, _ := json.Marshal(s)
		if err != nil {
			if !bytes.Equal(before, after) {
				t.Fatalf("tls:set %s %q refused (%v) but changed %s to %s", key, value, err, before, after)
			}
			return
		}
		if !slices.Contains(hstsKeys, key) {
			t.Fatalf("unknown key %q accepted", key)
		}
		if s.MaxAge != nil && *s.MaxAge < 0 {
			t.Fatalf("max-age %d accepted", *s.MaxAge)
		}
		if h := s.resolve(defaultHSTS).Header(); strings.ContainsAny(h, "\r\n") {
			t.Fatalf("header %q", h)
		}
	})
}

// FuzzParseCertInput: certs:add's stdin (PEM, or Dokku's tar of
// server.crt and server.key) gives a key pair that goes together, is
// valid now and names a DNS name, or an error and nothing.
func FuzzParseCertInput(f *testing.F) {
	now := time.Now()
	cert, key := fuzzCert(f, now)
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for _, file := range []struct {
		name string
		data []byte
	}{{"server.crt", cert}, {"server.key", key}} {
		tw.WriteHeader(&tar.Header{Name: file.name, Mode: 0o600, Size: int64(len(file.data)), Typeflag: tar.TypeReg})
		tw.Write(file.data)
	}
	tw.Close()
	for _, seed := range [][]byte{
		slices.Concat(cert, key), slices.Concat(key, cert), tarball.Bytes(), cert, key, slices.Concat(key, key, cert),
		[]byte("-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n"), []byte("hello"), {},
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, input []byte) {
		if len(input) > MaxCertInput {
			return
		}
		certPEM, keyPEM, leaf, err := ParseCertInput(input)
		if err != nil {
			if certPEM != nil || keyPEM != nil || leaf != nil {
				t.Fatalf("refused (%v) but returned a certificate", err)
			}
			return
		}
		pair, perr := tls.X509KeyPair(certPEM, keyPEM)
		if perr != nil || leaf == nil || !pair.Leaf.Equal(leaf) {
			t.Fatalf("accepted a bundle that does not load: %v", perr)
		}
		if len(leaf.DNSNames) == 0 || now.After(leaf.NotAfter) || time.Now().Before(leaf.NotBefore) {
			t.Fatalf("accepted a certificate with names %q valid %s to %s", leaf.DNSNames, leaf.NotBefore, leaf.NotAfter)
		}
	})
}

// fuzzCert makes a certificate for www.example.test valid for a day, and
// its key, as PEM: a seed made when the fuzzing starts, which never
// expires in a corpus.
func fuzzCert(f *testing.F, now time.Time) (certPEM, keyPEM []byte) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		f.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		DNSNames:     []string{"www.example.test"},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		f.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		f.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}
