package platform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
)

// NetworkSettings are Dokku's network properties of an app: the Docker
// networks its containers join, and when.
type NetworkSettings struct {
	// InitialNetwork is the network containers are created on. Berth's own
	// network is joined as well, before they start: Berth reaches its
	// containers there.
	InitialNetwork string `json:"initial_network,omitempty"`
	// AttachPostCreate networks are joined after a container is created
	// and before it starts.
	AttachPostCreate []string `json:"attach_post_create,omitempty"`
	// AttachPostDeploy networks are joined once a new container passes its
	// checks, before it takes traffic.
	AttachPostDeploy []string `json:"attach_post_deploy,omitempty"`
}

// ResourceSettings are the app's resource limits and reservations, by
// process type; DefaultProcessType's apply to types without their own.
type ResourceSettings struct {
	Limits       map[string]Resources `json:"limits,omitempty"`
	Reservations map[string]Resources `json:"reservations,omitempty"`
	// SetBy says who last changed these settings: SetByAdmin or
	// SetByDeployKey. Once an admin has, a deploy key may read them but
	// not change them, until an admin clears them all. Settings recorded
	// before Berth kept this (empty SetBy) count as an admin's: nobody
	// can tell, and the safe guess keeps a deploy key from undoing them.
	SetBy string `json:"set_by,omitempty"`
}

// Who changed resource settings (ResourceSettings.SetBy).
const (
	SetByAdmin     = "admin"
	SetByDeployKey = "deploy key"
)

// AdminOwned reports whether only an admin key may change the settings.
func (r ResourceSettings) AdminOwned() bool {
	return r.SetBy == SetByAdmin || (r.SetBy == "" && (len(r.Limits) > 0 || len(r.Reservations) > 0))
}

// Resources are amounts as the user wrote them (validated when set).
type Resources struct {
	CPU        string `json:"cpu,omitempty"`
	Memory     string `json:"memory,omitempty"`
	MemorySwap string `json:"memory_swap,omitempty"`
}

// DefaultProcessType stands for every process type in resource settings
// (Dokku's name).
const DefaultProcessType = "_default_"

// Docker-options phases.
const (
	PhaseDeploy = "deploy"
	PhaseRun    = "run"
	// PhaseBuild's options are the Dockerfile builder's (--build-arg,
	// --target; builder.BuildOptions), not docker run flags.
	PhaseBuild = "build"
)

// ErrNetworkInUse is returned when a network an app uses would go.
var ErrNetworkInUse = errors.New("network in use")

// hostOptions are the settings container index of process typ runs with
// (typ "" for a one-off of phase run or deploy): storage, resources of
// the type, the phase's docker-options, and the networks with the
// container's aliases. Everything was validated when it was set; an error
// here means the record was edited by hand.
func hostOptions(a *App, phase, typ string, index int) (docker.HostOptions, error) {
	var h docker.HostOptions
	for _, m := range a.Storage {
		if err := docker.ValidateMount(m); err != nil {
			return h, fmt.Errorf("storage of %s: %w", a.Name, err)
		}
		h.Binds = append(h.Binds, m)
	}
	if typ != "" {
		r, err := a.Resources.resolve(typ)
		if err != nil {
			return h, err
		}
		h = h.Merge(r)
	}
	// logs:set max-size, before docker-options: a --log-opt wins.
	if size := a.LogMaxSize; size == LogMaxSizeUnlimited {
		h.LogOpts = map[string]string{"max-size": "", "max-file": ""} // omitted
	} else if size != "" {
		h.LogOpts = map[string]string{"max-size": size}
	}
	// The phase's options, then (deploy) those of the process type
	// (docker-options:add --process TYPE, kept as "deploy.TYPE").
	phaseOpts := a.DockerOptions[phase]
	if phase == PhaseDeploy && typ != "" {
		phaseOpts = slices.Concat(phaseOpts, a.DockerOptions[ProcessPhase(typ)])
	}
	for _, opt := range phaseOpts {
		words, err := docker.SplitWords(opt)
		if err != nil {
			return h, fmt.Errorf("docker-options of %s: %q: %w", a.Name, opt, err)
		}
		o, err := docker.ParseOptions(words)
		if err != nil {
			return h, fmt.Errorf("docker-options of %s: %q: %w", a.Name, opt, err)
		}
		h = h.Merge(o)
	}
	var aliases []string
	if typ != "" {
		// Other apps on a shared network reach the type by APP.TYPE (all
		// its containers) or one container by APP.TYPE.N, as in Dokku.
		aliases = []string{a.Name + "." + typ, fmt.Sprintf("%s.%s.%d", a.Name, typ, index)}
	}
	if n := a.Networks.InitialNetwork; n != "" {
		h.InitialNetwork, h.InitialAliases = n, aliases
	}
	for _, n := range a.Networks.AttachPostCreate {
		h.Networks = append(h.Networks, docker.Attachment{Network: n, Aliases: aliases})
	}
	return h, nil
}

