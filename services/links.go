// Linking services to apps: link, unlink, and relinking the apps that follow a
// service when its URL changes.

package services

import (
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"time"

	"github.com/berth-paas/berth/platform"
)

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
	// The link is recorded before the config changes: a swarm app's
	// rollout of the new config asks which datastores the app links
	// (SwarmNetworks) to put its tasks on their network.
	s.Links = append(s.Links, Link{App: app, Var: v})
	if err := m.save(ctx, t, s); err != nil {
		return "", err
	}
	fmt.Fprintf(log, "-----> Setting %s on %s\n", v, app)
	err = m.config.SetConfig(ctx, app, map[string]string{v: url}, nil, false, log)
	// A rollout that failed after the config was stored leaves the var
	// set: the link stays recorded so that unlink can take it away.
	if err != nil {
		if now, cerr := m.config.Config(ctx, app); cerr != nil || now[v] != url {
			s.Links = s.Links[:len(s.Links)-1]
			if serr := m.save(context.WithoutCancel(ctx), t, s); serr != nil {
				m.log.Warn("forgetting a link whose config change failed", "service", name, "app", app, "error", serr)
			}
			// The rollout may have put the datastore on the overlay
			// (SwarmNetworks); with the link gone it leaves unless
			// another swarm app links it.
			m.followOverlay(context.WithoutCancel(ctx), t, s)
			return "", err
		}
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
	link := s.Links[i]
	v := link.Var
	// The link is forgotten before the config changes: a swarm app's
	// rollout of the new config then leaves the datastores' network
	// unless another link keeps it there (SwarmNetworks).
	s.Links = slices.Delete(s.Links, i, i+1)
	if err := m.save(ctx, t, s); err != nil {
		return err
	}
	fmt.Fprintf(log, "-----> Unsetting %s on %s\n", v, app)
	err = m.config.SetConfig(ctx, app, nil, []string{v}, false, log)
	if errors.Is(err, platform.ErrAppNotFound) {
		// The app is gone (its destroy could not update the link): there
		// is no config to change, only the link to forget.
		fmt.Fprintf(log, "-----> %s does not exist; forgetting its link\n", app)
		err = nil
	} else if err != nil {
		if now, cerr := m.config.Config(ctx, app); cerr != nil || now[v] != "" {
			// The var is still set: so is the link.
			s.Links = append(s.Links, link)
			if serr := m.save(context.WithoutCancel(ctx), t, s); serr != nil {
				m.log.Warn("recording again a link whose unlink failed", "service", name, "app", app, "error", serr)
			}
			return err
		}
	}
	// The app's tasks left the overlay with the rollout; the datastore
	// leaves it when no swarm app links it any more.
	m.followOverlay(context.WithoutCancel(ctx), t, s)
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
				if err == nil && to == "" {
					m.followOverlay(ctx, t, s) // a destroyed swarm app's link
				}
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
