package appspec

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// ContributeSpec adds the settings of app a to the host options of the
// container of slot s: storage, the resources of its process type (none
// for a one-off), the phase's docker-options (and, for a process, its
// type's), and the networks with the container's aliases. Everything was
// validated when it was set; an error here means the record was edited by
// hand.
func (sp *Spec) ContributeSpec(a *platform.App, s platform.Slot, h *docker.HostOptions) error {
	nets, err := sp.computed(a)
	if err != nil {
		return err
	}
	return contribute(a, nets, s, h)
}

// contribute is ContributeSpec with the networks that apply to a (its own,
// else the global ones) given.
func contribute(a *platform.App, nets platform.NetworkSettings, s platform.Slot, h *docker.HostOptions) error {
	for _, m := range a.Storage {
		if err := docker.ValidateMount(m); err != nil {
			return fmt.Errorf("storage of %s: %w", a.Name, err)
		}
		h.Binds = append(h.Binds, m)
	}
	if s.Type != "" {
		r, err := resolve(a.Resources, s.Type)
		if err != nil {
			return err
		}
		*h = h.Merge(r)
	}
	// The phase's options, then (deploy) those of the process type
	// (docker-options:add --process TYPE, kept as "deploy.TYPE").
	phaseOpts := a.DockerOptions[s.Phase]
	if s.Phase == PhaseDeploy && s.Type != "" {
		phaseOpts = slices.Concat(phaseOpts, a.DockerOptions[ProcessPhase(s.Type)])
	}
	for _, opt := range phaseOpts {
		words, err := docker.SplitWords(opt)
		if err != nil {
			return fmt.Errorf("docker-options of %s: %q: %w", a.Name, opt, err)
		}
		o, err := docker.ParseOptions(words)
		if err != nil {
			return fmt.Errorf("docker-options of %s: %q: %w", a.Name, opt, err)
		}
		*h = h.Merge(o)
	}
	var aliases []string
	if s.Type != "" {
		aliases = aliasesOf(a.Name, s.Type, s.Index, nets.TLD)
	}
	if n := nets.InitialNetwork; n != "" {
		h.InitialNetwork, h.InitialAliases = n, aliases
	}
	for _, n := range nets.AttachPostCreate {
		h.Networks = append(h.Networks, docker.Attachment{Network: n, Aliases: aliases})
	}
	return nil
}

// aliasesOf are the names other apps on a shared network reach container
// index of typ by: APP.TYPE (all its containers) or APP.TYPE.N (that
// one), as in Dokku, each followed by .TLD when the app has a tld
// (network:set APP tld svc.cluster.local: APP.web.svc.cluster.local).
func aliasesOf(app, typ string, index int, tld string) []string {
	aliases := []string{app + "." + typ, fmt.Sprintf("%s.%s.%d", app, typ, index)}
	if tld != "" {
		for i := range aliases {
			aliases[i] += "." + tld
		}
	}
	return aliases
}

// CheckTypes refuses all-digit process types on an app with networks
// (its own or the global ones).
func (sp *Spec) CheckTypes(a *platform.App, types []string) error {
	nets, err := sp.computed(a)
	if err != nil {
		return err
	}
	return checkNetworkAliases(a.Name, nets, types)
}

// checkNetworkAliases refuses all-digit process types on an app with
// networks. Dokku allows such types, but app names may hold dots: app
// "api.web" with type "1" would get the alias "api.web.1", which is
// container 1 of app "api"'s web. With no all-digit type an alias reads
// one way only (a last label of digits is a container number), and
// aliases exist only on an app's networks, so this check closes every
// clash.
func checkNetworkAliases(app string, n platform.NetworkSettings, types []string) error {
	if n.InitialNetwork == "" && len(n.AttachPostCreate) == 0 && len(n.AttachPostDeploy) == 0 {
		return nil
	}
	for _, t := range types {
		if strings.Trim(t, "0123456789") == "" {
			return fmt.Errorf("%s's process type %q is all digits, which Berth refuses on an app with networks: its network alias %s.%s could be another app's APP.TYPE.N alias (app api.web's type 1 and container 1 of app api's web would both be api.web.1); rename the process type in the Procfile, or take %s off its networks (network:set %s PROPERTY with no network)",
				app, t, app, t, app, app)
		}
	}
	return nil
}

// PostDeploy joins the checked new containers to the app's
// attach-post-deploy networks, before they take traffic.
func (sp *Spec) PostDeploy(ctx context.Context, a *platform.App, news []platform.Deployed) error {
	nets, err := sp.computed(a)
	if err != nil {
		return err
	}
	for _, d := range news {
		for _, att := range postDeployAttachments(a.Name, nets, d.Type, d.Index) {
			if err := sp.engine.Connect(ctx, d.ID, att); err != nil {
				return err
			}
		}
	}
	return nil
}

// postDeployAttachments are the networks container index of typ joins
// once it passes its checks.
func postDeployAttachments(app string, nets platform.NetworkSettings, typ string, index int) []docker.Attachment {
	var out []docker.Attachment
	for _, n := range nets.AttachPostDeploy {
		out = append(out, docker.Attachment{Network: n, Aliases: aliasesOf(app, typ, index, nets.TLD)})
	}
	return out
}

// ContributeBuild gives a's build its build-phase docker-options and its
// own build resource limits (resource:limit --process-type build), and
// says whether an admin set them.
func (sp *Spec) ContributeBuild(a *platform.App, b *platform.BuildSpec) error {
	h, err := buildLimits(a.Resources.Limits[platform.BuildProcessType])
	if err != nil {
		return fmt.Errorf("the build resource limits of %s: %w", a.Name, err)
	}
	b.Resources = b.Resources.Merge(h)
	b.ByAdmin = b.ByAdmin || AdminOwned(a.Resources)
	if err := buildOptions(a, &b.Options); err != nil && b.OptionsErr == nil {
		b.OptionsErr = err
	}
	return nil
}

// buildLimits reads the build's own limits as Docker takes them.
func buildLimits(own platform.Resources) (docker.HostOptions, error) {
	var h docker.HostOptions
	var err error
	if own.Memory != "" {
		if h.Memory, err = docker.ParseMemory(own.Memory); err != nil {
			return h, err
		}
	}
	if own.MemorySwap != "" {
		if own.MemorySwap == "-1" {
			h.MemorySwap = -1
		} else if h.MemorySwap, err = docker.ParseMemory(own.MemorySwap); err != nil {
			return h, err
		}
	}
	if own.CPU != "" {
		if h.NanoCPUs, err = docker.ParseCPUs(own.CPU); err != nil {
			return h, err
		}
	}
	return h, nil
}

// buildOptions reads the app's build-phase docker-options into o, each
// checked when it was added; an error means the record was edited by
// hand.
func buildOptions(a *platform.App, o *builder.BuildOptions) error {
	for _, opt := range a.DockerOptions[PhaseBuild] {
		words, err := docker.SplitWords(opt)
		if err == nil {
			err = o.Parse(words)
		}
		if err != nil {
			return fmt.Errorf("build docker-options of %s: %q: %w; fix it with docker-options:remove %s build", a.Name, opt, err, a.Name)
		}
	}
	return nil
}
