package registry

// registry:set and registry:login's records (settings.json): which
// registry an app's swarm images go to when it is not Berth's own, and
// the credentials Berth pushes with and hands to the swarm's nodes.

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
	"github.com/distribution/reference"
	"github.com/moby/moby/api/types/registry"
	"github.com/moby/moby/client"
)

// Apps is what the settings need of the app core (*platform.Platform).
type Apps interface {
	App(ctx context.Context, name string) (*platform.App, error)
}

// LoginEngine is what the settings ask of Berth's Docker engine
// (*client.Client is one): the push to a user's registry (Engine), and
// the check of a login before it is kept (RegistryLogin: the engine's
// own `docker login`, from the host that pushes).
type LoginEngine interface {
	Engine
	RegistryLogin(ctx context.Context, options client.RegistryLoginOptions) (client.RegistryLoginResult, error)
}

// Settings are the registry settings. Make them with NewSettings.
type Settings struct {
	path string
	apps Apps
	// own is Berth's registry, nil when the config names none.
	own    *Registry
	engine LoginEngine
	mu     sync.Mutex
}

// SettingsConfig is what the settings are made of.
type SettingsConfig struct {
	// Dir is the registry's directory (STATE/registry): settings.json.
	Dir  string
	Apps Apps
	// Own is Berth's registry (nil: none configured).
	Own *Registry
	// Engine is Berth's engine, which checks a login and pushes to a
	// user's registry.
	Engine LoginEngine
}

// NewSettings returns the settings kept in cfg.Dir.
func NewSettings(cfg SettingsConfig) *Settings {
	return &Settings{path: filepath.Join(cfg.Dir, "settings.json"), apps: cfg.Apps, own: cfg.Own, engine: cfg.Engine}
}

// scope is one app's settings, or the global ones.
type scope struct {
	// Server is HOST[:PORT][/PREFIX] of the user's registry: the app's
	// images go to SERVER/APP ("" Berth's own).
	Server string `json:"server,omitempty"`
	// Logins are registry:login's credentials by server host. The
	// password is kept as given (0600): it is presented to the user's
	// registry by Berth's engine and Swarm's nodes, so it cannot be a
	// hash. It is never reported or logged.
	Logins map[string]login `json:"logins,omitempty"`
}

type login struct {
	Username string `json:"username"`
	Password string `json:"password"`
}

type settingsDoc struct {
	Global scope            `json:"global"`
	Apps   map[string]scope `json:"apps,omitempty"`
}

func (s *Settings) read() (settingsDoc, error) {
	var d settingsDoc
	b, err := os.ReadFile(s.path)
	if errors.Is(err, fs.ErrNotExist) {
		return d, nil
	}
	if err != nil {
		return d, err
	}
	if err := json.Unmarshal(b, &d); err != nil {
		return d, fmt.Errorf("%s: %w (fix or remove it; registry:set and registry:login write it again)", s.path, err)
	}
	return d, nil
}

func (s *Settings) write(d settingsDoc) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return err
	}
	// Synced before the rename, and the rename synced: a power cut
	// leaves the old document or the new one, never an empty file.
	if err := store.ReplaceFile(s.path, b); err != nil {
		return err
	}
	store.SyncDir(filepath.Dir(s.path)) // best effort: the document is whole either way
	return nil
}

