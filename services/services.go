// Package services runs Berth's datastores (Dokku's postgres, mysql and
// redis plugins, built in): each service is one container of the
// database's official image on Berth's network, its data in a named
// volume, its credentials in a record readable by the owner only. Linking
// a service to an app sets the app's DATABASE_URL or REDIS_URL through the
// platform's config path, so the app is replaced with no downtime.
package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
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

// Options are create's choices.
type Options struct {
	Image, Version, Password string
}

func secret() string {
	b := make([]byte, 16)
	rand.Read(b)
	return hex.EncodeToString(b)
}

// Create makes a service: its record, volume and container, and waits
// until it accepts connections. A failure removes what it made.
func (m *Manager) Create(ctx context.Context, t *Type, name string, opts Options, log io.Writer) (*Service, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	unlock, err := m.lock(t, name, "a create")
	if err != nil {
		return nil, err
	}
	defer unlock()
	if _, err := m.load(ctx, t, name); err == nil {
		return nil, platform.Errorf(ErrExists, "%s service %s already exists", t.Name, name)
	} else if !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	if strings.ContainsAny(opts.Password, "\n\x00") {
		return nil, errors.New("--password may not contain a newline")
	}
	s := &Service{
		Type: t.Name, Name: name, Image: t.ImageRef(opts.Image, opts.Version),
		Password: opts.Password, Created: time.Now().UTC(),
	}
	if s.Password == "" {
		s.Password = secret()
	}
	if t.accounts != nil {
		t.accounts(s)
	}
	if err := m.docker.EnsureNetwork(ctx); err != nil {
		return nil, err
	}
	if ok, err := m.docker.HasImage(ctx, s.Image); err != nil {
		return nil, err
	} else if !ok {
		fmt.Fprintf(log, "-----> Pulling %s\n", s.Image)
		if err := m.docker.Pull(ctx, s.Image, log); err != nil {
			return nil, fmt.Errorf("image %s is not on this server and could not be pulled (%v); load it into Docker, or name a local image with --image", s.Image, err)
		}
	}
	cleanup := context.WithoutCancel(ctx)
	vol := VolumeName(t, name)
	if ok, err := m.docker.HasVolume(ctx, vol); err != nil {
		return nil, err
	} else if ok {
		return nil, fmt.Errorf("a volume %s already exists, from an earlier %s service %s; remove it (docker volume rm %s) or choose another name", vol, t.Name, name, vol)
	}
	fmt.Fprintf(log, "-----> Creating %s service %s (%s)\n", t.Name, name, s.Image)
	if err := m.docker.CreateVolume(ctx, vol, labels(t, name)); err != nil {
		return nil, err
	}
	id, err := m.createContainer(ctx, t, s)
	if err == nil {
		err = m.docker.StartExisting(ctx, id)
	}
	if err == nil {
		fmt.Fprintf(log, "-----> Waiting for %s to accept connections\n", name)
		err = m.waitUpProgress(ctx, t, s, 3*time.Minute, -1, log)
	}
	if err == nil {
		err = m.save(ctx, t, s)
	}
	if err != nil {
		if id != "" {
			m.docker.Remove(cleanup, id)
		}
		m.docker.RemoveVolume(cleanup, vol)
		return nil, err
	}
	m.log.Info("service created", "type", t.Name, "service", name, "image", s.Image)
	return s, nil
}

func labels(t *Type, name string) map[string]string {
	return map[string]string{docker.LabelServiceType: t.Name, docker.LabelService: name}
}

// spec is the container the record describes.
func (m *Manager) spec(t *Type, s *Service) docker.ServiceSpec {
	spec := docker.ServiceSpec{
		Name: ContainerName(t, s.Name), Image: s.Image, Env: t.env(s), Cmd: t.cmd(s),
		Labels: labels(t, s.Name), Volume: VolumeName(t, s.Name), DataDir: t.DataDir, Port: t.Port,
		StopSignal: t.StopSignal,
	}
	if s.Expose != "" {
		if ap, err := netip.ParseAddrPort(s.Expose); err == nil {
			spec.Publish, spec.HostIP, spec.HostPort = true, ap.Addr(), int(ap.Port())
		}
	}
	return spec
}

