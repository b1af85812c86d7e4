package appspec

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// This file holds Dokku's network properties: the Docker networks an
// app's containers join, and when (network:set APP|--global), and the
// networks network:create makes for apps to share.

// ErrNetworkInUse is returned when a network an app uses would go.
var ErrNetworkInUse = errors.New("network in use")

// The network properties, as network:set names them.
const (
	InitialNetwork   = "initial-network"
	AttachPostCreate = "attach-post-create"
	AttachPostDeploy = "attach-post-deploy"
	// TLD is not a network but a DNS suffix of the aliases, as in Dokku.
	TLD = "tld"
)

// SetNetwork sets one of the app's network properties (Dokku's
// network:set): initial-network takes one network, the attach phases any
// number, tld one DNS suffix; none clears the property. Networks must
// exist. They apply from the next rollout.
func (s *Settings) SetNetwork(ctx context.Context, app, key string, nets []string) error {
	if err := s.checkNetworkProperty(ctx, key, nets); err != nil {
		return err
	}
	if len(nets) == 0 {
		nets = nil // cleared: nothing left in the record
	}
	global, err := s.spec.Global(ctx)
	if err != nil {
		return err
	}
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		setNetwork(&a.Networks, key, nets)
		if rel, ok := a.CurrentRelease(); ok {
			return checkNetworkAliases(a.Name, Computed(a.Networks, global), rel.Types())
		}
		return nil
	})
}

// setNetwork sets one network property (checked by checkNetworkProperty).
func setNetwork(s *platform.NetworkSettings, key string, nets []string) {
	switch key {
	case InitialNetwork:
		s.InitialNetwork = ""
		if len(nets) == 1 {
			s.InitialNetwork = nets[0]
		}
	case AttachPostCreate:
		s.AttachPostCreate = slices.Clone(nets)
	case AttachPostDeploy:
		s.AttachPostDeploy = slices.Clone(nets)
	case TLD:
		s.TLD = ""
		if len(nets) == 1 {
			s.TLD = nets[0]
		}
	}
}