// change changes app's scope ("" the global one) under the lock.
func (s *Settings) change(ctx context.Context, app string, f func(*scope) error) error {
	if app != "" {
		if _, err := s.apps.App(ctx, app); err != nil {
			return err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.read()
	if err != nil {
		return err
	}
	sc := d.Global
	if app != "" {
		sc = d.Apps[app]
	}
	if err := f(&sc); err != nil {
		return err
	}
	if app == "" {
		d.Global = sc
	} else {
		if d.Apps == nil {
			d.Apps = map[string]scope{}
		}
		if sc.Server == "" && len(sc.Logins) == 0 {
			delete(d.Apps, app)
		} else {
			d.Apps[app] = sc
		}
	}
	return s.write(d)
}

// CheckServer says what is wrong with a server value (HOST[:PORT][/PREFIX]).
func CheckServer(server string) error {
	host, _, _ := strings.Cut(server, "/")
	if !strings.ContainsAny(host, ".:") && host != "localhost" {
		return fmt.Errorf("registry server %q: give the registry's host (with a dot, or :PORT), then an optional /PREFIX, such as registry.example.com/team", server)
	}
	named, err := reference.ParseNamed(server + "/app")
	if err != nil || reference.Domain(named) != host {
		return fmt.Errorf("registry server %q is not HOST[:PORT][/PREFIX] (lowercase path components), such as registry.example.com/team", server)
	}
	return nil
}

// SetServer sets app's registry server ("" the global scope; value ""
// unsets it: Berth's own registry, or the global one).
func (s *Settings) SetServer(ctx context.Context, app, value string) error {
	value = strings.TrimSuffix(value, "/")
	if value != "" {
		if err := CheckServer(value); err != nil {
			return err
		}
	}
	return s.change(ctx, app, func(sc *scope) error { sc.Server = value; return nil })
}

// Login keeps the credentials app's images are pushed and pulled with
// at server ("" app: every app's), once the registry has accepted them
// (as Dokku's `docker login` does): a wrong password found at the next
// deploy would fail a push far from the command that caused it.
func (s *Settings) Login(ctx context.Context, app, server, user, password string) error {
	host, _, _ := strings.Cut(strings.TrimSuffix(server, "/"), "/")
	if err := CheckServer(host); err != nil {
		return err
	}
	if user == "" || password == "" {
		return errors.New("registry:login needs a user name and a password (on stdin: --password-stdin)")
	}
	if app != "" {
		if _, err := s.apps.App(ctx, app); err != nil {
			return err
		}
	}
	if s.engine == nil {
		return errors.New("no engine to check the login with")
	}
	if _, err := s.engine.RegistryLogin(ctx, client.RegistryLoginOptions{ServerAddress: host, Username: user, Password: password}); err != nil {
		return fmt.Errorf("%s refused the login of %s, which is not kept: %w (check the user name and password, and that the engine reaches the registry over HTTPS with a certificate it trusts)", host, user, err)
	}
	return s.change(ctx, app, func(sc *scope) error {
		if sc.Logins == nil {
			sc.Logins = map[string]login{}
		}
		sc.Logins[host] = login{Username: user, Password: password}
		return nil
	})
}

// Logout forgets the credentials of server ("" app: the global ones).
func (s *Settings) Logout(ctx context.Context, app, server string) error {
	host, _, _ := strings.Cut(strings.TrimSuffix(server, "/"), "/")
	return s.change(ctx, app, func(sc *scope) error {
		if _, ok := sc.Logins[host]; !ok {
			return fmt.Errorf("no login for %s is kept there", host)
		}
		delete(sc.Logins, host)
		return nil
	})
}

// Report is registry:report's (Dokku's keys: --registry-server, ...).
type Report struct {
	App string `json:"app,omitempty"`
	// Server is the app's own server ("" none), GlobalServer the global
	// one, ComputedServer where its swarm images go: the user's
	// server, or Berth's own registry's host (berth/APP).
	Server         string `json:"server"`
	GlobalServer   string `json:"global_server"`
	ComputedServer string `json:"computed_server"`
	// Logins are the servers with credentials that apply to the app
	// (user names only).
	Logins []string `json:"logins"`
}

// Report is app's registry report ("" the global one).
func (s *Settings) Report(ctx context.Context, app string) (Report, error) {
	if app != "" {
		if _, err := s.apps.App(ctx, app); err != nil {
			return Report{}, err
		}
	}
	s.mu.Lock()
	d, err := s.read()
	s.mu.Unlock()
	if err != nil {
		return Report{}, err
	}
	own := d.Apps[app]
	r := Report{App: app, GlobalServer: d.Global.Server, Logins: []string{}}
	if app != "" {
		r.Server = own.Server
	}
	r.ComputedServer = s.computed(own.Server, d.Global.Server)
	logins := maps.Clone(d.Global.Logins)
	if logins == nil {
		logins = map[string]login{}
	}
	if app != "" {
		maps.Copy(logins, own.Logins)
	}
	for _, h := range slices.Sorted(maps.Keys(logins)) {
		r.Logins = append(r.Logins, logins[h].Username+"@"+h)
	}
	return r, nil
}

func (s *Settings) computed(own, global string) string {
	switch {
	case own != "":
		return own
	case global != "":
		return global
	case s.own != nil:
		return s.own.Host() + "/berth"
	}
	return ""
}

// target is where app's images go: the user's server and its login, or
// "" for Berth's own registry.
func (s *Settings) target(app string) (server string, l login, ok bool, err error) {
	s.mu.Lock()
	d, err := s.read()
	s.mu.Unlock()
	if err != nil {
		return "", login{}, false, err
	}
	server = cmp(d.Apps[app].Server, d.Global.Server)
	if server == "" {
		return "", login{}, false, nil
	}
	host, _, _ := strings.Cut(server, "/")
	l, ok = d.Apps[app].Logins[host]
	if !ok {
		l, ok = d.Global.Logins[host]
	}
	return server, l, ok, nil
}

func cmp(a, b string) string {
	if a != "" {
		return a
	}
	return b
}

// forget drops a destroyed app's settings.
func (s *Settings) forget(app string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.read()
	if err != nil {
		return err
	}
	if _, ok := d.Apps[app]; !ok {
		return nil
	}
	delete(d.Apps, app)
	return s.write(d)
}

// Publish puts the image of app's release version where the swarm's
// nodes pull it from (scheduler/swarm's Images): the user's registry
// when registry:set names one (pushed and pulled with registry:login's
// credentials for its host, or none), else Berth's own; with neither,
// "" (the tasks run the image by ID, on the manager only).
func (s *Settings) Publish(ctx context.Context, app string, version int, imageID string, gen, running int) (ref, auth string, err error) {
	server, l, ok, err := s.target(app)
	if err != nil {
		return "", "", err
	}
	if server == "" {
		if s.own == nil {
			return "", "", nil
		}
		return s.own.Publish(ctx, app, version, imageID, gen, running)
	}
	host, _, _ := strings.Cut(server, "/")
	// Without a login the push still carries an auth (an empty one):
	// the engine refuses a push with none ("missing X-Registry-Auth"),
	// which would fail a registry that takes anonymous pushes. The
	// services get none.
	a := registry.AuthConfig{ServerAddress: host}
	if ok {
		a.Username, a.Password = l.Username, l.Password
	}
	pushAuth, err := encodeAuth(a)
	if err != nil {
		return "", "", err
	}
	if ok {
		auth = pushAuth
	}
	repo := server + "/" + app
	dgst, err := pushImage(ctx, s.engine, imageID, repo, "v"+strconv.Itoa(version), pushAuth)
	if err != nil {
		if !ok {
			err = fmt.Errorf("%w (no registry:login for %s: registry:login %s %s USER --password-stdin)", err, host, app, host)
		}
		return "", "", err
	}
	return repo + "@" + dgst, auth, nil
}

// move gives a renamed app's settings to its new name.
func (s *Settings) move(from, to string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	d, err := s.read()
	if err != nil {
		return err
	}
	sc, ok := d.Apps[from]
	if !ok {
		return nil
	}
	delete(d.Apps, from)
	d.Apps[to] = sc
	return s.write(d)
}
