package docker

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"

	"github.com/moby/moby/client"
)

// BuildKit inside dockerd gives its RUN steps none of a build request's
// memory or CPU limits: it runs each step in a cgroup of its own under
// one fixed parent, docker/buildkit with the cgroupfs driver (measured
// on Docker 20.10, cgroup v1: /sys/fs/cgroup/memory/docker/buildkit/ID
// for a RUN step's process). Berth, root on the engine's host, bounds
// BuildKit builds by setting limits on that parent while they run. The
// parent is shared: every BuildKit build of the engine runs in it, so
// the limit is a total for the builds running at once, and it is the
// largest limit among Berth's builds running at once (unlimited when
// one of them has none). When no Berth build runs, the parent is set
// back to unlimited.
//
// What Berth cannot verify it does not claim: an engine that is not a
// local unix socket (its cgroups are on another host), the systemd
// cgroup driver (BuildKit's steps are systemd scopes there), and a
// parent Berth cannot create or write make LimitBuildKit say why, and
// the builder falls back to the classic builder, which applies limits
// per build.

// cgroupRoot is where the host's cgroup filesystems are mounted.
var cgroupRoot = "/sys/fs/cgroup"

type bkLimit struct{ memory, swap, nanoCPUs int64 }

var bkCgroup struct {
	sync.Mutex
	active map[*bkLimit]bool
}

// LimitBuildKit bounds the engine's BuildKit RUN steps to memory bytes
// (MemorySwap swap: -1 unlimited swap, 0 or equal to memory none) and
// nanoCPUs, for as long as the build runs: call release when it ends.
// 0 means no limit. When it cannot, why says so, in words for the build
// log, and release is nil.
func (c *BuildAPI) LimitBuildKit(ctx context.Context, memory, swap, nanoCPUs int64) (release func(), why string, err error) {
	dirs, why, err := c.buildKitCgroup(ctx)
	if why != "" || err != nil {
		return nil, why, err
	}
	l := &bkLimit{memory, swap, nanoCPUs}
	bkCgroup.Lock()
	defer bkCgroup.Unlock()
	if bkCgroup.active == nil {
		bkCgroup.active = map[*bkLimit]bool{}
	}
	bkCgroup.active[l] = true
	if err := writeBuildKitLimits(dirs, maxLimit(bkCgroup.active)); err != nil {
		delete(bkCgroup.active, l)
		writeBuildKitLimits(dirs, maxLimit(bkCgroup.active))
		return nil, fmt.Sprintf("Berth could not set the limits on BuildKit's cgroup (%v)", err), nil
	}
	return func() {
		bkCgroup.Lock()
		defer bkCgroup.Unlock()
		delete(bkCgroup.active, l)
		// Best effort: a limit that cannot be raised back stays until
		// the next build writes it again.
		writeBuildKitLimits(dirs, maxLimit(bkCgroup.active))
	}, "", nil
}

// maxLimit is the limit the shared parent gets: the largest of the
// running builds' limits, 0 (none) when one has none or none runs.
func maxLimit(active map[*bkLimit]bool) bkLimit {
	if len(active) == 0 {
		return bkLimit{}
	}
	var m bkLimit
	first := true
	for l := range active {
		if first {
			m, first = *l, false
			continue
		}
		m.memory = maxOrNone(m.memory, l.memory)
		m.nanoCPUs = maxOrNone(m.nanoCPUs, l.nanoCPUs)
		if l.swap < 0 || m.swap < 0 {
			m.swap = -1
		} else {
			m.swap = max(m.swap, l.swap)
		}
	}
	return m
}

func maxOrNone(a, b int64) int64 {
	if a <= 0 || b <= 0 {
		return 0
	}
	return max(a, b)
}

// bkDirs are BuildKit's parent cgroup directories: one (v2) or memory
// and cpu (v1).
type bkDirs struct {
	v2          bool
	memory, cpu string
}

