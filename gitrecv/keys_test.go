package gitrecv

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"io"
	"log/slog"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// sshKeygen makes an ed25519 key pair with ssh-keygen and returns the
// signer and the authorized_keys line of its public key.
func sshKeygen(t *testing.T) (gossh.Signer, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "id")
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", "test", "-f", path).CombinedOutput(); err != nil {
		t.Fatalf("ssh-keygen: %v: %s", err, out)
	}
	priv, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := gossh.ParsePrivateKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := os.ReadFile(path + ".pub")
	if err != nil {
		t.Fatal(err)
	}
	return signer, strings.TrimSpace(string(pub))
}

// userCert certifies signer's key for principal "berth", signed by ca.
func userCert(t *testing.T, ca, signer gossh.Signer) *gossh.Certificate {
	t.Helper()
	cert := &gossh.Certificate{
		Key:             signer.PublicKey(),
		CertType:        gossh.UserCert,
		KeyId:           "test",
		ValidPrincipals: []string{"berth"},
		ValidAfter:      uint64(time.Now().Add(-time.Hour).Unix()),
		ValidBefore:     uint64(time.Now().Add(-time.Minute).Unix()), // expired
	}
	if err := cert.SignCert(rand.Reader, ca); err != nil {
		t.Fatal(err)
	}
	return cert
}

func TestParseAuthorizedKeysRefusesWhatItWouldIgnore(t *testing.T) {
	ca, caLine := sshKeygen(t)
	user, userLine := sshKeygen(t)
	certLine := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(userCert(t, ca, user))))
	sk := newSKKey(t)
	skLine := strings.TrimSpace(string(gossh.MarshalAuthorizedKey(sk.PublicKey())))

	for _, tc := range []struct {
		name, line, err string
	}{
		{"plain key", userLine, ""},
		{"harmless options", "no-port-forwarding,no-agent-forwarding " + userLine, ""},
		{"security key", skLine, ""},
		{"certificate", certLine, "line 2: this is an OpenSSH certificate (ssh-ed25519-cert-v01@openssh.com), which Berth does not accept"},
		{"cert-authority", "cert-authority " + caLine, "line 2: cert-authority keys are not supported"},
		{"from", `from="10.0.0.1" ` + userLine, `line 2: the key option "from=\"10.0.0.1\"" is not supported`},
		{"command", `command="true" ` + userLine, `the key option "command=\"true\"" is not supported`},
		{"no-touch-required", "no-touch-required " + skLine, "no-touch-required is not supported"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			keys, err := ParseAuthorizedKeys([]byte("# admins\n" + tc.line + "\n"))
			if tc.err == "" {
				if err != nil || len(keys) != 1 {
					t.Fatalf("got %d keys, error %v; want the key", len(keys), err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Fatalf("error %v, want one containing %q", err, tc.err)
			}
		})
	}
}

// skKey is a FIDO security key (sk-ssh-ed25519@openssh.com) made in
// software, whose signatures assert user presence (a touch) or not.
type skKey struct {
	priv    ed25519.PrivateKey
	pub     gossh.PublicKey
	touched bool
}

func newSKKey(t *testing.T) *skKey {
	t.Helper()
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	wire := gossh.Marshal(struct {
		Type, Key, Application string
	}{gossh.KeyAlgoSKED25519, string(pub), "ssh:"})
	pk, err := gossh.ParsePublicKey(wire)
	if err != nil {
		t.Fatal(err)
	}
	return &skKey{priv: priv, pub: pk, touched: true}
}

func (k *skKey) PublicKey() gossh.PublicKey { return k.pub }

// Sign makes the signature a security key makes (openssh PROTOCOL.u2f):
// over the application's hash, the flags, a counter and the data's hash.
func (k *skKey) Sign(_ io.Reader, data []byte) (*gossh.Signature, error) {
	var flags byte
	if k.touched {
		flags = 0x01 // user presence
	}
	app := sha256.Sum256([]byte("ssh:"))
	msg := sha256.Sum256(data)
	signed := gossh.Marshal(struct {
		App     []byte `ssh:"rest"`
		Flags   byte
		Counter uint32
		Msg     []byte `ssh:"rest"`
	}{app[:], flags, 1, msg[:]})
	return &gossh.Signature{
		Format: gossh.KeyAlgoSKED25519,
		Blob:   ed25519.Sign(k.priv, signed),
		Rest: gossh.Marshal(struct {
			Flags   byte
			Counter uint32
		}{flags, 1}),
	}, nil
}

// syncBuffer is a log destination the server's goroutines may share.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// serve runs a Server whose admin keys are keys, and returns its address
// and its log.
func serve(t *testing.T, keys ...gossh.PublicKey) (string, *syncBuffer) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	hostKey, err := gossh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	s := NewServer(hostKey, slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug})))
	s.SetAccess(&Access{AdminKeys: keys})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	go s.Serve(ln)
	t.Cleanup(func() { s.ssh.Close() })
	servers[ln.Addr().String()] = s
	return ln.Addr().String(), logs
}

// servers are the servers serve started, by address.
var servers = map[string]*Server{}

func dial(addr string, signer gossh.Signer) error {
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "berth",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
		Timeout:         10 * time.Second,
	})
	if err == nil {
		c.Close()
	}
	return err
}

// A security key's signature counts only with its user-presence flag, as
// in OpenSSH without no-touch-required; a refusal is logged with why.
func TestSecurityKeyNeedsUserPresence(t *testing.T) {
	sk := newSKKey(t)
	addr, logs := serve(t, sk.PublicKey())
	if err := dial(addr, sk); err != nil {
		t.Fatalf("touched security key refused: %v", err)
	}
	sk.touched = false
	if err := dial(addr, sk); err == nil {
		t.Fatal("a security key signature without user presence was accepted")
	}
	deadline := time.Now().Add(10 * time.Second)
	for !strings.Contains(logs.String(), "does not assert user presence") {
		if time.Now().After(deadline) {
			t.Fatalf("no log line says why; the log:\n%s", logs)
		}
		time.Sleep(10 * time.Millisecond)
	}
	// The log-line test matches x/crypto's error text, which must not drift.
	if !isMissingUserPresence(errorsFromLog(logs.String())) {
		t.Fatalf("x/crypto's error text changed; the log:\n%s", logs)
	}
}

// errorsFromLog returns the logged refusal's error text as an error.
func errorsFromLog(log string) error {
	for line := range strings.Lines(log) {
		if strings.Contains(line, "does not assert user presence") {
			_, e, _ := strings.Cut(line, "error=")
			return stringError(e)
		}
	}
	return nil
}

type stringError string

func (e stringError) Error() string { return string(e) }

// A certificate is not a key: even one listed as an admin key (stored
// before Berth refused them) does not authenticate, since its validity
// (here: expired) and principals would go unchecked.
func TestCertificateRefused(t *testing.T) {
	ca, _ := sshKeygen(t)
	user, _ := sshKeygen(t)
	cert := userCert(t, ca, user)
	certSigner, err := gossh.NewCertSigner(cert, user)
	if err != nil {
		t.Fatal(err)
	}
	addr, _ := serve(t, cert, ca.PublicKey())
	if err := dial(addr, certSigner); err == nil {
		t.Fatal("an expired certificate listed as a key authenticated")
	}
	if err := dial(addr, ca); err != nil {
		t.Fatalf("a plain listed key was refused: %v", err)
	}
}
