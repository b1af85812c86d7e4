// What a service tells: its status, info, logs, and commands run inside it (connect).

package services

import (
	"context"
	"fmt"
	"io"

	"github.com/berth-paas/berth/docker"
)

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
