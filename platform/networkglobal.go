package platform

import (
	"context"
	"slices"
)

// This file holds Dokku's network:set --global: network properties for
// the apps that set none of their own.

// GlobalNetworks are the network properties network:set --global set.
func (p *Platform) GlobalNetworks() NetworkSettings {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.globalNets.clone()
}

func (s NetworkSettings) clone() NetworkSettings {
	s.AttachPostCreate = slices.Clone(s.AttachPostCreate)
	s.AttachPostDeploy = slices.Clone(s.AttachPostDeploy)
	return s
}

// computed are the properties that apply: each of s, else global's (as
// Dokku's computed keys).
func (s NetworkSettings) computed(global NetworkSettings) NetworkSettings {
	c := s.clone()
	if c.InitialNetwork == "" {
		c.InitialNetwork = global.InitialNetwork
	}
	if len(c.AttachPostCreate) == 0 {
		c.AttachPostCreate = slices.Clone(global.AttachPostCreate)
	}
	if len(c.AttachPostDeploy) == 0 {
		c.AttachPostDeploy = slices.Clone(global.AttachPostDeploy)
	}
	return c
}

// ComputedNetworks are the network properties a's containers get: its
// own, else the global ones.
func (p *Platform) ComputedNetworks(a *App) NetworkSettings {
	return a.Networks.computed(p.GlobalNetworks())
}

// withGlobalNetworks is a for code that reads a.Networks to run its
// containers: a copy whose Networks are the computed ones (a itself when
// no global property is set).
func (p *Platform) withGlobalNetworks(a *App) *App {
	g := p.GlobalNetworks()
	if g.InitialNetwork == "" && len(g.AttachPostCreate) == 0 && len(g.AttachPostDeploy) == 0 {
		return a
	}
	c := *a
	c.Networks = a.Networks.computed(g)
	return &c
}

// SetGlobalNetwork sets a network property of every app that sets none
// (Dokku's network:set --global KEY [NETWORK...]); no network clears it.
// It applies from each app's next deploy or ps:restart.
func (p *Platform) SetGlobalNetwork(ctx context.Context, key string, nets []string) error {
	if err := p.checkNetworkProperty(ctx, key, nets); err != nil {
		return err
	}
	if len(nets) == 0 {
		nets = nil
	}
	// The alias check of the per-app setting, against every app the new
	// global property would reach: an app with an all-digit process type
	// must not join networks through the global door either.
	if nets != nil {
		g := p.GlobalNetworks()
		g.set(key, nets)
		names, err := p.store.List(ctx, "apps")
		if err != nil {
			return err
		}
		for _, name := range names {
			a, err := loadApp(ctx, p.store, name)
			if err != nil {
				return err
			}
			if rel, ok := a.CurrentRelease(); ok {
				c := *a
				c.Networks = a.Networks.computed(g)
				if err := checkNetworkAliases(&c, processTypes(rel.Processes)); err != nil {
					return err
				}
			}
		}
	}
	var next NetworkSettings
	return p.changeGlobal(ctx, "a global network change", func(g *Global) {
		g.Networks.set(key, nets)
		next = g.Networks.clone()
	}, func() {
		p.mu.Lock()
		p.globalNets = next
		p.mu.Unlock()
	})
}
