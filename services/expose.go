// Exposing a service's port on the host (expose, unexpose) and recreating its
// container from the record.

package services

import (
	"context"
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"time"
)

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
	m.followOverlay(ctx, t, s) // a new container is on Berth's bridge only
	return m.waitReady(ctx, t, s, 2*time.Minute)
}
