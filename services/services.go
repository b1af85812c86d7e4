// Package services runs Berth's datastores (Dokku's postgres, mysql and
// redis plugins, built in): each service is one container of the
// database's official image on Berth's network, its data in a named
// volume, its credentials in a record readable by the owner only. Linking
// a service to an app sets the app's DATABASE_URL or REDIS_URL through the
// platform's config path, so the app is replaced with no downtime.
package services

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"regexp"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/busy"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Service is a datastore's record.
type Service struct {
	Type     string    `json:"type"`
	Name     string    `json:"name"`
	Image    string    `json:"image"`
	User     string    `json:"user,omitempty"`
	Password string    `json:"password"`
	Database string    `json:"database,omitempty"`
	Created  time.Time `json:"created_at"`
	// RootPassword is MySQL's administrator password (connect, export
	// and import use it); apps get User's.
	RootPassword string `json:"root_password,omitempty"`
	// Stopped is set by TYPE:stop: Berth's start leaves the service
	// stopped until TYPE:start.
	Stopped bool `json:"stopped,omitempty"`
	// Expose is where the service's port is published on the host
	// ("127.0.0.1:5432"; port 0 lets Docker choose), empty when it is not.
	Expose string `json:"expose,omitempty"`
	Links  []Link `json:"links,omitempty"`
}

// Link is an app the service is linked to, and the config var that
// carries the service's URL to it.
type Link struct {
	App string `json:"app"`
	Var string `json:"var"`
}

// Errors callers can test for.
var (
	ErrNotFound = errors.New("service not found")
	ErrExists   = errors.New("service exists")
	ErrBusy     = errors.New("service is busy")
	ErrLinked   = errors.New("service is linked")
)

// Manager runs the services of one platform.
type Manager struct {
	p      *platform.Platform
	config Configs
	docker *docker.Client
	store  store.Store
	log    *slog.Logger

	// busy names what holds each service: one change of it at a time.
	busy busy.Set
}

// Configs are the apps' config vars, which a link sets and an unlink
// unsets (a config release, as config:set: package deploy's).
type Configs interface {
	Config(ctx context.Context, app string) (map[string]string, error)
	SetConfig(ctx context.Context, app string, set map[string]string, unset []string, noRestart bool, log io.Writer) error
}

// New makes the manager of p's services, which runs them on engine.
// caddymodule builds it beside the platform and gives it to the command
// table in commands.Backend. The manager follows p's apps: links go with
// an app that is destroyed, move with a rename and are copied with a
// clone.
func New(p *platform.Platform, engine *docker.Client, config Configs) *Manager {
	m := &Manager{p: p, config: config, docker: engine, store: p.Store(), log: slog.Default()}
	p.Hooks().OnAppDestroyed(func(ctx context.Context, app string) { m.relink(ctx, app, "", false) })
	p.Hooks().OnAppRenamed(func(ctx context.Context, from, to string) { m.relink(ctx, from, to, false) })
	p.Hooks().OnAppCloned(func(ctx context.Context, from, to string) { m.relink(ctx, from, to, true) })
	return m
}

// SetLogger sets where the manager logs what it does.
func (m *Manager) SetLogger(l *slog.Logger) {
	if l != nil {
		m.log = l
	}
}

var namePattern = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,46}[a-z0-9])?$`)

// ValidateName checks a service name.
func ValidateName(name string) error {
	if !namePattern.MatchString(name) {
		return fmt.Errorf("invalid service name %q: use lowercase letters, digits and dashes, at most 48, starting and ending with a letter or digit", name)
	}
	return nil
}

// ContainerName is the service's container name, which is also its
// host name on Berth's network: berth-postgres-NAME.
func ContainerName(t *Type, name string) string { return "berth-" + t.Name + "-" + name }

// VolumeName is the named volume that holds the service's data.
func VolumeName(t *Type, name string) string { return ContainerName(t, name) + "-data" }

func key(t *Type, name string) string { return "services/" + t.Name + "/" + name }

func (m *Manager) lock(t *Type, name, what string) (func(), error) {
	unlock, holder := m.busy.Take(t.Name+"/"+name, what)
	if unlock == nil {
		return nil, platform.Errorf(ErrBusy, "%s of %s service %s is running; try again when it has finished", holder, t.Name, name)
	}
	return unlock, nil
}

func (m *Manager) load(ctx context.Context, t *Type, name string) (*Service, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	doc, err := m.store.Get(ctx, key(t, name))
	if errors.Is(err, store.ErrNotFound) {
		return nil, platform.Errorf(ErrNotFound, "%s service %s does not exist; create it with %s:create %s", t.Name, name, t.Name, name)
	}
	if err != nil {
		return nil, err
	}
	var s Service
	if err := json.Unmarshal(doc, &s); err != nil {
		return nil, fmt.Errorf("record of %s service %s: %w", t.Name, name, err)
	}
	return &s, nil
}

func (m *Manager) save(ctx context.Context, t *Type, s *Service) error {
	doc, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return m.store.Put(ctx, key(t, s.Name), doc)
}

// locked loads the service under its lock.
func (m *Manager) locked(ctx context.Context, t *Type, name, what string) (*Service, func(), error) {
	if err := ValidateName(name); err != nil {
		return nil, nil, err
	}
	unlock, err := m.lock(t, name, what)
	if err != nil {
		return nil, nil, err
	}
	s, err := m.load(ctx, t, name)
	if err == nil {
		err = m.mine(ctx, t, name)
	}
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return s, unlock, nil
}

// mine refuses a service whose container (found by its name, which is
// one namespace for the whole engine) another Berth on this engine made,
// or something else that is not Berth: this Berth must neither stop,
// remove nor run programs in it.
func (m *Manager) mine(ctx context.Context, t *Type, name string) error {
	c, err := m.docker.Inspect(ctx, ContainerName(t, name))
	if docker.IsNotFound(err) {
		return nil
	}
	if err != nil {
		return err
	}
	if !m.docker.Owns(c.ID, c.Labels) {
		return fmt.Errorf("the container %s was not made by this Berth (another Berth on this Docker engine has a %s service of that name, or something else made it); Berth leaves it alone: remove or rename it, or use another service name", c.Name, t.Name)
	}
	return nil
}

// List returns the services of type t, by name.
func (m *Manager) List(ctx context.Context, t *Type) ([]*Service, error) {
	names, err := m.store.List(ctx, "services/"+t.Name)
	if err != nil {
		return nil, err
	}
	var out []*Service
	for _, n := range names {
		s, err := m.load(ctx, t, n)
		if err != nil {
			return nil, err
		}
		out = append(out, s)
	}
	return out, nil
}
