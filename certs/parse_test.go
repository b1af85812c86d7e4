package certs

import (
	"archive/tar"
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"strings"
	"testing"
	"time"
)

func selfSigned(t *testing.T, names []string, notBefore, notAfter time.Time) (certPEM, keyPEM []byte) {
	t.Helper()
	return signedPEM(t, &x509.Certificate{
		SerialNumber: big.NewInt(1),
		Subject:      pkix.Name{CommonName: "test"},
		DNSNames:     names,
		NotBefore:    notBefore,
		NotAfter:     notAfter,
	})
}

// signedPEM makes a key and a certificate of tmpl signed by it, as PEM.
func signedPEM(t *testing.T, tmpl *x509.Certificate) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kder})
}

func TestParseCertInput(t *testing.T) {
	now := time.Now()
	cert, key := selfSigned(t, []string{"www.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	_, otherKey := selfSigned(t, []string{"www.example.test"}, now.Add(-time.Hour), now.Add(time.Hour))
	expired, expiredKey := selfSigned(t, []string{"www.example.test"}, now.Add(-2*time.Hour), now.Add(-time.Hour))
	noNames, noNamesKey := selfSigned(t, nil, now.Add(-time.Hour), now.Add(time.Hour))

	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	for name, data := range map[string][]byte{"server.crt": cert, "server.key": key} {
		tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(data)), Typeflag: tar.TypeReg})
		tw.Write(data)
	}
	tw.Close()

	for _, tc := range []struct {
		name, input, wantErr string
	}{
		{"cert then key", string(cert) + string(key), ""},
		{"key then cert", string(key) + string(cert), ""},
		{"tar", tarball.String(), ""},
		{"empty", " \n", "no certificate on stdin"},
		{"key only", string(key), "no certificate found"},
		{"cert only", string(cert), "no private key found"},
		{"wrong key", string(cert) + string(otherKey), "do not go together"},
		{"expired", string(expired) + string(expiredKey), "expired on"},
		{"no names", string(noNames) + string(noNamesKey), "names no DNS name"},
		{"garbage", "hello", "neither PEM nor a tar"},
	} {
		_, _, leaf, err := ParseCertInput([]byte(tc.input))
		if tc.wantErr == "" {
			if err != nil || leaf.DNSNames[0] != "www.example.test" {
				t.Errorf("%s: %v", tc.name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.wantErr)
		}
	}
}

func TestHSTSFallsBackFromAppToGlobalToDefault(t *testing.T) {
	if got := defaultHSTS.Header(); got != "max-age=15724800; includeSubDomains" {
		t.Errorf("default header %q", got)
	}
	var global, app HSTSSettings
	if err := applyHSTS(&global, "hsts-preload", "true"); err != nil {
		t.Fatal(err)
	}
	if err := applyHSTS(&app, "hsts-max-age", "60"); err != nil {
		t.Fatal(err)
	}
	if got := app.resolve(global.resolve(defaultHSTS)).Header(); got != "max-age=60; includeSubDomains; preload" {
		t.Errorf("header %q", got)
	}
	applyHSTS(&app, "hsts", "false")
	if got := app.resolve(global.resolve(defaultHSTS)).Header(); got != "" {
		t.Errorf("disabled: header %q", got)
	}
	applyHSTS(&app, "hsts", "") // back to the global setting
	if app.Enabled != nil {
		t.Error("an empty value did not unset hsts")
	}
	for _, bad := range [][2]string{{"hsts", "yes please"}, {"hsts-max-age", "-1"}, {"hsts-colour", "red"}} {
		if err := applyHSTS(&app, bad[0], bad[1]); err == nil {
			t.Errorf("%s %s accepted", bad[0], bad[1])
		}
	}
}
