// Package keys owns the SSH keys added with ssh-keys:add: admin keys, and
// deploy keys scoped to one app. It keeps them in one store document,
// "settings/ssh-keys" (where they always were, so existing state reads
// unchanged), and checks every key that Berth reads (CheckKind), these and
// the Caddyfile's authorized_keys alike.
//
// Like a Dokku plugin, it follows the apps' lives through the core's hooks
// (Apps) instead of the core calling it: a destroyed app's deploy keys go
// before its record does, and a renamed app's move to the new name before
// the old one is forgotten. The SSH door (gitrecv) and the dashboard ask it
// who a key is; the commands ssh-keys:* change it.
package keys

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Key is a public key added with ssh-keys:add. A key with an App is a
// deploy key: it may push to that app and run commands on it, and nothing
// else. A key without one is an admin key, like those of the Caddyfile's
// authorized_keys.
type Key struct {
	Name        string    `json:"name"`
	Key         string    `json:"key"` // authorized_keys form
	Fingerprint string    `json:"fingerprint"`
	App         string    `json:"app,omitempty"`
	AddedAt     time.Time `json:"added_at"`
}

// PublicKey parses the stored key.
func (k Key) PublicKey() (gossh.PublicKey, error) {
	pk, _, _, _, err := gossh.ParseAuthorizedKey([]byte(k.Key))
	return pk, err
}

// Apps is what the keys need of the app core (a *platform.Platform).
type Apps interface {
	// Exists says whether app has a record.
	Exists(ctx context.Context, app string) (bool, error)
	// Leaving says whether app is being destroyed or renamed away.
	Leaving(app string) bool
}

// Hooks are the app life events deploy keys follow (*platform.Hooks).
type Hooks interface {
	// OnAppDestroying runs f while an app is being destroyed (it is
	// leaving), before its record goes; an error stops the destroy.
	OnAppDestroying(f func(ctx context.Context, app string) error)
	// OnAppRenaming runs f during a rename once the new app serves, while
	// the old name is leaving, before the old app is forgotten; an error
	// stops the rename there.
	OnAppRenaming(f func(ctx context.Context, from, to string) error)
}

// Config is what Keys are made from.
type Config struct {
	// Store keeps the keys document.
	Store store.Store
	// Apps is the app core the deploy keys follow, through its Hooks.
	Apps  Apps
	Hooks Hooks
}

// Keys are the added SSH keys. Their methods are safe for concurrent use.
type Keys struct {
	store store.Store
	apps  Apps

	// mu serialises every read-modify-write of the keys document (edit).
	mu sync.Mutex
}

// New returns the keys kept in cfg.Store, following the apps through cfg.Hooks from now on.
func New(cfg Config) *Keys {
	k := &Keys{store: cfg.Store, apps: cfg.Apps}
	// A deploy key of an app must not outlive it: an app created later
	// under the same name is someone else's. The app is leaving, so no
	// key of it can be added once these are gone.
	cfg.Hooks.OnAppDestroying(k.dropApp)
	// The new name serves and the old one is leaving: no deploy key can
	// be added to the old name after its keys have moved (one would own
	// the next app of that name).
	cfg.Hooks.OnAppRenaming(k.moveApp)
	return k
}

// harmlessKeyOptions are authorized_keys options that forbid what Berth
// never grants anyway, so a line may keep them.
var harmlessKeyOptions = []string{"no-port-forwarding", "no-agent-forwarding", "no-x11-forwarding", "no-user-rc"}