// createContainer creates (without starting) the service's container and
// writes the type's config file into its volume, so that it is there, and
// current, whenever the server starts.
func (m *Manager) createContainer(ctx context.Context, t *Type, s *Service) (string, error) {
	// Docker would make a missing volume anew, empty: the service would
	// come up as a fresh database and the apps would write into it.
	vol := VolumeName(t, s.Name)
	if ok, err := m.docker.HasVolume(ctx, vol); err != nil {
		return "", err
	} else if !ok {
		return "", fmt.Errorf("the data volume %s of %s service %s is missing, so its container was not made again (it would start with an empty database); create a new service and %s:import an export into it, or remove this one with %s:destroy %s",
			vol, t.Name, s.Name, t.Name, t.Name, s.Name)
	}
	id, err := m.docker.CreateService(ctx, m.spec(t, s))
	if err != nil || t.config == nil {
		return id, err
	}
	file, body := t.config(s)
	if err := m.docker.CopyFileTo(ctx, id, file, bytes.NewReader(body), int64(len(body)), 0o600); err != nil {
		m.docker.Remove(context.WithoutCancel(ctx), id)
		return "", err
	}
	return id, nil
}

// waitReady waits until the service's port accepts connections on
// Berth's network. The official images initialise a new data directory
// with a server that does not listen on TCP, so a connection means the
// real server is up.
func (m *Manager) waitReady(ctx context.Context, t *Type, s *Service, limit time.Duration) error {
	return m.waitUp(ctx, t, s, limit, -1)
}

// waitUp is waitReady; with restarts of zero or more, the service has
// failed as soon as its container was restarted more often than that (a
// server that cannot load its data exits, and Docker starts it again
// and again).
func (m *Manager) waitUp(ctx context.Context, t *Type, s *Service, limit time.Duration, restarts int) error {
	return m.waitUpProgress(ctx, t, s, limit, restarts, nil)
}

// waitUpProgress is waitUp that says every few seconds, on log (when not
// nil), what it waits for: a first start initialises a database, which
// can take a while.
func (m *Manager) waitUpProgress(ctx context.Context, t *Type, s *Service, limit time.Duration, restarts int, log io.Writer) error {
	start := time.Now()
	deadline := start.Add(limit)
	note := start.Add(progressInterval)
	name := ContainerName(t, s.Name)
	for {
		if log != nil && time.Now().After(note) {
			fmt.Fprintf(log, "       waiting for %s to accept connections on port %d (%d s of %d s)\n", name, t.Port, int(time.Since(start).Round(time.Second)/time.Second), int(limit/time.Second))
			note = note.Add(progressInterval)
		}
		c, err := m.docker.Inspect(ctx, name)
		if err != nil {
			return err
		}
		if !c.Running && !c.Restarting || restarts >= 0 && (c.Restarting || c.RestartCount > restarts) {
			out, _ := m.docker.Logs(ctx, name, 20)
			return fmt.Errorf("%s service %s exited (code %d) before accepting connections; its last output:\n%s", t.Name, s.Name, c.ExitCode, out)
		}
		if c.Running && c.IP.IsValid() {
			conn, err := net.DialTimeout("tcp", net.JoinHostPort(c.IP.String(), strconv.Itoa(t.Port)), time.Second)
			if err == nil {
				ready := t.ready == nil || t.ready(conn, s)
				conn.Close()
				if ready {
					return nil
				}
			}
		}
		if time.Now().After(deadline) {
			out, _ := m.docker.Logs(ctx, name, 20)
			return fmt.Errorf("%s service %s did not accept connections within %s; its last output:\n%s", t.Name, s.Name, limit, out)
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(250 * time.Millisecond):
		}
	}
}

// Destroy removes the service's container, volume and record. A linked
// service is refused: its apps would lose their database.
func (m *Manager) Destroy(ctx context.Context, t *Type, name string) error {
	s, unlock, err := m.locked(ctx, t, name, "a destroy")
	if err != nil {
		return err
	}
	defer unlock()
	if len(s.Links) > 0 {
		var apps []string
		for _, l := range s.Links {
			apps = append(apps, l.App)
		}
		return platform.Errorf(ErrLinked, "%s service %s is linked to %s; unlink it first (%s:unlink %s APP)", t.Name, name, strings.Join(apps, ", "), t.Name, name)
	}
	if err := m.docker.Remove(ctx, ContainerName(t, name)); err != nil {
		return err
	}
	if err := m.docker.RemoveVolume(ctx, VolumeName(t, name)); err != nil {
		return err
	}
	if err := m.store.Delete(ctx, key(t, name)); err != nil {
		return err
	}
	m.log.Info("service destroyed", "type", t.Name, "service", name)
	return nil
}

