package docker

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// HostOptions are the per-app settings a container runs with beyond what
// Berth itself sets: mounts, resources, extra networks and the whitelisted
// docker-options. The zero value changes nothing.
type HostOptions struct {
	// Binds are "SOURCE:DEST[:OPTIONS]" mounts; SOURCE is an absolute host
	// path or a named volume.
	Binds []string
	// Volumes are container paths that get a fresh anonymous volume each
	// (docker run -v /path). The container carries LabelAnonymousVolumes,
	// and Remove removes those volumes with it, so a redeploy does not
	// leave the old containers' volumes on disk.
	Volumes []string
	Tmpfs   map[string]string
	// Memory, MemoryReservation and MemorySwap are in bytes; NanoCPUs in
	// billionths of a CPU.
	Memory, MemoryReservation, MemorySwap int64
	NanoCPUs, CPUShares                   int64
	CpusetCpus                            string
	PidsLimit                             int64
	ShmSize                               int64
	Ulimits                               []*container.Ulimit
	CapAdd, CapDrop                       []string
	ExtraHosts                            []string
	DNS                                   []netip.Addr
	DNSSearch, DNSOptions                 []string
	SecurityOpt                           []string
	Sysctls                               map[string]string
	LogDriver                             string
	LogOpts                               map[string]string
	ReadOnly                              bool
	User, WorkingDir, Hostname            string
	// Env and Labels are added to the container's own; Berth's variables
	// and labels win over them.
	Env    []string
	Labels map[string]string
	// InitialNetwork is the network the container is created on, when it
	// is not Berth's own; Berth's network is connected as well, before the
	// container starts, because Berth reaches containers on it.
	InitialNetwork string
	// Networks are connected after the container is created and before it
	// starts, each with the given aliases.
	Networks []Attachment
	// InitialAliases are the aliases on InitialNetwork.
	InitialAliases []string
}

// Attachment is a network a container joins, under some DNS aliases.
type Attachment struct {
	Network string
	Aliases []string
}

// Merge returns h with o's settings added: lists are appended, maps
// merged, and o's non-zero single values win.
func (h HostOptions) Merge(o HostOptions) HostOptions {
	h.Binds = slices.Concat(h.Binds, o.Binds)
	h.Volumes = slices.Concat(h.Volumes, o.Volumes)
	h.Tmpfs = mergeMap(h.Tmpfs, o.Tmpfs)
	for _, p := range []struct{ dst, src *int64 }{
		{&h.Memory, &o.Memory}, {&h.MemoryReservation, &o.MemoryReservation}, {&h.MemorySwap, &o.MemorySwap},
		{&h.NanoCPUs, &o.NanoCPUs}, {&h.CPUShares, &o.CPUShares}, {&h.PidsLimit, &o.PidsLimit}, {&h.ShmSize, &o.ShmSize},
	} {
		if *p.src != 0 {
			*p.dst = *p.src
		}
	}
	for _, p := range []struct{ dst, src *string }{
		{&h.CpusetCpus, &o.CpusetCpus}, {&h.LogDriver, &o.LogDriver}, {&h.User, &o.User},
		{&h.WorkingDir, &o.WorkingDir}, {&h.Hostname, &o.Hostname}, {&h.InitialNetwork, &o.InitialNetwork},
	} {
		if *p.src != "" {
			*p.dst = *p.src
		}
	}
	h.Ulimits = slices.Concat(h.Ulimits, o.Ulimits)
	h.CapAdd = slices.Concat(h.CapAdd, o.CapAdd)
	h.CapDrop = slices.Concat(h.CapDrop, o.CapDrop)
	h.ExtraHosts = slices.Concat(h.ExtraHosts, o.ExtraHosts)
	h.DNS = slices.Concat(h.DNS, o.DNS)
	h.DNSSearch = slices.Concat(h.DNSSearch, o.DNSSearch)
	h.DNSOptions = slices.Concat(h.DNSOptions, o.DNSOptions)
	h.SecurityOpt = slices.Concat(h.SecurityOpt, o.SecurityOpt)
	h.Sysctls = mergeMap(h.Sysctls, o.Sysctls)
	h.LogOpts = mergeMap(h.LogOpts, o.LogOpts)
	h.ReadOnly = h.ReadOnly || o.ReadOnly
	h.Env = slices.Concat(h.Env, o.Env)
	h.Labels = mergeMap(h.Labels, o.Labels)
	h.Networks = slices.Concat(h.Networks, o.Networks)
	h.InitialAliases = slices.Concat(h.InitialAliases, o.InitialAliases)
	return h
}