// CheckKind refuses an authorized_keys entry that Berth would otherwise
// take as a plain key while ignoring what makes it more than one: an
// OpenSSH certificate (its validity and principals would go unchecked), a
// cert-authority line (any certificate the CA signed was meant to be
// accepted, not the CA's key itself), and options such as from= or
// command= that OpenSSH enforces and Berth does not.
//
// Security keys (sk-ssh-ed25519@openssh.com, sk-ecdsa-sha2-nistp256@
// openssh.com) are accepted: golang.org/x/crypto/ssh refuses their
// signatures unless they assert user presence (a touch), as OpenSSH does.
func CheckKind(key gossh.PublicKey, options []string) error {
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

const docKey = "settings/ssh-keys"

var namePattern = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// List returns the added keys, sorted by name.
func (k *Keys) List(ctx context.Context) ([]Key, error) {
	doc, err := k.store.Get(ctx, docKey)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []Key
	if err := json.Unmarshal(doc, &keys); err != nil {
		return nil, fmt.Errorf("ssh keys: %w", err)
	}
	return keys, nil
}

func (k *Keys) save(ctx context.Context, keys []Key) error {
	slices.SortFunc(keys, func(a, b Key) int { return strings.Compare(a.Name, b.Name) })
	doc, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	return k.store.Put(ctx, docKey, doc)
}

// Add adds a public key (one authorized_keys line) under name; app
// scopes it to one app.
func (k *Keys) Add(ctx context.Context, name, app, line string) (Key, error) {
	if !namePattern.MatchString(name) {
		return Key{}, fmt.Errorf("key name %q: use letters, digits, dots, dashes, underscores and @, at most 64", name)
	}
	pk, comment, options, _, err := gossh.ParseAuthorizedKey([]byte(strings.TrimSpace(line)))
	if err != nil {
		return Key{}, fmt.Errorf("no public key on stdin (give one line such as \"ssh-ed25519 AAAA... you@host\"): %w", err)
	}
	if err := CheckKind(pk, options); err != nil {
		return Key{}, err
	}
	key := Key{
		Name:        name,
		Key:         strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk))) + " " + comment,
		Fingerprint: gossh.FingerprintSHA256(pk),
		App:         app,
		AddedAt:     time.Now().UTC(),
	}
	key.Key = strings.TrimSpace(key.Key)
	err = k.edit(ctx, func(keys []Key) ([]Key, error) {
		if app != "" {
			// Checked under the keys lock: apps:destroy and apps:rename
			// mark the app leaving before they take its keys away under
			// the same lock, so a key is either added before (and goes
			// with the app) or refused.
			if err := k.appTakesKeys(ctx, app); err != nil {
				return nil, err
			}
		}
		for _, o := range keys {
			if o.Name == name {
				return nil, fmt.Errorf("a key named %s exists; remove it first (ssh-keys:remove %s)", name, name)
			}
			if o.Fingerprint == key.Fingerprint {
				return nil, fmt.Errorf("this key is already added as %s", o.Name)
			}
		}
		return append(keys, key), nil
	})
	if err != nil {
		return Key{}, err
	}
	return key, nil
}

// Remove removes the key named name.
func (k *Keys) Remove(ctx context.Context, name string) error {
	return k.edit(ctx, func(keys []Key) ([]Key, error) {
		i := slices.IndexFunc(keys, func(o Key) bool { return o.Name == name })
		if i < 0 {
			return nil, fmt.Errorf("there is no key named %s (see ssh-keys:list)", name)
		}
		return slices.Delete(keys, i, i+1), nil
	})
}

// edit is the one read-modify-write of the keys document. Every change of
// it (ssh-keys:add and ssh-keys:remove, apps:rename moving an app's deploy
// keys, apps:destroy removing them) runs edit on what is stored at that
// moment, under mu, and saves what edit returns; so no change undoes
// another (a revoked key that comes back, a moved key that moves back).
// The lock waits rather than refuses: an edit takes milliseconds, and a
// rename or destroy must not fail halfway because a key was being added.
func (k *Keys) edit(ctx context.Context, edit func([]Key) ([]Key, error)) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	keys, err := k.List(ctx)
	if err != nil {
		return err
	}
	keys, err = edit(keys)
	if err != nil {
		return err
	}
	return k.save(ctx, keys)
}

// appTakesKeys says whether a deploy key may be added to app now: it
// exists and is not being destroyed or renamed away.
func (k *Keys) appTakesKeys(ctx context.Context, app string) error {
	if k.apps.Leaving(app) {
		return fmt.Errorf("app %s is being destroyed or renamed; add the key once that has finished (to the new name, after a rename)", app)
	}
	if ok, err := k.apps.Exists(ctx, app); err != nil {
		return err
	} else if !ok {
		return platform.Errorf(platform.ErrAppNotFound, "app %s does not exist", app)
	}
	return nil
}

// moveApp gives the deploy keys of app from to app to (apps:rename);
// dropApp removes those of app (apps:destroy). The app core has marked
// the app leaving, so no key of it is added once these have run.
func (k *Keys) moveApp(ctx context.Context, from, to string) error {
	return k.edit(ctx, func(keys []Key) ([]Key, error) {
		for i := range keys {
			if keys[i].App == from {
				keys[i].App = to
			}
		}
		return keys, nil
	})
}

func (k *Keys) dropApp(ctx context.Context, app string) error {
	return k.edit(ctx, func(keys []Key) ([]Key, error) {
		return slices.DeleteFunc(keys, func(o Key) bool { return o.App == app }), nil
	})
}
