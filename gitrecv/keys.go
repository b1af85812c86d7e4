package gitrecv

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/keys"
)

// LoadOrCreateHostKey reads the SSH host key at path (an OpenSSH private
// key), or generates an ed25519 key there when the file does not exist, so
// the server keeps one identity across restarts and clients' known_hosts
// stay valid.
func LoadOrCreateHostKey(path string) (gossh.Signer, error) {
	pemBytes, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		_, priv, err := ed25519.GenerateKey(rand.Reader)
		if err != nil {
			return nil, err
		}
		block, err := gossh.MarshalPrivateKey(priv, "berth host key")
		if err != nil {
			return nil, err
		}
		if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
			return nil, err
		}
		var buf bytes.Buffer
		if err := pem.Encode(&buf, block); err != nil {
			return nil, err
		}
		// O_EXCL: if another process wrote a key first, use that one.
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
		if errors.Is(err, fs.ErrExist) {
			return LoadOrCreateHostKey(path)
		}
		if err != nil {
			return nil, fmt.Errorf("write SSH host key: %w", err)
		}
		if _, err := f.Write(buf.Bytes()); err != nil {
			f.Close()
			return nil, err
		}
		if err := f.Close(); err != nil {
			return nil, err
		}
		return gossh.NewSignerFromKey(priv)
	}
	if err != nil {
		return nil, fmt.Errorf("read SSH host key: %w", err)
	}
	signer, err := gossh.ParsePrivateKey(pemBytes)
	if err != nil {
		return nil, fmt.Errorf("SSH host key %s: %w (give an unencrypted OpenSSH or PEM private key)", path, err)
	}
	return signer, nil
}

// ParseAuthorizedKeys reads keys in OpenSSH's authorized_keys format.
// Comments and blank lines are skipped; a line that is not a key is an
// error naming the line, so a typo does not silently lock someone out. So
// is a certificate, a cert-authority line or an option Berth does not
// enforce (see keys.CheckKind): taking them as plain keys would
// grant more than the line says.
func ParseAuthorizedKeys(data []byte) ([]gossh.PublicKey, error) {
	var parsed []gossh.PublicKey
	line := 0
	for len(bytes.TrimSpace(data)) > 0 {
		line++
		var current []byte
		current, data, _ = bytes.Cut(data, []byte("\n"))
		current = bytes.TrimSpace(current)
		if len(current) == 0 || current[0] == '#' {
			continue
		}
		key, _, options, _, err := gossh.ParseAuthorizedKey(current)
		if err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		if err := keys.CheckKind(key, options); err != nil {
			return nil, fmt.Errorf("line %d: %w", line, err)
		}
		parsed = append(parsed, key)
	}
	return parsed, nil
}

// ReadAuthorizedKeys reads an authorized_keys file.
func ReadAuthorizedKeys(path string) ([]gossh.PublicKey, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("authorized_keys: %w", err)
	}
	keys, err := ParseAuthorizedKeys(data)
	if err != nil {
		return nil, fmt.Errorf("authorized_keys %s: %w", path, err)
	}
	return keys, nil
}

// isMissingUserPresence says whether err is x/crypto/ssh refusing a
// security key's signature made without a touch. The library does not
// export that error, so its text is matched; the test in keys_test.go
// fails if the text changes.
func isMissingUserPresence(err error) bool {
	return err != nil && strings.Contains(err.Error(), "user presence")
}