func mergeMap(a, b map[string]string) map[string]string {
	if len(b) == 0 {
		return a
	}
	out := maps.Clone(a)
	if out == nil {
		out = map[string]string{}
	}
	maps.Copy(out, b)
	return out
}

// apply writes h into a container's configuration. Berth's own settings
// (its labels, variables, restart policy, init) are already in cfg and hc
// and are kept.
func (h HostOptions) apply(cfg *container.Config, hc *container.HostConfig) {
	if len(h.Env) > 0 {
		// Later entries win in Docker: the app's own variables come after.
		cfg.Env = slices.Concat(h.Env, cfg.Env)
	}
	for k, v := range h.Labels {
		if _, ok := cfg.Labels[k]; !ok {
			if cfg.Labels == nil {
				cfg.Labels = map[string]string{}
			}
			cfg.Labels[k] = v
		}
	}
	if h.User != "" {
		cfg.User = h.User
	}
	if h.WorkingDir != "" {
		cfg.WorkingDir = h.WorkingDir
	}
	if h.Hostname != "" {
		cfg.Hostname = h.Hostname
	}
	hc.Binds = h.Binds
	for _, target := range h.Volumes {
		hc.Mounts = append(hc.Mounts, mount.Mount{Type: mount.TypeVolume, Target: target})
	}
	if len(h.Volumes) > 0 {
		if cfg.Labels == nil {
			cfg.Labels = map[string]string{}
		}
		cfg.Labels[LabelAnonymousVolumes] = "true"
	}
	hc.Tmpfs = h.Tmpfs
	hc.Memory = h.Memory
	hc.MemoryReservation = h.MemoryReservation
	hc.MemorySwap = h.MemorySwap
	hc.NanoCPUs = h.NanoCPUs
	hc.CPUShares = h.CPUShares
	hc.CpusetCpus = h.CpusetCpus
	if h.PidsLimit != 0 {
		limit := h.PidsLimit
		hc.PidsLimit = &limit
	}
	hc.ShmSize = h.ShmSize
	hc.Ulimits = h.Ulimits
	hc.CapAdd = h.CapAdd
	hc.CapDrop = h.CapDrop
	hc.ExtraHosts = h.ExtraHosts
	hc.DNS = h.DNS
	hc.DNSSearch = h.DNSSearch
	hc.DNSOptions = h.DNSOptions
	hc.SecurityOpt = h.SecurityOpt
	hc.Sysctls = h.Sysctls
	hc.ReadonlyRootfs = h.ReadOnly
	// Berth's rotation options stay unless --log-opt changes them: the
	// drivers ParseOptions accepts (json-file, local) both take them.
	if h.LogDriver != "" {
		hc.LogConfig.Type = h.LogDriver
	}
	if len(h.LogOpts) > 0 {
		if hc.LogConfig.Type == "" {
			hc.LogConfig.Type = "json-file"
		}
		hc.LogConfig.Config = mergeMap(hc.LogConfig.Config, h.LogOpts)
		// An empty value drops the option (logs:set max-size unlimited
		// drops Berth's rotation).
		maps.DeleteFunc(hc.LogConfig.Config, func(_, v string) bool { return v == "" })
	}
}

// createNetworking returns the network a container is created on and its
// endpoint settings. The engine API before 1.44 takes one network at
// creation; the others are connected by connectNetworks before start.
func (c *Client) createNetworking(h HostOptions) (container.NetworkMode, *network.NetworkingConfig) {
	name := c.network
	ep := &network.EndpointSettings{}
	if h.InitialNetwork != "" && h.InitialNetwork != c.network {
		name = h.InitialNetwork
		ep.Aliases = h.InitialAliases
	}
	return container.NetworkMode(name), &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{name: ep}}
}

