package docker

import (
	"context"
	"fmt"
	"maps"
	"net/netip"
	"slices"
	"strconv"
	"strings"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
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
func (c *ContainerAPI) CPUs(ctx context.Context) (int, error) {
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return 0, fmt.Errorf("docker: engine info: %w", err)
	}
	return res.Info.NCPU, nil
}

// MemTotal returns the memory of the engine's host, in bytes.
func (c *ContainerAPI) MemTotal(ctx context.Context) (int64, error) {
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return 0, fmt.Errorf("docker: engine info: %w", err)
	}
	return res.Info.MemTotal, nil
}
