// The Manager's lifecycle of a service's container: create and destroy, start,
// stop, restart and boot, and the waits until its port accepts connections.

package services

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

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
		m.followOverlay(ctx, t, s)
		return m.waitReady(ctx, t, s, 2*time.Minute)
	}
	if err := m.docker.StartExisting(ctx, name); err != nil {
		return err
	}
	m.followOverlay(ctx, t, s)
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