// connectNetworks joins a created container to Berth's network (when it
// was created on another) and to h's networks.
func (c *Client) connectNetworks(ctx context.Context, id string, h HostOptions) error {
	var joins []Attachment
	if h.InitialNetwork != "" && h.InitialNetwork != c.network {
		joins = append(joins, Attachment{Network: c.network})
	}
	joins = append(joins, h.Networks...)
	for _, a := range joins {
		if err := c.Connect(ctx, id, a); err != nil {
			return err
		}
	}
	return nil
}

// Connect joins a container to a network under the attachment's aliases;
// one that is already joined is left as it is.
func (c *Client) Connect(ctx context.Context, id string, a Attachment) error {
	_, err := c.api.NetworkConnect(ctx, a.Network, client.NetworkConnectOptions{
		Container:      id,
		EndpointConfig: &network.EndpointSettings{Aliases: a.Aliases},
	})
	if err != nil && !strings.Contains(err.Error(), "already exists in network") {
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("docker: network %s does not exist (create it with network:create %s, or change the app's network:set)", a.Network, a.Network)
		}
		return fmt.Errorf("docker: connect container %s to network %s: %w", id, a.Network, err)
	}
	return nil
}

// NetworkInfo is what Berth shows of a Docker network.
type NetworkInfo struct {
	Name     string   `json:"name"`
	ID       string   `json:"id"`
	Driver   string   `json:"driver"`
	Internal bool     `json:"internal"`
	Subnets  []string `json:"subnets,omitempty"`
	// Berth says whether network:create made it.
	Berth bool `json:"berth"`
	// Containers are the names of the containers attached to it.
	Containers []string `json:"containers,omitempty"`
}

// LabelNetwork marks a network made by network:create.
const LabelNetwork = "berth.network"

// ErrNetworkInUse is returned when a network cannot be removed because
// containers are attached to it.
var ErrNetworkInUse = errors.New("network in use")

// CreateNetwork makes an attachable bridge network labelled as Berth's.
func (c *Client) CreateNetwork(ctx context.Context, name string) error {
	// Docker before API 1.44 allows two networks of one name; Berth's
	// commands name networks, so it refuses a second one: one creator at
	// a time here, CheckDuplicate for the engine, and a creator that
	// still raced another process (the engine checks without a lock)
	// removes its own network again unless it is the older one.
	networkMu.Lock()
	defer networkMu.Unlock()
	if _, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); err == nil {
		return fmt.Errorf("a network named %s already exists", name)
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: inspect network %s: %w", name, err)
	}
	id, err := c.createNetworkChecked(ctx, name, client.NetworkCreateOptions{
		Driver:     "bridge",
		Attachable: true,
		Labels:     map[string]string{LabelNetwork: "true", LabelInstance: c.instance},
	})
	if err != nil {
		if isDuplicateNetwork(err) {
			return fmt.Errorf("a network named %s already exists", name)
		}
		return fmt.Errorf("docker: create network %s: %w", name, err)
	}
	nets, err := c.networksNamed(ctx, name)
	if err != nil {
		return err
	}
	if len(nets) > 1 && nets[0].ID != id {
		if _, err := c.api.NetworkRemove(context.WithoutCancel(ctx), id, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("another process created network %s at the same time, and this one's duplicate %s cannot be removed (remove it with `docker network rm %[2]s`): %w", name, id, err)
		}
		return fmt.Errorf("a network named %s already exists", name)
	}
	return nil
}

// InspectNetwork describes a network; the error satisfies IsNotFound when
// there is none by that name.
func (c *Client) InspectNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	res, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return NetworkInfo{}, fmt.Errorf("docker: inspect network %s: %w", name, err)
	}
	n := res.Network
	info := NetworkInfo{Name: n.Name, ID: n.ID, Driver: n.Driver, Internal: n.Internal, Berth: c.ownsNetwork(n.Labels)}
	for _, cfg := range n.IPAM.Config {
		if cfg.Subnet.IsValid() {
			info.Subnets = append(info.Subnets, cfg.Subnet.String())
		}
	}
	for _, ep := range n.Containers {
		info.Containers = append(info.Containers, ep.Name)
	}
	slices.Sort(info.Containers)
	return info, nil
}