// checkNetworkAliases refuses all-digit process types on an app with
// networks. Dokku allows such types, but app names may hold dots: app
// "api.web" with type "1" would get the alias "api.web.1", which is
// container 1 of app "api"'s web. With no all-digit type an alias reads
// one way only (a last label of digits is a container number), and
// aliases exist only on an app's networks, so this check closes every
// clash.
func checkNetworkAliases(a *App, types []string) error {
	n := a.Networks
	if n.InitialNetwork == "" && len(n.AttachPostCreate) == 0 && len(n.AttachPostDeploy) == 0 {
		return nil
	}
	for _, t := range types {
		if strings.Trim(t, "0123456789") == "" {
			return fmt.Errorf("%s's process type %q is all digits, which Berth refuses on an app with networks: its network alias %s.%s could be another app's APP.TYPE.N alias (app api.web's type 1 and container 1 of app api's web would both be api.web.1); rename the process type in the Procfile, or take %s off its networks (network:set %s PROPERTY with no network)",
				a.Name, t, a.Name, t, a.Name, a.Name)
		}
	}
	return nil
}

// postDeployAttachments are the networks container index of typ joins
// once it passes its checks.
func postDeployAttachments(a *App, typ string, index int) []docker.Attachment {
	var out []docker.Attachment
	for _, n := range a.Networks.AttachPostDeploy {
		out = append(out, docker.Attachment{Network: n, Aliases: []string{a.Name + "." + typ, fmt.Sprintf("%s.%s.%d", a.Name, typ, index)}})
	}
	return out
}

// attachPostDeploy joins the checked new containers to the app's
// attach-post-deploy networks.
func (p *Platform) attachPostDeploy(ctx context.Context, a *App, news []started) error {
	for _, s := range news {
		for _, att := range postDeployAttachments(p.withGlobalNetworks(a), s.typ, s.index) {
			if err := p.docker.Connect(ctx, s.id, att); err != nil {
				return err
			}
		}
	}
	return nil
}

// resolve returns the resources of typ: its own settings, else the
// default's, field by field.
func (r ResourceSettings) resolve(typ string) (docker.HostOptions, error) {
	var h docker.HostOptions
	pick := func(m map[string]Resources, get func(Resources) string) string {
		if v := get(m[typ]); v != "" {
			return v
		}
		return get(m[DefaultProcessType])
	}
	var err error
	if v := pick(r.Limits, func(x Resources) string { return x.CPU }); v != "" {
		if h.NanoCPUs, err = docker.ParseCPUs(v); err != nil {
			return h, err
		}
	}
	if v := pick(r.Limits, func(x Resources) string { return x.Memory }); v != "" {
		if h.Memory, err = docker.ParseMemory(v); err != nil {
			return h, err
		}
	}
	if v := pick(r.Limits, func(x Resources) string { return x.MemorySwap }); v != "" {
		if v == "-1" {
			h.MemorySwap = -1
		} else if h.MemorySwap, err = docker.ParseMemory(v); err != nil {
			return h, err
		}
	}
	if v := pick(r.Reservations, func(x Resources) string { return x.Memory }); v != "" {
		if h.MemoryReservation, err = docker.ParseMemory(v); err != nil {
			return h, err
		}
	}
	if h.Memory > 0 && h.MemoryReservation > h.Memory {
		return h, fmt.Errorf("the memory reservation of %s (%d MB) is above its memory limit (%d MB)", typ, h.MemoryReservation>>20, h.Memory>>20)
	}
	if h.MemorySwap > 0 && h.Memory > 0 && h.MemorySwap < h.Memory {
		return h, fmt.Errorf("the memory-swap limit of %s must be at least its memory limit (memory-swap counts memory plus swap)", typ)
	}
	if h.MemorySwap > 0 && h.Memory == 0 {
		return h, fmt.Errorf("a memory-swap limit of %s needs a memory limit too", typ)
	}
	return h, nil
}