func (c *BuildAPI) buildKitCgroup(ctx context.Context) (bkDirs, string, error) {
	host := c.api.DaemonHost()
	if !strings.HasPrefix(host, "unix://") {
		return bkDirs{}, fmt.Sprintf("the engine (%s) is not a local unix socket, so its cgroups are not on Berth's host", host), nil
	}
	res, err := c.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return bkDirs{}, "", fmt.Errorf("docker: engine info: %w", err)
	}
	if d := res.Info.CgroupDriver; d != "cgroupfs" {
		return bkDirs{}, fmt.Sprintf("the engine's cgroup driver is %q, and Berth bounds BuildKit's cgroup only with cgroupfs (dockerd --exec-opt native.cgroupdriver=cgroupfs)", d), nil
	}
	var dirs bkDirs
	switch res.Info.CgroupVersion {
	case "2":
		dirs = bkDirs{v2: true, memory: filepath.Join(cgroupRoot, "docker", "buildkit")}
		dirs.cpu = dirs.memory
	case "1", "":
		dirs = bkDirs{memory: filepath.Join(cgroupRoot, "memory", "docker", "buildkit"), cpu: filepath.Join(cgroupRoot, "cpu", "docker", "buildkit")}
	default:
		return bkDirs{}, fmt.Sprintf("the engine's cgroup version (%s) is one Berth does not know", res.Info.CgroupVersion), nil
	}
	// The parent is made by runc at BuildKit's first RUN step; Berth makes
	// it first when needed, as runc would (it creates missing parents).
	for _, d := range []string{dirs.memory, dirs.cpu} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return bkDirs{}, fmt.Sprintf("BuildKit's cgroup %s cannot be made (%v): is Berth root on the engine's host?", d, err), nil
		}
	}
	if dirs.v2 {
		// The controllers must be enabled down to the parent for its
		// memory.max and cpu.max to exist.
		for _, d := range []string{filepath.Dir(dirs.memory), dirs.memory} {
			_ = os.WriteFile(filepath.Join(filepath.Dir(d), "cgroup.subtree_control"), []byte("+memory +cpu"), 0)
		}
	}
	return dirs, "", nil
}

func writeBuildKitLimits(d bkDirs, l bkLimit) error {
	mem, quota := "-1", "-1"
	if d.v2 {
		mem, quota = "max", "max"
	}
	if l.memory > 0 {
		mem = strconv.FormatInt(l.memory, 10)
	}
	if l.nanoCPUs > 0 {
		quota = strconv.FormatInt(l.nanoCPUs*100000/1e9, 10)
	}
	if d.v2 {
		if err := cgWrite(d.memory, "memory.max", mem); err != nil {
			return err
		}
		swap := "max"
		if l.memory > 0 && l.swap >= 0 {
			swap = strconv.FormatInt(max(l.swap-l.memory, 0), 10)
		}
		if err := cgWrite(d.memory, "memory.swap.max", swap); err != nil && !errors.Is(err, os.ErrNotExist) {
			return err
		}
		return cgWrite(d.cpu, "cpu.max", quota+" 100000")
	}
	// v1: memory.limit_in_bytes may not pass memory.memsw.limit_in_bytes,
	// so the swap limit is lifted first and set last (it is absent when
	// the kernel does not account swap).
	memsw := filepath.Join(d.memory, "memory.memsw.limit_in_bytes")
	_, statErr := os.Stat(memsw)
	hasSwap := statErr == nil
	if hasSwap {
		if err := cgWrite(d.memory, "memory.memsw.limit_in_bytes", "-1"); err != nil {
			return err
		}
	}
	if err := cgWrite(d.memory, "memory.limit_in_bytes", mem); err != nil {
		return err
	}
	if hasSwap && l.memory > 0 && l.swap >= 0 {
		if err := cgWrite(d.memory, "memory.memsw.limit_in_bytes", strconv.FormatInt(max(l.swap, l.memory), 10)); err != nil {
			return err
		}
	}
	if err := cgWrite(d.cpu, "cpu.cfs_period_us", "100000"); err != nil {
		return err
	}
	return cgWrite(d.cpu, "cpu.cfs_quota_us", quota)
}

func cgWrite(dir, file, value string) error {
	if err := os.WriteFile(filepath.Join(dir, file), []byte(value), 0); err != nil {
		return fmt.Errorf("writing %s to %s: %w", value, filepath.Join(dir, file), err)
	}
	return nil
}