// URL is the service's URL for apps on Berth's network.
func (t *Type) URL(s *Service) string { return t.url(s, ContainerName(t, s.Name)) }

// Link sets the service's URL in the app's config (a new release, rolled
// out with no downtime) and records the link. The config var is ALIAS_URL
// with --alias, else the type's (DATABASE_URL, REDIS_URL), or, when the
// app has that already, DOKKU_TYPE_NAME_URL.
func (m *Manager) Link(ctx context.Context, t *Type, name, app, alias string, log io.Writer) (string, error) {
	s, unlock, err := m.locked(ctx, t, name, "a link")
	if err != nil {
		return "", err
	}
	defer unlock()
	config, err := m.config.Config(ctx, app)
	if err != nil {
		return "", err
	}
	if i := slices.IndexFunc(s.Links, func(l Link) bool { return l.App == app }); i >= 0 {
		return "", fmt.Errorf("%s service %s is already linked to %s (as %s)", t.Name, name, app, s.Links[i].Var)
	}
	var v string
	if alias != "" {
		if !aliasPattern.MatchString(alias) {
			return "", fmt.Errorf("invalid alias %q: use letters, digits and underscores, starting with a letter", alias)
		}
		v = linkVar(alias)
		if _, taken := config[v]; taken {
			return "", fmt.Errorf("%s already has %s; choose another --alias", app, v)
		}
	} else {
		v = linkVar(t.Alias)
		if _, taken := config[v]; taken {
			v = linkVar(t.extraAlias(name))
		}
		if _, taken := config[v]; taken {
			return "", fmt.Errorf("%s already has %s; name another with --alias", app, v)
		}
	}
	url := t.URL(s)
	fmt.Fprintf(log, "-----> Setting %s on %s\n", v, app)
	err = m.config.SetConfig(ctx, app, map[string]string{v: url}, nil, false, log)
	// A rollout that failed after the config was stored leaves the var
	// set: record the link so that unlink can take it away.
	if err != nil {
		if now, cerr := m.config.Config(ctx, app); cerr != nil || now[v] != url {
			return "", err
		}
	}
	s.Links = append(s.Links, Link{App: app, Var: v})
	if serr := m.save(context.WithoutCancel(ctx), t, s); serr != nil {
		return "", serr
	}
	return v, err
}

