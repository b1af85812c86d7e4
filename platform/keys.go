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
	err = p.editSSHKeys(ctx, func(keys []SSHKey) ([]SSHKey, error) {
		if app != "" {
			// Checked under the keys lock: apps:destroy and apps:rename
			// mark the app leaving before they take its keys away under
			// the same lock, so a key is either added before (and goes
			// with the app) or refused.
			if err := p.appTakesKeys(ctx, app); err != nil {
				return nil, err
			}
		}
		for _, k := range keys {
			if k.Name == name {
				return nil, fmt.Errorf("a key named %s exists; remove it first (ssh-keys:remove %s)", name, name)
			}
			if k.Fingerprint == key.Fingerprint {
				return nil, fmt.Errorf("this key is already added as %s", k.Name)
			}
		}
		return append(keys, key), nil
	})
	if err != nil {
		return SSHKey{}, err
	}
	return key, nil
}

// RemoveSSHKey removes the key named name.
func (p *Platform) RemoveSSHKey(ctx context.Context, name string) error {
	return p.editSSHKeys(ctx, func(keys []SSHKey) ([]SSHKey, error) {
		i := slices.IndexFunc(keys, func(k SSHKey) bool { return k.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("there is no key named %s (see ssh-keys:list)", name)
		}
		return slices.Delete(keys, i, i+1), nil
	})
}

// editSSHKeys is the one read-modify-write of the keys document. Every
// change of it (ssh-keys:add and ssh-keys:remove, apps:rename moving an
// app's deploy keys, apps:destroy removing them) runs edit on what is
// stored at that moment, under keysMu, and saves what edit returns; so no
// change undoes another (a revoked key that comes back, a moved key that
// moves back). The lock waits rather than refuses: an edit takes
// milliseconds, and a rename or destroy must not fail halfway because a
// key was being added.
func (p *Platform) editSSHKeys(ctx context.Context, edit func([]SSHKey) ([]SSHKey, error)) error {
	p.keysMu.Lock()
	defer p.keysMu.Unlock()
	keys, err := p.SSHKeys(ctx)
	if err != nil {
		return err
	}
	keys, err = edit(keys)
	if err != nil {
		return err
	}
	return p.saveSSHKeys(ctx, keys)
}

// appTakesKeys says whether a deploy key may be added to app now: it
// exists and is not being destroyed or renamed away.
func (p *Platform) appTakesKeys(ctx context.Context, app string) error {
	if p.routes.IsLeaving(app) {
		return fmt.Errorf("app %s is being destroyed or renamed; add the key once that has finished (to the new name, after a rename)", app)
	}
	if ok, err := p.Exists(ctx, app); err != nil {
		return err
	} else if !ok {
		return Errorf(ErrAppNotFound, "app %s does not exist", app)
	}
	return nil
}

// moveAppKeys gives the deploy keys of app from to app to (apps:rename);
// dropAppKeys removes those of app (apps:destroy). The caller has marked
// the app leaving, so no key of it is added once these have run.
func (p *Platform) moveAppKeys(ctx context.Context, from, to string) error {
	return p.editSSHKeys(ctx, func(keys []SSHKey) ([]SSHKey, error) {
		for i := range keys {
			if keys[i].App == from {
				keys[i].App = to
			}
		}
		return keys, nil
	})
}

func (p *Platform) dropAppKeys(ctx context.Context, app string) error {
	return p.editSSHKeys(ctx, func(keys []SSHKey) ([]SSHKey, error) {
		return slices.DeleteFunc(keys, func(k SSHKey) bool { return k.App == app }), nil
	})
}
