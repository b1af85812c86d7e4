package registry

// The pull credentials: one per app and service generation, stored as
// SHA-256 hashes only (credentials.json, the registry's own record).

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
)

// credentials is credentials.json.
type credentials struct {
	// Apps are each app's valid pull credentials.
	Apps map[string][]pullCredential `json:"apps,omitempty"`
}

type pullCredential struct {
	// Generation is the service generation the credential was issued
	// for: it is revoked once that generation no longer runs.
	Generation int `json:"generation"`
	// SHA256 is the hex SHA-256 of the password (a random 256-bit
	// token: a fast hash is enough, there is nothing to guess).
	SHA256 string `json:"sha256"`
}

// randomToken is 256 random bits, URL-safe base64.
func randomToken() string {
	b := make([]byte, 32)
	if _, err := rand.Read(b); err != nil {
		panic(err) // crypto/rand does not fail on Linux
	}
	return base64.RawURLEncoding.EncodeToString(b)
}

func (r *Registry) credsPath() string { return filepath.Join(r.dir, "credentials.json") }

// readCreds reads credentials.json (none yet: empty). r.mu held.
func (r *Registry) readCreds() (credentials, error) {
	var c credentials
	b, err := os.ReadFile(r.credsPath())
	if errors.Is(err, fs.ErrNotExist) {
		return c, nil
	}
	if err != nil {
		return c, err
	}
	if err := json.Unmarshal(b, &c); err != nil {
		return c, err
	}
	return c, nil
}

// writeCreds replaces credentials.json atomically. r.mu held.
func (r *Registry) writeCreds(c credentials) error {
	b, err := json.MarshalIndent(c, "", "  ")
	if err != nil {
		return err
	}
	tmp := r.credsPath() + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o600)
	if err != nil {
		return err
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return err
	}
	if err := f.Sync(); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, r.credsPath())
}

// issuePull makes a pull credential for app's generation gen and returns
// its password, after revoking those of generations before running (the
// generation that serves now: a rollout's old services keep theirs until
// they go).
func (r *Registry) issuePull(app string, gen, running int) (string, error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.readCreds()
	if err != nil {
		return "", err
	}
	if c.Apps == nil {
		c.Apps = map[string][]pullCredential{}
	}
	pass := randomToken()
	sum := sha256.Sum256([]byte(pass))
	list := slices.DeleteFunc(c.Apps[app], func(p pullCredential) bool { return p.Generation < running })
	c.Apps[app] = append(list, pullCredential{Generation: gen, SHA256: hex.EncodeToString(sum[:])})
	if err := r.writeCreds(c); err != nil {
		return "", err
	}
	return pass, nil
}

// revokePull revokes app's pull credentials of generations before
// running (all of them: running 0 and forget).
func (r *Registry) revokePull(app string, running int, forget bool) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	c, err := r.readCreds()
	if err != nil {
		return err
	}
	list, ok := c.Apps[app]
	if !ok {
		return nil
	}
	if forget {
		delete(c.Apps, app)
	} else {
		kept := slices.DeleteFunc(list, func(p pullCredential) bool { return p.Generation < running })
		if len(kept) == len(list) {
			return nil
		}
		c.Apps[app] = kept
	}
	return r.writeCreds(c)
}

// pullValid says whether sum is the hash of one of app's pull
// credentials.
func (r *Registry) pullValid(app string, sum [32]byte) bool {
	r.mu.Lock()
	c, err := r.readCreds()
	r.mu.Unlock()
	if err != nil {
		r.log.Warn("registry: reading the credentials", "error", err)
		return false
	}
	want := hex.EncodeToString(sum[:])
	ok := false
	for _, p := range c.Apps[app] {
		if subtle.ConstantTimeCompare([]byte(p.SHA256), []byte(want)) == 1 {
			ok = true
		}
	}
	return ok
}