// Networks lists the engine's networks by name.
func (c *Client) Networks(ctx context.Context) ([]NetworkInfo, error) {
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	out := make([]NetworkInfo, 0, len(res.Items))
	for _, n := range res.Items {
		out = append(out, NetworkInfo{Name: n.Name, ID: n.ID, Driver: n.Driver, Internal: n.Internal, Berth: c.ownsNetwork(n.Labels)})
	}
	slices.SortFunc(out, func(a, b NetworkInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ownsNetwork reports whether network:create of this Berth made a network
// with labels. One made by a Berth from before instance IDs has none, and
// is taken as this Berth's: a network holds no data, and one in use
// cannot be removed.
func (c *Client) ownsNetwork(labels map[string]string) bool {
	if labels[LabelNetwork] != "true" {
		return false
	}
	inst, ok := labels[LabelInstance]
	return !ok || inst == c.instance
}

// RemoveNetwork deletes a network. A network with attached containers is
// refused with ErrNetworkInUse.
func (c *Client) RemoveNetwork(ctx context.Context, name string) error {
	_, err := c.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	if err != nil {
		if strings.Contains(err.Error(), "active endpoints") {
			return fmt.Errorf("%w: containers are still attached to %s", ErrNetworkInUse, name)
		}
		return fmt.Errorf("docker: remove network %s: %w", name, err)
	}
	return nil
}

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// ValidNetworkName checks a name Docker accepts for a network.
func ValidNetworkName(name string) error {
	if !networkName.MatchString(name) {
		return fmt.Errorf("%q is not a network name: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}

// ParseMemory reads a memory size in Dokku's form: a number with an
// optional unit b, k, m or g (either case, "kb", "mb", "gb" too); a bare
// number is megabytes, as in Dokku.
func ParseMemory(s string) (int64, error) {
	t := strings.ToLower(strings.TrimSpace(s))
	t = strings.TrimSuffix(t, "b")
	mult := int64(1 << 20)
	if t == "" {
		return 0, fmt.Errorf("%q is not a memory size: use a number with a unit, like 512m or 1g", s)
	}
	switch t[len(t)-1] {
	case 'k':
		mult, t = 1<<10, t[:len(t)-1]
	case 'm':
		mult, t = 1<<20, t[:len(t)-1]
	case 'g':
		mult, t = 1<<30, t[:len(t)-1]
	default:
		if strings.HasSuffix(strings.ToLower(s), "b") {
			mult = 1 // "1024b": bytes
		}
	}
	f, err := strconv.ParseFloat(t, 64)
	// f*mult < 1 would be 0 bytes, which Docker reads as no limit at all.
	if err != nil || f <= 0 || f*float64(mult) < 1 || f*float64(mult) > 1<<50 || strings.ContainsAny(t, "eEnN+") {
		return 0, fmt.Errorf("%q is not a memory size: use a number with a unit, like 512m or 1g", s)
	}
	return int64(f * float64(mult)), nil
}

// ParseCPUs reads a number of CPUs ("0.5", "2") as billionths.
func ParseCPUs(s string) (int64, error) {
	f, err := strconv.ParseFloat(s, 64)
	if err != nil || strings.ContainsAny(s, "eEnN+") || f < 0.01 || f > 1024 {
		return 0, fmt.Errorf("%q is not a number of CPUs: use a number like 0.5 or 2", s)
	}
	return int64(f * 1e9), nil
}

// CPUs returns how many CPUs the engine has: the most a container may be
// limited to.
func (c *Client) CPUs(ctx context.Context) (int, error) {
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return 0, fmt.Errorf("docker: engine info: %w", err)
	}
	return res.Info.NCPU, nil
}

// MemTotal returns the memory of the engine's host, in bytes.
func (c *Client) MemTotal(ctx context.Context) (int64, error) {
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return 0, fmt.Errorf("docker: engine info: %w", err)
	}
	return res.Info.MemTotal, nil
}