// minMemory is Docker's least memory limit.
const minMemory = 6 << 20

// SetResources sets the app's resource limits (kind "limit") or
// reservations ("reserve") for a process type (DefaultProcessType for
// all); empty fields of r are left as they are. They apply from the next
// rollout (deploy, ps:restart, ps:rebuild).
func (p *Platform) SetResources(ctx context.Context, app, kind, typ string, r Resources) error {
	if typ == "" {
		typ = DefaultProcessType
	}
	if typ != DefaultProcessType {
		if err := validProcessType(typ); err != nil {
			return err
		}
	}
	if r.CPU != "" {
		if kind == "reserve" {
			return errors.New("Docker cannot reserve CPU for a container; limit it with resource:limit --cpu, or weigh it with docker-options:add APP deploy --cpu-shares N")
		}
		n, err := docker.ParseCPUs(r.CPU)
		if err != nil {
			return err
		}
		// Docker refuses a limit above the host's CPUs only when a
		// container is created; say so now instead.
		if cpus, err := p.docker.CPUs(ctx); err == nil && cpus > 0 && n > int64(cpus)*1e9 {
			return fmt.Errorf("--cpu %s is more than this host's %d CPUs", r.CPU, cpus)
		}
	}
	sizes := []string{r.Memory}
	if r.MemorySwap != "-1" { // -1: unlimited swap, as in Docker
		sizes = append(sizes, r.MemorySwap)
	}
	for _, m := range sizes {
		if m == "" {
			continue
		}
		n, err := docker.ParseMemory(m)
		if err != nil {
			return err
		}
		if n < minMemory {
			return fmt.Errorf("%s is below Docker's least memory size of 6m", m)
		}
	}
	if r.MemorySwap != "" && kind == "reserve" {
		return errors.New("memory-swap is a limit, not a reservation: use resource:limit --memory-swap")
	}
	return p.changeResources(ctx, app, kind, func(m *map[string]Resources) {
		if *m == nil {
			*m = map[string]Resources{}
		}
		cur := (*m)[typ]
		if r.CPU != "" {
			cur.CPU = r.CPU
		}
		if r.Memory != "" {
			cur.Memory = r.Memory
		}
		if r.MemorySwap != "" {
			cur.MemorySwap = r.MemorySwap
		}
		(*m)[typ] = cur
	}, func(invalid error) error { return invalid })
}

// changeResources applies edit to a copy of the app's limits (kind
// "limit") or reservations ("reserve"), under the app's lock, and saves
// the result only if it still makes sense for every process type; when
// it does not, refused says why and the record is left as it was.
func (p *Platform) changeResources(ctx context.Context, app, kind string, edit func(m *map[string]Resources), refused func(invalid error) error) error {
	a, unlock, err := p.lockedApp(ctx, app, "a resource change")
	if err != nil {
		return err
	}
	defer unlock()
	// Limits protect the host from the app, so the app's own deploy key
	// must not undo an admin's: once an admin has changed them, the
	// settings are the admin's as a whole. A finer rule (a deploy key
	// may only tighten) would have to weigh every process type against
	// _default_ and build; this one has no such gaps.
	byDeployKey := isDeployKey(ctx)
	if byDeployKey && a.Resources.AdminOwned() {
		return fmt.Errorf("the resource limits and reservations of %s were set by an admin, so only an admin key can change them; this key may read them (resource:report %s)", app, app)
	}
	settings := ResourceSettings{Limits: maps.Clone(a.Resources.Limits), Reservations: maps.Clone(a.Resources.Reservations)}
	m := &settings.Limits
	if kind == "reserve" {
		m = &settings.Reservations
	}
	edit(m)
	if err := settings.validate(); err != nil {
		return refused(err)
	}
	// An admin who clears everything hands the settings back.
	switch {
	case len(settings.Limits) == 0 && len(settings.Reservations) == 0:
		settings.SetBy = ""
	case byDeployKey:
		settings.SetBy = SetByDeployKey
	default:
		settings.SetBy = SetByAdmin
	}
	a.Resources = settings
	return saveApp(ctx, p.store, a)
}