var aliasPattern = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_]*$`)

// Unlink removes the service's URL from the app's config (rolling out a
// new release) and forgets the link.
func (m *Manager) Unlink(ctx context.Context, t *Type, name, app string, log io.Writer) error {
	s, unlock, err := m.locked(ctx, t, name, "an unlink")
	if err != nil {
		return err
	}
	defer unlock()
	i := slices.IndexFunc(s.Links, func(l Link) bool { return l.App == app })
	if i < 0 {
		return fmt.Errorf("%s service %s is not linked to %s", t.Name, name, app)
	}
	v := s.Links[i].Var
	fmt.Fprintf(log, "-----> Unsetting %s on %s\n", v, app)
	err = m.config.SetConfig(ctx, app, nil, []string{v}, false, log)
	if errors.Is(err, platform.ErrAppNotFound) {
		// The app is gone (its destroy could not update the link): there
		// is no config to change, only the link to forget.
		fmt.Fprintf(log, "-----> %s does not exist; forgetting its link\n", app)
		err = nil
	} else if err != nil {
		if now, cerr := m.config.Config(ctx, app); cerr != nil || now[v] != "" {
			return err
		}
	}
	s.Links = slices.Delete(s.Links, i, i+1)
	if serr := m.save(context.WithoutCancel(ctx), t, s); serr != nil {
		return serr
	}
	return err
}

// relink follows an app's links when it is renamed (to, its config came
// along) or destroyed (to is empty: its config went with it), and, with
// clone, records links for a clone (to) of it, whose config has the same
// URLs: a service must not be destroyed under the clone.
func (m *Manager) relink(ctx context.Context, app, to string, clone bool) {
	// The app is gone or renamed already: the links must follow even if
	// the command's session ends now, or they would name an app that is
	// not there and block TYPE:destroy.
	ctx = context.WithoutCancel(ctx)
	for _, tn := range TypeNames {
		t := Types[tn]
		list, err := m.List(ctx, t)
		if err != nil {
			m.log.Warn("updating the service links of an app", "app", app, "error", err)
			continue
		}
		for _, s := range list {
			if !slices.ContainsFunc(s.Links, func(l Link) bool { return l.App == app }) {
				continue
			}
			name := s.Name
			unlock := m.waitLock(t, name, "a link update")
			if s, err = m.load(ctx, t, name); err == nil {
				var links []Link
				for _, l := range s.Links {
					switch {
					case l.App != app:
						links = append(links, l)
					case clone:
						links = append(links, l, Link{App: to, Var: l.Var})
					case to != "":
						links = append(links, Link{App: to, Var: l.Var})
					}
				}
				s.Links = links
				err = m.save(ctx, t, s)
			}
			unlock()
			if err != nil {
				m.log.Warn("could not update a service's links", "service", name, "app", app, "error", err)
			}
		}
	}
}

// waitLock takes the service's lock, waiting for the command that holds
// it to finish. Only relink waits: the app's own lock, which relink runs
// under, is never waited for, so a holder that needs the app fails and
// lets go instead of deadlocking.
func (m *Manager) waitLock(t *Type, name, what string) func() {
	for {
		if unlock, err := m.lock(t, name, what); err == nil {
			return unlock
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// Status is a service's container state: running, restarting, stopped,
// exited or missing.
func (m *Manager) Status(ctx context.Context, t *Type, s *Service) string {
	c, err := m.docker.Inspect(ctx, ContainerName(t, s.Name))
	switch {
	case docker.IsNotFound(err):
		return "missing"
	case err != nil:
		return "unknown"
	case c.Restarting:
		return "restarting"
	case c.Running:
		return "running"
	case s.Stopped:
		return "stopped"
	}
	return fmt.Sprintf("exited (%d)", c.ExitCode)
}

// Info is what TYPE:info shows.
type Info struct {
	*Service
	URL       string `json:"url"`
	Status    string `json:"status"`
	Container string `json:"container"`
	Volume    string `json:"volume"`
	DataDir   string `json:"data_dir"`
	// Exposed is the host address the service is published on.
	Exposed string `json:"exposed,omitempty"`
	// RootPassword hides the Service's (it is shallower, so it wins in
	// JSON) and is never set: info shows the app's credentials, not
	// MySQL's administrator's.
	RootPassword string `json:"root_password,omitempty"`
}

// Describe returns the service's info.
func (m *Manager) Describe(ctx context.Context, t *Type, name string) (Info, error) {
	s, err := m.load(ctx, t, name)
	if err != nil {
		return Info{}, err
	}
	in := Info{Service: s, URL: t.URL(s), Status: m.Status(ctx, t, s), Container: ContainerName(t, name),
		Volume: VolumeName(t, name), DataDir: t.DataDir}
	if s.Expose != "" {
		if ap, ok, err := m.docker.PublishedPort(ctx, in.Container, t.Port); err == nil && ok {
			in.Exposed = ap.String()
		}
	}
	return in, nil
}

// Logs writes the service's output to w; follow keeps streaming until
// ctx ends.
func (m *Manager) Logs(ctx context.Context, t *Type, name string, lines int, follow bool, w io.Writer) error {
	if _, err := m.load(ctx, t, name); err != nil {
		return err
	}
	if err := m.mine(ctx, t, name); err != nil {
		return err
	}
	return m.docker.StreamLogs(ctx, ContainerName(t, name), lines, follow, w)
}

// ensureRunning starts the service's container, making it again from the
// record when it is missing (the data is in the volume), and waits until
// it accepts connections.
func (m *Manager) ensureRunning(ctx context.Context, t *Type, s *Service) error {
	name := ContainerName(t, s.Name)
	c, err := m.docker.Inspect(ctx, name)
	if docker.IsNotFound(err) {
		if _, err := m.createContainer(ctx, t, s); err != nil {
			return err
		}
	} else if err != nil {
		return err
	} else if c.Running {
		return m.waitReady(ctx, t, s, 2*time.Minute)
	}
	if err := m.docker.StartExisting(ctx, name); err != nil {
		return err
	}
	return m.waitReady(ctx, t, s, 2*time.Minute)
}

// Start starts a stopped service.
func (m *Manager) Start(ctx context.Context, t *Type, name string) error {
	s, unlock, err := m.locked(ctx, t, name, "a start")
	if err != nil {
		return err
	}
	defer unlock()
	if s.Stopped {
		s.Stopped = false
		if err := m.save(ctx, t, s); err != nil {
			return err
		}
	}
	return m.ensureRunning(ctx, t, s)
}

// Stop stops the service; it stays stopped across Berth's restarts until
// Start.
func (m *Manager) Stop(ctx context.Context, t *Type, name string) error {
	s, unlock, err := m.locked(ctx, t, name, "a stop")
	if err != nil {
		return err
	}
	defer unlock()
	s.Stopped = true
	if err := m.save(ctx, t, s); err != nil {
		return err
	}
	return m.docker.Stop(ctx, ContainerName(t, name), 30*time.Second)
}

// Restart stops the service and starts it again.
func (m *Manager) Restart(ctx context.Context, t *Type, name string) error {
	s, unlock, err := m.locked(ctx, t, name, "a restart")
	if err != nil {
		return err
	}
	defer unlock()
	if err := m.docker.Stop(ctx, ContainerName(t, name), 30*time.Second); err != nil {
		return err
	}
	s.Stopped = false
	if err := m.save(ctx, t, s); err != nil {
		return err
	}
	return m.ensureRunning(ctx, t, s)
}

// Boot brings up every service that was not stopped with TYPE:stop: it
// runs when Berth starts, before apps are reconciled, so that apps that
// link a service find it running. Then it starts the exited containers of
// the apps linked to them (platform.ResumeExited). A service that fails
// is logged and the others still start.
func (m *Manager) Boot(ctx context.Context) error {
	if err := m.docker.EnsureNetwork(ctx); err != nil {
		return err
	}
	// A service that does not come up must not hold Berth's start long.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		linked = map[string]bool{} // apps whose services all came up
		failed = map[string]bool{}
	)
	for _, tn := range TypeNames {
		t := Types[tn]
		list, err := m.List(ctx, t)
		if err != nil {
			return err
		}
		for _, s := range list {
			if s.Stopped {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				err := m.ensureRunning(ctx, t, s)
				if err != nil {
					m.log.Error("service did not start", "type", t.Name, "service", s.Name, "error", err)
				}
				mu.Lock()
				defer mu.Unlock()
				for _, l := range s.Links {
					linked[l.App] = true
					failed[l.App] = failed[l.App] || err != nil
				}
			}()
		}
	}
	wg.Wait()
	// Then the apps that link them: those that gave up while their
	// database was down run again.
	for app := range linked {
		if failed[app] {
			continue
		}
		if _, err := m.p.ResumeExited(ctx, app); err != nil {
			m.log.Warn("could not start an app after its services", "app", app, "error", err)
		}
	}
	return nil
}

// Exec runs one of the database's own programs inside the service's
// container, attached to streams: connect's client, export's dump,
// import's restore. It returns the program's exit status.
func (m *Manager) exec(ctx context.Context, t *Type, s *Service, cmd []string, streams docker.Streams) (int, error) {
	name := ContainerName(t, s.Name)
	c, err := m.docker.Inspect(ctx, name)
	if err != nil {
		return 1, err
	}
	if !m.docker.Owns(c.ID, c.Labels) {
		return 1, m.mine(ctx, t, s.Name)
	}
	if !c.Running {
		return 1, fmt.Errorf("%s service %s is not running; start it with %s:start %s", t.Name, s.Name, t.Name, s.Name)
	}
	return m.docker.ExecAttached(ctx, c.ID, cmd, t.execEnv(s), streams)
}

// Connect runs the database's client in the service's container.
func (m *Manager) Connect(ctx context.Context, t *Type, name string, streams docker.Streams) (int, error) {
	s, err := m.load(ctx, t, name)
	if err != nil {
		return 1, err
	}
	return m.exec(ctx, t, s, t.connect(s), streams)
}

// Export writes a dump of the service's data to w (pg_dump's custom
// format, mysqldump's SQL, Redis's RDB file); the program's messages go to
// errw.
func (m *Manager) Export(ctx context.Context, t *Type, name string, w, errw io.Writer) error {
	s, err := m.load(ctx, t, name)
	if err != nil {
		return err
	}
	code, err := m.exec(ctx, t, s, t.dump(s), docker.Streams{Stdout: w, Stderr: errw})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the export of %s service %s failed (exit status %d)", t.Name, name, code)
	}
	return nil
}

// Import restores a dump read from r into the service. Redis restores by
// replacing its snapshot file while it is stopped, then starting again.
func (m *Manager) Import(ctx context.Context, t *Type, name string, r io.Reader, errw io.Writer) error {
	s, unlock, err := m.locked(ctx, t, name, "an import")
	if err != nil {
		return err
	}
	defer unlock()
	// A large dump takes a while: say every few seconds how much of it
	// has been read.
	errw = &lockedWriter{w: errw}
	progress := &progressReader{r: r, w: errw, next: time.Now().Add(progressInterval)}
	defer progress.done()
	r = progress
	if t.restore != nil {
		code, err := m.exec(ctx, t, s, t.restore(s), docker.Streams{Stdin: r, Stdout: errw, Stderr: errw})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("the import into %s service %s failed (exit status %d)", t.Name, name, code)
		}
		return nil
	}
	if t.snapshot == nil {
		return fmt.Errorf("%s services cannot import", t.Name)
	}
	if s.Stopped {
		return fmt.Errorf("%s service %s is stopped; start it with %s:start %s, then import", t.Name, name, t.Name, name)
	}
	// The whole dump is read before the service stops, so a cut upload
	// leaves the data as it was.
	f, size, err := docker.SpoolFile(r)
	if err != nil {
		return fmt.Errorf("reading the dump: %w", err)
	}
	defer f.Close()
	if size == 0 {
		return errors.New("the dump on stdin is empty; nothing was imported")
	}
	cname := ContainerName(t, name)
	if err := m.checkSnapshot(ctx, t, s, f, size, errw); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// The server may write its snapshot when it stops (Redis does); the
	// imported file must replace it afterwards, not before. The one it
	// wrote is kept, and put back if the server does not start with the
	// new one.
	if err := m.docker.Stop(ctx, cname, 30*time.Second); err != nil {
		return err
	}
	cleanup := context.WithoutCancel(ctx)
	snapshotPath := t.DataDir + "/" + t.snapshot.Name
	old, oldSize, err := m.docker.CopyFileFrom(ctx, cname, snapshotPath)
	if err != nil && !docker.IsNotFound(err) {
		m.ensureRunning(cleanup, t, s)
		return fmt.Errorf("keeping the current snapshot before the import: %w; nothing was imported", err)
	}
	if old != nil {
		defer old.Close()
	}
	err = m.docker.CopyFileTo(ctx, cname, snapshotPath, f, size, 0o600)
	if err == nil {
		err = m.startChecked(ctx, t, s)
	}
	if err == nil {
		return nil
	}
	m.docker.Stop(cleanup, cname, 30*time.Second)
	if old != nil {
		if rerr := m.docker.CopyFileTo(cleanup, cname, snapshotPath, old, oldSize, 0o600); rerr != nil {
			return fmt.Errorf("the import into %s service %s failed (%v), and putting back the previous snapshot failed too: %w", t.Name, name, err, rerr)
		}
	}
	if rerr := m.ensureRunning(cleanup, t, s); rerr != nil {
		return fmt.Errorf("the import into %s service %s failed (%v); the previous snapshot is back but the service did not start: %w", t.Name, name, err, rerr)
	}
	return fmt.Errorf("the import into %s service %s failed, the previous data is back: %w", t.Name, name, err)
}

// startChecked starts the stopped container and waits until it accepts
// connections, failing at once if it exits (not after waitReady's limit,
// while Docker restarts it).
func (m *Manager) startChecked(ctx context.Context, t *Type, s *Service) error {
	name := ContainerName(t, s.Name)
	c, err := m.docker.Inspect(ctx, name)
	if err != nil {
		return err
	}
	if err := m.docker.StartExisting(ctx, name); err != nil {
		return err
	}
	return m.waitUp(ctx, t, s, 2*time.Minute, c.RestartCount)
}

// checkSnapshot runs the type's check on the dump (snapshotFile.Check)
// before the server is stopped for it: a server that cannot load its
// snapshot does not start.
func (m *Manager) checkSnapshot(ctx context.Context, t *Type, s *Service, f io.Reader, size int64, errw io.Writer) error {
	cname := ContainerName(t, s.Name)
	tmp := t.DataDir + "/berth-import-" + t.snapshot.Name
	if err := m.docker.CopyFileTo(ctx, cname, tmp, f, size, 0o600); err != nil {
		return err
	}
	var out bytes.Buffer
	code, err := m.exec(ctx, t, s, []string{"sh", "-c", t.snapshot.Check, "sh", tmp}, docker.Streams{Stdout: &out, Stderr: &out})
	if err != nil {
		return err
	}
	if code != 0 {
		errw.Write(out.Bytes())
		return errors.New(t.snapshot.Refusal)
	}
	return nil
}

// Expose publishes the service's port on the host at addr ("PORT" or
// "IP:PORT"; 127.0.0.1 unless an IP is given, and a port Docker chooses
// when addr is empty). The container is made again with the binding; the
// data stays in its volume.
func (m *Manager) Expose(ctx context.Context, t *Type, name, addr string) (string, error) {
	ap, err := parseExpose(addr)
	if err != nil {
		return "", err
	}
	s, unlock, err := m.locked(ctx, t, name, "an expose")
	if err != nil {
		return "", err
	}
	defer unlock()
	old := s.Expose
	s.Expose = ap.String()
	if err := m.recreate(ctx, t, s); err != nil {
		s.Expose = old
		m.recreate(context.WithoutCancel(ctx), t, s)
		return "", err
	}
	// The port Docker chose is kept, so that a restart (which makes the
	// container again) publishes the same one.
	if got, ok, err := m.docker.PublishedPort(ctx, ContainerName(t, name), t.Port); err == nil && ok {
		s.Expose = got.String()
	}
	if err := m.save(ctx, t, s); err != nil {
		return "", err
	}
	return s.Expose, nil
}

// Unexpose removes the service's host binding.
func (m *Manager) Unexpose(ctx context.Context, t *Type, name string) error {
	s, unlock, err := m.locked(ctx, t, name, "an unexpose")
	if err != nil {
		return err
	}
	defer unlock()
	if s.Expose == "" {
		return fmt.Errorf("%s service %s is not exposed", t.Name, name)
	}
	s.Expose = ""
	if err := m.recreate(ctx, t, s); err != nil {
		return err
	}
	return m.save(ctx, t, s)
}

func parseExpose(addr string) (netip.AddrPort, error) {
	ip := netip.MustParseAddr("127.0.0.1")
	if addr == "" {
		return netip.AddrPortFrom(ip, 0), nil
	}
	port := addr
	if h, p, err := net.SplitHostPort(addr); err == nil {
		a, err := netip.ParseAddr(h)
		// Docker cannot publish on a zoned address (fe80::1%eth0): the
		// service would be remade only to fail.
		if err != nil || a.Zone() != "" {
			return netip.AddrPort{}, fmt.Errorf("%q: %q is not an IP address Docker can publish on", addr, h)
		}
		ip, port = a, p
	}
	n, err := strconv.Atoi(port)
	if err != nil || n < 1 || n > 65535 {
		return netip.AddrPort{}, fmt.Errorf("%q: want PORT or IP:PORT, with a port from 1 to 65535", addr)
	}
	return netip.AddrPortFrom(ip, uint16(n)), nil
}

// recreate replaces the service's container with one made from the
// record, started unless the service is stopped.
func (m *Manager) recreate(ctx context.Context, t *Type, s *Service) error {
	name := ContainerName(t, s.Name)
	if err := m.docker.Stop(ctx, name, 30*time.Second); err != nil {
		return err
	}
	if err := m.docker.Remove(ctx, name); err != nil {
		return err
	}
	if _, err := m.createContainer(ctx, t, s); err != nil {
		return err
	}
	if s.Stopped {
		return nil
	}
	if err := m.docker.StartExisting(ctx, name); err != nil {
		return err
	}
	return m.waitReady(ctx, t, s, 2*time.Minute)
}

// progressInterval is how often a long wait or import says how far it
// is.
const progressInterval = 5 * time.Second

// progressReader passes r on and says on w, every progressInterval, how
// much has been read.
type progressReader struct {
	r    io.Reader
	w    io.Writer
	mu   sync.Mutex // the stdin copier may still read when done runs
	n    int64
	next time.Time
	said bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(n)
	if time.Now().After(p.next) {
		fmt.Fprintf(p.w, "-----> Import: %s read so far\n", mib(p.n))
		p.next = time.Now().Add(progressInterval)
		p.said = true
	}
	return n, err
}

// done says the total, when progress was shown at all.
func (p *progressReader) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.said {
		fmt.Fprintf(p.w, "-----> Import: %s read in all\n", mib(p.n))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// lockedWriter serialises writes: an import's progress and the restore
// tool's output go to the same stream from two goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
