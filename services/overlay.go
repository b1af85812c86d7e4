// Datastores for swarm apps: Berth's attachable overlay network, which
// the datastores linked to swarm apps join beside Berth's bridge, so that
// the URL a link sets resolves and connects from a task on any node.

package services

import (
	"context"
	"errors"
	"fmt"
	"slices"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/scheduler/selector"
	"github.com/berth-paas/berth/store"
)

// SwarmNetworks are the networks the swarm services of app join besides
// their own (the swarm scheduler asks before it makes them): Berth's
// overlay when a datastore is linked to app, after making sure the
// overlay exists and each linked datastore's container is on it under
// its link URL's host name; none otherwise. It takes no service lock: it
// runs inside a link's or an unlink's rollout, which holds it; the link
// records it reads are saved before those rollouts start.
func (m *Manager) SwarmNetworks(ctx context.Context, app string) ([]string, error) {
	var linked []string // container names
	for _, tn := range TypeNames {
		t := Types[tn]
		list, err := m.List(ctx, t)
		if err != nil {
			return nil, err
		}
		for _, s := range list {
			if slices.ContainsFunc(s.Links, func(l Link) bool { return l.App == app }) {
				linked = append(linked, ContainerName(t, s.Name))
			}
		}
	}
	if len(linked) == 0 {
		return nil, nil
	}
	if err := m.docker.EnsureOverlay(ctx); err != nil {
		return nil, fmt.Errorf("making the overlay network the swarm apps reach their datastores on: %w", err)
	}
	for _, name := range linked {
		if err := m.joinOverlay(ctx, name); err != nil {
			return nil, err
		}
	}
	return []string{m.docker.Overlay()}, nil
}

// joinOverlay puts a datastore's running container on the overlay, under
// its container name (the host of its URL). A stopped one is left: no app
// reaches it until it starts, and its start joins it (ensureRunning).
func (m *Manager) joinOverlay(ctx context.Context, name string) error {
	c, err := m.docker.Inspect(ctx, name)
	if err != nil || !c.Running {
		return nil
	}
	if err := m.docker.Connect(ctx, c.ID, docker.Attachment{Network: m.docker.Overlay(), Aliases: []string{name}}); err != nil {
		return fmt.Errorf("putting the datastore %s on the overlay network %s for a swarm app: %w", name, m.docker.Overlay(), err)
	}
	return nil
}

// swarmLinked reports whether a swarm app is linked to s: one whose
// selected scheduler is swarm (its next rollout, which asks SwarmNetworks,
// goes there) or whose current generation runs on swarm (SchedulerRan,
// which only swarm sets). An app that is switching to swarm counts before
// its rollout saves SchedulerRan. When an app's record or settings cannot
// be read, the answer is yes: a datastore left on the overlay for nothing
// costs nothing, one taken off it cuts a swarm app off its data.
func (m *Manager) swarmLinked(ctx context.Context, s *Service) bool {
	return swarmLinked(ctx, s, m.p.App, m.store)
}

func swarmLinked(ctx context.Context, s *Service, app func(context.Context, string) (*platform.App, error), st store.Store) bool {
	for _, l := range s.Links {
		a, err := app(ctx, l.App)
		if err != nil || a.SchedulerRan != "" {
			return true
		}
		sel, err := selector.SelectedIn(ctx, st, a)
		if err != nil || sel == selector.Swarm {
			return true
		}
	}
	return false
}

// followOverlay keeps s's running container on the overlay exactly while a
// swarm app is linked to it: it joins after a start (a container made
// again from the record has lost its networks) and leaves after the last
// swarm app's unlink or destroy. Failures are logged: the datastore
// serves its docker-local apps either way, and the next swarm rollout of
// a linked app joins it again (SwarmNetworks).
func (m *Manager) followOverlay(ctx context.Context, t *Type, s *Service) {
	name := ContainerName(t, s.Name)
	var err error
	if m.swarmLinked(ctx, s) {
		if err = m.docker.EnsureOverlay(ctx); err == nil {
			err = m.joinOverlay(ctx, name)
		}
	} else if _, ierr := m.docker.InspectNetwork(ctx, m.docker.Overlay()); ierr == nil {
		err = m.docker.Disconnect(ctx, name, m.docker.Overlay())
	}
	if err != nil && !errors.Is(err, context.Canceled) {
		m.log.Warn("the overlay network of a datastore linked to swarm apps", "service", name, "error", err)
	}
}