// validate checks the combination of limits and reservations for every
// process type, so no rollout meets, say, a memory-swap limit without a
// memory limit. Types without settings of their own resolve to the
// default's, so the default and every type that has settings is all
// there is to check, whatever the app's releases run.
func (r ResourceSettings) validate() error {
	types := []string{DefaultProcessType}
	for _, m := range []map[string]Resources{r.Limits, r.Reservations} {
		for t := range m {
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	slices.Sort(types[1:])
	for _, t := range types {
		if _, err := r.resolve(t); err != nil {
			return err
		}
	}
	return nil
}

// ClearResources removes the app's limits or reservations of a process
// type (DefaultProcessType: the defaults), or of every type when all.
func (p *Platform) ClearResources(ctx context.Context, app, kind, typ string, all bool) error {
	what := "limits"
	if kind == "reserve" {
		what = "reservations"
	}
	if all {
		what = "all " + what
	} else {
		if typ == "" {
			typ = DefaultProcessType
		}
		what = fmt.Sprintf("the %s of %s", what, typ)
	}
	return p.changeResources(ctx, app, kind, func(m *map[string]Resources) {
		if all {
			*m = nil
			return
		}
		delete(*m, typ)
		if len(*m) == 0 {
			*m = nil
		}
	}, func(invalid error) error {
		// What is left must still make sense for every type, or every
		// later rollout would fail on it.
		return fmt.Errorf("clearing %s of %s would leave settings Docker refuses: %w; nothing was changed (change or clear that setting first)", what, app, invalid)
	})
}

func validProcessType(typ string) error {
	if !processTypePattern.MatchString(typ) {
		return fmt.Errorf("%q is not a process type", typ)
	}
	return nil
}

// Mount adds a mount "SOURCE:DEST[:ro]" to the app, from its next rollout
// on (and to run one-offs from now on).
func (p *Platform) Mount(ctx context.Context, app, mount string) error {
	if err := docker.ValidateMount(mount); err != nil {
		return err
	}
	a, unlock, err := p.lockedApp(ctx, app, "a storage change")
	if err != nil {
		return err
	}
	defer unlock()
	dest := strings.Split(mount, ":")[1]
	for _, m := range a.Storage {
		if m == mount {
			return fmt.Errorf("%s already mounts %s", app, mount)
		}
		if strings.Split(m, ":")[1] == dest {
			return fmt.Errorf("%s already mounts %s at %s; unmount it first (storage:unmount %s %s)", app, m, dest, app, m)
		}
	}
	a.Storage = append(slices.Clone(a.Storage), mount)
	return saveApp(ctx, p.store, a)
}

// Unmount removes a mount the app has, from its next rollout on.
func (p *Platform) Unmount(ctx context.Context, app, mount string) error {
	a, unlock, err := p.lockedApp(ctx, app, "a storage change")
	if err != nil {
		return err
	}
	defer unlock()
	i := slices.Index(a.Storage, mount)
	if i < 0 {
		have := "it has none"
		if len(a.Storage) > 0 {
			have = "its mounts are " + strings.Join(a.Storage, ", ")
		}
		return fmt.Errorf("%s does not mount %s; %s", app, mount, have)
	}
	a.Storage = slices.Delete(slices.Clone(a.Storage), i, i+1)
	return saveApp(ctx, p.store, a)
}

// AddDockerOptions adds an option string (one or more docker run flags)
// to the app's phases. It is split into words and checked against the
// supported flags now, and read the same way at every container start;
// no shell ever sees it.
func (p *Platform) AddDockerOptions(ctx context.Context, app string, phases []string, words []string) (string, error) {
	if err := validPhases(phases); err != nil {
		return "", err
	}
	if err := checkPhaseOptions(phases, words); err != nil {
		return "", err
	}
	opt := joinWords(words)
	a, unlock, err := p.lockedApp(ctx, app, "a docker-options change")
	if err != nil {
		return "", err
	}
	defer unlock()
	opts := cloneOptions(a.DockerOptions)
	for _, ph := range phases {
		if !slices.Contains(opts[ph], opt) {
			opts[ph] = append(opts[ph], opt)
		}
	}
	a.DockerOptions = opts
	return opt, saveApp(ctx, p.store, a)
}

// RemoveDockerOptions removes an option string from the app's phases; it
// must match one that was added.
func (p *Platform) RemoveDockerOptions(ctx context.Context, app string, phases []string, words []string) error {
	if err := validPhases(phases); err != nil {
		return err
	}
	opt := joinWords(words)
	a, unlock, err := p.lockedApp(ctx, app, "a docker-options change")
	if err != nil {
		return err
	}
	defer unlock()
	opts := cloneOptions(a.DockerOptions)
	for _, ph := range phases {
		i := slices.Index(opts[ph], opt)
		if i < 0 {
			return fmt.Errorf("%s has no %s option %q; see docker-options:report %s", app, ph, opt, app)
		}
		opts[ph] = slices.Delete(opts[ph], i, i+1)
		if len(opts[ph]) == 0 {
			delete(opts, ph)
		}
	}
	a.DockerOptions = opts
	return saveApp(ctx, p.store, a)
}

// ClearDockerOptions removes every option of the phases (all phases when
// none is given).
func (p *Platform) ClearDockerOptions(ctx context.Context, app string, phases []string) error {
	if err := validPhases(phases); err != nil {
		return err
	}
	return p.update(ctx, app, func(a *App) {
		if len(phases) == 0 {
			// Every phase of the app's own scope: a process type's
			// options stay (Dokku's rule; clear them with --process).
			phases = []string{PhaseBuild, PhaseDeploy, PhaseRun}
		}
		opts := cloneOptions(a.DockerOptions)
		for _, ph := range phases {
			delete(opts, ph)
		}
		if len(opts) == 0 {
			opts = nil
		}
		a.DockerOptions = opts
	})
}

// ProcessPhase is the key of a process type's deploy options
// (docker-options:add --process TYPE APP deploy ...; Dokku's name).
func ProcessPhase(typ string) string { return PhaseDeploy + "." + typ }

func validPhases(phases []string) error {
	for _, ph := range phases {
		if typ, ok := strings.CutPrefix(ph, PhaseDeploy+"."); ok {
			if err := validProcessType(typ); err != nil || typ == DefaultProcessType {
				return fmt.Errorf("--process %q: give a process type of the app's Procfile (web, worker, ...)", typ)
			}
			continue
		}
		switch ph {
		case PhaseDeploy, PhaseRun, PhaseBuild:
		default:
			return fmt.Errorf("unknown phase %q: use build, deploy, run or a list of them like deploy,run", ph)
		}
	}
	return nil
}

// checkPhaseOptions checks words against what each phase takes: docker
// run flags for deploy and run, the Dockerfile builder's options for
// build. Nothing a phase does not understand is stored.
func checkPhaseOptions(phases, words []string) error {
	for _, ph := range phases {
		var err error
		if ph == PhaseBuild {
			_, err = builder.ParseBuildOptions(words)
		} else {
			_, err = docker.ParseOptions(words)
		}
		if err != nil {
			return fmt.Errorf("%s phase: %w", ph, err)
		}
	}
	return nil
}

// buildOptions reads the app's build-phase docker-options, each checked
// when it was added; an error means the record was edited by hand.
func buildOptions(a *App) (builder.BuildOptions, error) {
	var o builder.BuildOptions
	for _, opt := range a.DockerOptions[PhaseBuild] {
		words, err := docker.SplitWords(opt)
		if err == nil {
			err = o.Parse(words)
		}
		if err != nil {
			return o, fmt.Errorf("build docker-options of %s: %q: %w; fix it with docker-options:remove %s build", a.Name, opt, err, a.Name)
		}
	}
	return o, nil
}

func cloneOptions(m map[string][]string) map[string][]string {
	out := map[string][]string{}
	for k, v := range m {
		out[k] = slices.Clone(v)
	}
	return out
}

// joinWords writes words back as one option string that SplitWords reads
// into the same words.
func joinWords(words []string) string {
	out := make([]string, len(words))
	for i, w := range words {
		if w != "" && !strings.ContainsAny(w, " \t\n'\"\\$`*?[]{}()<>|&;#~") {
			out[i] = w
		} else {
			out[i] = ShellQuote(w)
		}
	}
	return strings.Join(out, " ")
}

// SetNetwork sets one of the app's network properties (Dokku's
// network:set): initial-network takes one network, the attach phases any
// number; none clears the property. Networks must exist. They apply from
// the next rollout.
func (p *Platform) SetNetwork(ctx context.Context, app, key string, nets []string) error {
	if err := p.checkNetworkProperty(ctx, key, nets); err != nil {
		return err
	}
	if len(nets) == 0 {
		nets = nil // cleared: nothing left in the record
	}
	a, unlock, err := p.lockedApp(ctx, app, "a network change")
	if err != nil {
		return err
	}
	defer unlock()
	a.Networks.set(key, nets)
	if rel, ok := a.CurrentRelease(); ok {
		if err := checkNetworkAliases(p.withGlobalNetworks(a), processTypes(rel.Processes)); err != nil {
			return err
		}
	}
	return saveApp(ctx, p.store, a)
}

// set sets one network property (checked by checkNetworkProperty).
func (s *NetworkSettings) set(key string, nets []string) {
	switch key {
	case "initial-network":
		s.InitialNetwork = ""
		if len(nets) == 1 {
			s.InitialNetwork = nets[0]
		}
	case "attach-post-create":
		s.AttachPostCreate = slices.Clone(nets)
	case "attach-post-deploy":
		s.AttachPostDeploy = slices.Clone(nets)
	}
}

// checkNetworkProperty refuses a network property Berth does not have,
// and networks an app cannot join or that do not exist.
func (p *Platform) checkNetworkProperty(ctx context.Context, key string, nets []string) error {
	switch key {
	case "initial-network":
		if len(nets) > 1 {
			return errors.New("initial-network takes one network")
		}
	case "attach-post-create", "attach-post-deploy":
	default:
		return fmt.Errorf("unknown network property %q: use initial-network, attach-post-create or attach-post-deploy", key)
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
		case p.docker.Network():
			return fmt.Errorf("every app is on Berth's network %s already", n)
		}
		if seen[n] {
			return fmt.Errorf("network %s is named twice", n)
		}
		seen[n] = true
		if _, err := p.docker.InspectNetwork(ctx, n); docker.IsNotFound(err) {
			return fmt.Errorf("network %s does not exist; create it with network:create %s", n, n)
		} else if err != nil {
			return err
		}
	}
	return nil
}

// uses reports whether the app's settings name network n.
func (s NetworkSettings) uses(n string) bool {
	return s.InitialNetwork == n || slices.Contains(s.AttachPostCreate, n) || slices.Contains(s.AttachPostDeploy, n)
}

// NetworkUse is a network and the apps whose settings name it.
type NetworkUse struct {
	docker.NetworkInfo
	Apps []string `json:"apps"`
}

func (p *Platform) networkUsers(ctx context.Context) (map[string][]string, error) {
	names, err := p.store.List(ctx, "apps")
	if err != nil {
		return nil, err
	}
	users := map[string][]string{}
	for _, name := range names {
		a, err := loadApp(ctx, p.store, name)
		if err != nil {
			return nil, err
		}
		for _, n := range slices.Concat([]string{a.Networks.InitialNetwork}, a.Networks.AttachPostCreate, a.Networks.AttachPostDeploy) {
			if n != "" && !slices.Contains(users[n], name) {
				users[n] = append(users[n], name)
			}
		}
	}
	// The global settings (network:set --global) use their networks too:
	// every app that sets none joins them.
	g := p.GlobalNetworks()
	for _, n := range slices.Concat([]string{g.InitialNetwork}, g.AttachPostCreate, g.AttachPostDeploy) {
		if n != "" && !slices.Contains(users[n], "--global") {
			users[n] = append(users[n], "--global")
		}
	}
	return users, nil
}

// CreateNetwork makes an attachable bridge network for apps to share
// (Dokku's network:create).
func (p *Platform) CreateNetwork(ctx context.Context, name string) error {
	if err := docker.ValidNetworkName(name); err != nil {
		return err
	}
	switch name {
	case "bridge", "host", "none", p.docker.Network():
		return fmt.Errorf("%s is a reserved network name", name)
	}
	return p.docker.CreateNetwork(ctx, name)
}

// DestroyNetwork removes a network network:create made. It is refused
// while an app's settings name it or a container is attached to it.
func (p *Platform) DestroyNetwork(ctx context.Context, name string) error {
	if err := docker.ValidNetworkName(name); err != nil {
		return err
	}
	info, err := p.docker.InspectNetwork(ctx, name)
	if docker.IsNotFound(err) {
		return fmt.Errorf("network %s does not exist", name)
	}
	if err != nil {
		return err
	}
	if !info.Berth {
		return fmt.Errorf("network %s was not made by network:create of this Berth; Berth leaves it alone (remove it with docker network rm if it is yours)", name)
	}
	users, err := p.networkUsers(ctx)
	if err != nil {
		return err
	}
	if apps := users[name]; len(apps) > 0 {
		return Errorf(ErrNetworkInUse, "network %s is used by %s; take it out of their settings first (network:set APP|--global PROPERTY with no network, then ps:restart APP)", name, strings.Join(apps, ", "))
	}
	if err := p.docker.RemoveNetwork(ctx, name); err != nil {
		if errors.Is(err, docker.ErrNetworkInUse) {
			return Errorf(ErrNetworkInUse, "network %s still has containers attached (%s); restart the apps that used it (ps:restart APP) or disconnect them", name, strings.Join(info.Containers, ", "))
		}
		return err
	}
	return nil
}

// Networks lists the networks network:create made, and any other an app
// uses, with the apps that use them.
func (p *Platform) Networks(ctx context.Context) ([]NetworkUse, error) {
	all, err := p.docker.Networks(ctx)
	if err != nil {
		return nil, err
	}
	users, err := p.networkUsers(ctx)
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
func (p *Platform) NetworkInfo(ctx context.Context, name string) (NetworkUse, error) {
	if err := docker.ValidNetworkName(name); err != nil {
		return NetworkUse{}, err
	}
	info, err := p.docker.InspectNetwork(ctx, name)
	if docker.IsNotFound(err) {
		return NetworkUse{}, fmt.Errorf("network %s does not exist", name)
	}
	if err != nil {
		return NetworkUse{}, err
	}
	users, err := p.networkUsers(ctx)
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

// Owners storage:ensure-directory can give a directory, as in Dokku: the
// user the app's image runs as.
var storageOwners = map[string]int{"herokuish": 32767, "heroku": 1000, "packeto": 2000, "paketo": 2000, "root": 0}

// EnsureStorageDirectory makes a directory for mounts under Berth's
// storage directory and returns its path (Dokku's
// storage:ensure-directory). chown names the owner ("false" or empty
// leaves it to Berth's user: Berth builds Dockerfiles, whose images
// mostly run as root, not herokuish's user).
func (p *Platform) EnsureStorageDirectory(name, chown string) (string, error) {
	if p.storageDir == "" {
		return "", errors.New("this Berth has no storage directory")
	}
	if !storageName.MatchString(name) {
		return "", fmt.Errorf("%q is not a directory name: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	uid, chowned := storageOwners[chown]
	if !chowned && chown != "" && chown != "false" {
		return "", fmt.Errorf("unknown owner %q: use false, herokuish, heroku, packeto or root", chown)
	}
	if err := os.MkdirAll(p.storageDir, 0o755); err != nil {
		return "", err
	}
	dir := filepath.Join(p.storageDir, name)
	if err := os.Mkdir(dir, 0o755); err != nil && !os.IsExist(err) {
		return "", err
	}
	if chowned {
		if err := os.Chown(dir, uid, uid); err != nil {
			return "", fmt.Errorf("cannot give %s to uid %d (Berth must run as root to change owners): %w", dir, uid, err)
		}
	}
	return dir, nil
}

var storageName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]*$`)
