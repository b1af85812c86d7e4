package platform

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/store"
)

// SSHKey is a public key added with ssh-keys:add. A key with an App is a
// deploy key: it may push to that app and run commands on it, and nothing
// else. A key without one is an admin key, like those of the Caddyfile's
// authorized_keys.
type SSHKey struct {
	Name        string    `json:"name"`
	Key         string    `json:"key"` // authorized_keys form
	Fingerprint string    `json:"fingerprint"`
	App         string    `json:"app,omitempty"`
	AddedAt     time.Time `json:"added_at"`
}

// PublicKey parses the stored key.
func (k SSHKey) PublicKey() (gossh.PublicKey, error) {
	pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k.Key))
	return pk, err
}

// harmlessKeyOptions are authorized_keys options that forbid what Berth
// never grants anyway, so a line may keep them.
var harmlessKeyOptions = []string{"no-port-forwarding", "no-agent-forwarding", "no-x11-forwarding", "no-user-rc"}

// CheckKeyKind refuses an authorized_keys entry that Berth would
// otherwise take as a plain key while ignoring what makes it more than
// one: an OpenSSH certificate (its validity and principals would go
// unchecked), a cert-authority line (any certificate the CA signed was
// meant to be accepted, not the CA's key itself), and options such as
// from= or command= that OpenSSH enforces and Berth does not.
//
// Security keys (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@
// openssh.com) are accepted: golang.org/x/crypto/ssh refuses their
// signatures unless they assert user presence (a touch), as OpenSSH does.
func CheckKeyKind(key gossh.PublicKey, options []string) error {
	if cert, ok := key.(*gossh.Certificate); ok {
		return fmt.Errorf("this is an OpenSSH certificate (%s), which Berth does not accept: it would not check the certificate's validity or principals; list the plain public key instead (the .pub file without -cert)", cert.Type())
	}
	for _, opt := range options {
		name, _, _ := strings.Cut(opt, "=")
		switch name = strings.ToLower(strings.TrimSpace(name)); {
		case slices.Contains(harmlessKeyOptions, name):
		case name == "cert-authority":
			return errors.New("cert-authority keys are not supported: Berth does not accept certificates; list each user's plain public key instead")
		case name == "no-touch-required":
			return errors.New("no-touch-required is not supported: Berth always requires a security key's touch (user presence); remove the option")
		default:
			return fmt.Errorf("the key option %q is not supported: Berth checks only the key and would ignore it; remove it (allowed: %s)", opt, strings.Join(harmlessKeyOptions, ", "))
		}
	}
	return nil
}

const keysKey = "settings/ssh-keys"

var keyNamePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// SSHKeys returns the added keys, sorted by name.
func (p *Platform) SSHKeys(ctx context.Context) ([]SSHKey, error) {
	doc, err := p.store.Get(ctx, keysKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []SSHKey
	if err := json.Unmarshal(doc, &keys); err != nil {
		return nil, fmt.Errorf("ssh keys: %w", err)
	}
	return keys, nil
}

func (p *Platform) saveSSHKeys(ctx context.Context, keys []SSHKey) error {
	slices.SortFunc(keys, func(a, b SSHKey) int { return strings.Compare(a.Name, b.Name) })
	doc, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	return p.store.Put(ctx, keysKey, doc)
}

// AddSSHKey adds a public key (one authorized_keys line) under name; app
// scopes it to one app.
func (p *Platform) AddSSHKey(ctx context.Context, name, app, line string) (SSHKey, error) {
	if !keyNamePattern.MatchString(name) {
		return SSHKey{}, fmt.Errorf("key name %q: use letters, digits, dots, dashes, underscores and @, at most 64", name)
	}
	if app != "" {
		if ok, err := p.Exists(ctx, app); err != nil {
			return SSHKey{}, err
		} else if !ok {
			return SSHKey{}, Errorf(ErrAppNotFound, "app %s does not exist", app)
		}
	}
	pk, comment, options, _, err := gossh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
	if err != nil {
		return SSHKey{}, fmt.Errorf("no public key on stdin (give one line such as \"ssh-ed25519 AAAA... you@host\"): %w", err)
	}
	if err := CheckKeyKind(pk, options); err != nil {
		return SSHKey{}, err
	}
	key := SSHKey{
		Name:        name,
		Key:         strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk))) + " " + comment,
		Fingerprint: gossh.FingerprintSHA256(pk),
		App:         app,
		AddedAt:     time.Now().UTC(),
	}
	key.Key = strings.TrimSpace(key.Key)
	unlock, err := p.lock("_keys", "a keys change")
	if err != nil {
		return SSHKey{}, err
	}
	defer unlock()
	keys, err := p.SSHKeys(ctx)
	if err != nil {
		return SSHKey{}, err
	}
	for _, k := range keys {
		if k.Name == name {
			return SSHKey{}, fmt.Errorf("a key named %s exists; remove it first (ssh-keys:remove %s)", name, name)
		}
		if k.Fingerprint == key.Fingerprint {
			return SSHKey{}, fmt.Errorf("this key is already added as %s", k.Name)
		}
	}
	return key, p.saveSSHKeys(ctx, append(keys, key))
}

// RemoveSSHKey removes the key named name.
func (p *Platform) RemoveSSHKey(ctx context.Context, name string) error {
	unlock, err := p.lock("_keys", "a keys change")
	if err != nil {
		return err
	}
	defer unlock()
	keys, err := p.SSHKeys(ctx)
	if err != nil {
		return err
	}
	i := slices.IndexFunc(keys, func(k SSHKey) bool { return k.Name == name })
	if i < 0 {
		return fmt.Errorf("there is no key named %s (see ssh-keys:list)", name)
	}
	return p.saveSSHKeys(ctx, slices.Delete(keys, i, i+1))
}