// checkNetworkProperty refuses a network property Berth does not have,
// and networks an app cannot join or that do not exist.
func (s *Settings) checkNetworkProperty(ctx context.Context, key string, nets []string) error {
	switch key {
	case InitialNetwork:
		if len(nets) > 1 {
			return errors.New("initial-network takes one network")
		}
	case AttachPostCreate, AttachPostDeploy:
	case TLD:
		if len(nets) > 1 {
			return errors.New("tld takes one DNS suffix, such as svc.cluster.local")
		}
		if len(nets) == 1 {
			return ValidTLD(nets[0])
		}
		return nil
	default:
		return fmt.Errorf("unknown network property %q: use initial-network, attach-post-create, attach-post-deploy or tld", key)
	}
	seen := map[string]bool{}
	for _, n := range nets {
		if err := docker.ValidNetworkName(n); err != nil {
			return err
		}
		switch n {
		case "host", "none":
			return fmt.Errorf("network %s is not supported: Berth reaches app containers over its own bridge network, which a container on %s cannot join", n, n)
		case "bridge":
			return errors.New("Docker's default bridge network has no name resolution between containers; create one with network:create NAME")
		case s.spec.engine.Network():
			return fmt.Errorf("every app is on Berth's network %s already", n)
		}
		if seen[n] {
			return fmt.Errorf("network %s is named twice", n)
		}
		seen[n] = true
		if _, err := s.spec.engine.InspectNetwork(ctx, n); docker.IsNotFound(err) {
			return fmt.Errorf("network %s does not exist; create it with network:create %s", n, n)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// Computed are the network properties that apply to an app whose own are
// own: each of own, else global's (as Dokku's computed keys). It shares
// no slice with either.
func Computed(own, global platform.NetworkSettings) platform.NetworkSettings {
	c := cloneNetworks(own)
	if c.InitialNetwork == "" {
		c.InitialNetwork = global.InitialNetwork
	}
	if len(c.AttachPostCreate) == 0 {
		c.AttachPostCreate = slices.Clone(global.AttachPostCreate)
	}
	if len(c.AttachPostDeploy) == 0 {
		c.AttachPostDeploy = slices.Clone(global.AttachPostDeploy)
	}
	if c.TLD == "" {
		c.TLD = global.TLD
	}
	return c
}

func cloneNetworks(s platform.NetworkSettings) platform.NetworkSettings {
	s.AttachPostCreate = slices.Clone(s.AttachPostCreate)
	s.AttachPostDeploy = slices.Clone(s.AttachPostDeploy)
	return s
}

// ComputedNetworks are the network properties a's containers get: its
// own, else the global ones.
func (s *Settings) ComputedNetworks(ctx context.Context, a *platform.App) (platform.NetworkSettings, error) {
	g, err := s.spec.Global(ctx)
	if err != nil {
		return platform.NetworkSettings{}, err
	}
	return Computed(a.Networks, g), nil
}

// GlobalNetworks are the network properties network:set --global set.
func (s *Settings) GlobalNetworks(ctx context.Context) (platform.NetworkSettings, error) {
	return s.spec.Global(ctx)
}

// The global network settings are the "networks" field of the global
// settings document, where they were before this package had them: the
// platform keeps the fields it does not know as they are, and both change
// the document under the global lock.
const (
	globalKey   = "settings/global"
	globalField = "networks"
)

// Global are the network properties network:set --global set.
func (sp *Spec) Global(ctx context.Context) (platform.NetworkSettings, error) {
	sp.mu.Lock()
	defer sp.mu.Unlock()
	if !sp.loaded {
		g, err := loadGlobalNetworks(ctx, sp.store)
		if err != nil {
			return g, err
		}
		sp.global, sp.loaded = g, true
	}
	return cloneNetworks(sp.global), nil
}

// Load reads the global network settings now. Berth calls it at start-up
// and refuses to start when they cannot be read, with the error naming
// the field, the file and what to do: read later, at the first container,
// a malformed field would fail every container made from then on.
func (sp *Spec) Load(ctx context.Context) error {
	_, err := sp.Global(ctx)
	return err
}

// computed are the network properties a's containers get.
func (sp *Spec) computed(a *platform.App) (platform.NetworkSettings, error) {
	// The settings are cached after the first read; a store that
	// cannot be read then fails the container, as the record would.
	g, err := sp.Global(context.Background())
	if err != nil {
		return g, err
	}
	return Computed(a.Networks, g), nil
}

// globalNetworks is network:set --global's field of the global settings
// document; the other fields are other packages'.
var globalNetworks = store.Field{
	Key:  globalKey,
	Name: globalField,
	NotObject: func(err error) error {
		return fmt.Errorf("global settings (%s.json in Berth's state directory) are not a JSON object: %w; fix the file, or restore it from a backup", globalKey, err)
	},
	BadValue: func(err error) error {
		return fmt.Errorf("the %q field of the global settings (%s.json in Berth's state directory) is not network:set --global's settings: %w; "+
			`fix it to the form {"initial_network": "NET", "attach_post_create": ["NET"], "attach_post_deploy": ["NET"], "tld": "SUFFIX"} `+
			"(each part optional), or remove the field to clear them, then start Berth again", globalField, globalKey, err)
	},
}

func loadGlobalNetworks(ctx context.Context, st store.Store) (platform.NetworkSettings, error) {
	var n platform.NetworkSettings
	err := globalNetworks.Load(ctx, st, &n)
	return n, err
}

// saveGlobalNetworks writes n into the global settings document, leaving
// its other fields as they are. The caller holds the global lock.
func saveGlobalNetworks(ctx context.Context, st store.Store, n platform.NetworkSettings) error {
	// omitzero, as the platform wrote it
	zero := n.InitialNetwork == "" && len(n.AttachPostCreate) == 0 && len(n.AttachPostDeploy) == 0 && n.TLD == ""
	return globalNetworks.Save(ctx, st, n, zero)
}

// SetGlobalNetwork sets a network property of every app that sets none
// (Dokku's network:set --global KEY [NETWORK...|TLD]); no value clears it.
// It applies from each app's next deploy or ps:restart.
func (s *Settings) SetGlobalNetwork(ctx context.Context, key string, nets []string) error {
	if err := s.checkNetworkProperty(ctx, key, nets); err != nil {
		return err
	}
	if len(nets) == 0 {
		nets = nil
	}
	unlock, err := s.apps.LockGlobal("a global network change")
	if err != nil {
		return err
	}
	defer unlock()
	g, err := s.spec.Global(ctx)
	if err != nil {
		return err
	}
	setNetwork(&g, key, nets)
	// The alias check of the per-app setting, against every app the new
	// global property would reach: an app with an all-digit process type
	// must not join networks through the global door either.
	if nets != nil {
		names, err := s.apps.AppNames(ctx)
		if err != nil {
			return err
		}
		for _, name := range names {
			a, err := s.apps.App(ctx, name)
			if err != nil {
				return err
			}
			if rel, ok := a.CurrentRelease(); ok {
				if err := checkNetworkAliases(a.Name, Computed(a.Networks, g), rel.Types()); err != nil {
					return err
				}
			}
		}
	}
	s.spec.mu.Lock()
	defer s.spec.mu.Unlock()
	if err := saveGlobalNetworks(ctx, s.spec.store, g); err != nil {
		return err
	}
	s.spec.global = g
	return nil
}

// NetworkUse is a network and the apps whose settings name it.
type NetworkUse struct {
	docker.NetworkInfo
	Apps []string `json:"apps"`
}

// networkUsers maps each network the settings name to the apps that name
// it, and "--global" for the global settings.
func (s *Settings) networkUsers(ctx context.Context) (map[string][]string, error) {
	names, err := s.apps.AppNames(ctx)
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, name := range names {
		a, err := s.apps.App(ctx, name)
		if err != nil {
			return nil, err
		}
		for _, n := range networksNamed(a.Networks) {
			if !slices.Contains(users[n], name) {
				users[n] = append(users[n], name)
			}
		}
	}
	// The global settings (network:set --global) use their networks too:
	// every app that sets none joins them.
	g, err := s.spec.Global(ctx)
	if err != nil {
		return nil, err
	}
	for _, n := range networksNamed(g) {
		if !slices.Contains(users[n], "--global") {
			users[n] = append(users[n], "--global")
		}
	}
	return users, nil
}

// networksNamed are the networks n names: its initial network (if it has
// one), then its attach-post-create and attach-post-deploy networks.
func networksNamed(n platform.NetworkSettings) []string {
	return slices.DeleteFunc(slices.Concat([]string{n.InitialNetwork}, n.AttachPostCreate, n.AttachPostDeploy), func(name string) bool { return name == "" })
}

// CreateNetwork makes an attachable bridge network for apps to share
// (Dokku's network:create).
func (s *Settings) CreateNetwork(ctx context.Context, name string) error {
	if err := docker.ValidNetworkName(name); err != nil {
		return err
	}
	switch name {
	case "bridge", "host", "none", s.spec.engine.Network():
		return fmt.Errorf("%s is a reserved network name", name)
	}
	return s.spec.engine.CreateNetwork(ctx, name)
}

// DestroyNetwork removes a network network:create made. It is refused
// while an app's settings name it or a container is attached to it.
func (s *Settings) DestroyNetwork(ctx context.Context, name string) error {
	if err := docker.ValidNetworkName(name); err != nil {
		return err
	}
	info, err := s.spec.engine.InspectNetwork(ctx, name)
	if docker.IsNotFound(err) {
		return fmt.Errorf("network %s does not exist", name)
	}
	if err != nil {
		return err
	}
	if !info.Berth {
		return fmt.Errorf("network %s was not made by network:create of this Berth; Berth leaves it alone (remove it with docker network rm if it is yours)", name)
	}
	users, err := s.networkUsers(ctx)
	if err != nil {
		return err
	}
	if apps := users[name]; len(apps) > 0 {
		return platform.Errorf(ErrNetworkInUse, "network %s is used by %s; take it out of their settings first (network:set APP|--global PROPERTY with no network, then ps:restart APP)", name, strings.Join(apps, ", "))
	}
	if err := s.spec.engine.RemoveNetwork(ctx, name); err != nil {
		if errors.Is(err, docker.ErrNetworkInUse) {
			return platform.Errorf(ErrNetworkInUse, "network %s still has containers attached (%s); restart the apps that used it (ps:restart APP) or disconnect them", name, strings.Join(info.Containers, ", "))
		}
		return err
	}
	return nil
}

// Networks lists the networks network:create made, and any other an app
// uses, with the apps that use them.
func (s *Settings) Networks(ctx context.Context) ([]NetworkUse, error) {
	all, err := s.spec.engine.Networks(ctx)
	if err != nil {
		return nil, err
	}
	users, err := s.networkUsers(ctx)
	if err != nil {
		return nil, err
	}
	out := []NetworkUse{}
	for _, n := range all {
		if n.Berth || len(users[n.Name]) > 0 {
			out = append(out, NetworkUse{NetworkInfo: n, Apps: nonNil(users[n.Name])})
		}
	}
	return out, nil
}

// NetworkInfo describes one network, with the apps that use it.
func (s *Settings) NetworkInfo(ctx context.Context, name string) (NetworkUse, error) {
	if err := docker.ValidNetworkName(name); err != nil {
		return NetworkUse{}, err
	}
	info, err := s.spec.engine.InspectNetwork(ctx, name)
	if docker.IsNotFound(err) {
		return NetworkUse{}, fmt.Errorf("network %s does not exist", name)
	}
	if err != nil {
		return NetworkUse{}, err
	}
	users, err := s.networkUsers(ctx)
	if err != nil {
		return NetworkUse{}, err
	}
	return NetworkUse{NetworkInfo: info, Apps: nonNil(users[name])}, nil
}

func nonNil(s []string) []string {
	if s == nil {
		return []string{}
	}
	return s
}

// maxTLD leaves an alias (APP.TYPE.N.TLD) room within DNS's 253
// characters for the app name and process type.
const maxTLD = 128

// ValidTLD checks a tld network property: a DNS suffix of lowercase
// labels (letters, digits, hyphens inside), such as svc.cluster.local.
// Its last label must not be all digits: APP.TYPE.TLD would then read as
// APP.TYPE.N, container N of another app's alias.
func ValidTLD(tld string) error {
	bad := func(why string) error {
		return fmt.Errorf("tld %q is not a DNS suffix (%s); use lowercase labels of letters, digits and inner hyphens joined by dots, such as svc.cluster.local", tld, why)
	}
	if len(tld) > maxTLD {
		return bad(fmt.Sprintf("longer than %d characters", maxTLD))
	}
	labels := strings.Split(tld, ".")
	for _, l := range labels {
		if l == "" {
			return bad("an empty label")
		}
		if len(l) > 63 {
			return bad("a label longer than 63 characters")
		}
		if l[0] == '-' || l[len(l)-1] == '-' {
			return bad("a label starts or ends with a hyphen")
		}
		for _, r := range l {
			if !(r >= 'a' && r <= 'z' || r >= '0' && r <= '9' || r == '-') {
				return bad(fmt.Sprintf("%q is not allowed", r))
			}
		}
	}
	if strings.Trim(labels[len(labels)-1], "0123456789") == "" {
		return bad("its last label is all digits, which reads as a container number")
	}
	return nil
}
