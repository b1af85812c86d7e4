package caddymodule

import (
	"fmt"
	"strconv"
	"time"

	"github.com/caddyserver/caddy/v2"
	"github.com/caddyserver/caddy/v2/caddyconfig/caddyfile"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/internal/bytesize"
	"github.com/berth-paas/berth/platform"
)

// Limits are the berth block's bounds on what one app (or the key that
// deploys it) can take of the host. Each is optional; the defaults are
// platform's Default* and gitrecv.DefaultMaxPush.
type Limits struct {
	// MaxScale is the most containers of one process type (ps:scale and
	// app.json's formation). Default 100.
	MaxScale int `json:"max_scale,omitempty"`
	// MaxContainers is the most containers of one app. Default 200.
	MaxContainers int `json:"max_containers,omitempty"`
	// BuildTimeout bounds a deploy's build, predeploy and release
	// command together. Default 30m.
	BuildTimeout caddy.Duration `json:"build_timeout,omitempty"`
	// BuildLogMax is the most a build's log keeps (and shows), as a
	// size: 10MiB, 512KiB. Default 10MiB.
	BuildLogMax string `json:"build_log_max,omitempty"`
	// BuildMemory is a build's memory limit unless the app sets one for
	// process type build: a Docker size (2g, 512m), or "none". Default:
	// half the host's memory.
	BuildMemory string `json:"build_memory,omitempty"`
	// BuildCPUs is a build's CPU limit unless the app sets one, as a
	// number of CPUs (1.5). Default: none.
	BuildCPUs string `json:"build_cpus,omitempty"`
	// PushMax is the largest pack a git push may send, as a size.
	// Default 1GiB.
	PushMax string `json:"push_max,omitempty"`
	// KeepReleases is how many releases of each app keep their image
	// (the current one and the ones before it, which rollback returns
	// to), unless the app or releases:set --global says otherwise.
	// Default 10, at least 2.
	KeepReleases int `json:"keep_releases,omitempty"`
	// BuildCacheMax bounds the engine's build cache, pruned to it after
	// each build, as a size (10GiB), or "none" for no pruning. Default
	// 10GiB.
	BuildCacheMax string `json:"build_cache_max,omitempty"`
}

// limitOptions are the Caddyfile names of the Limits fields.
var limitOptions = []string{"max_scale", "max_containers", "build_timeout", "build_log_max", "build_memory", "build_cpus", "push_max", "keep_releases", "build_cache_max"}

// parseLimitOption reads one of limitOptions into l; ok is false for
// any other option.
func parseLimitOption(d *caddyfile.Dispenser, l *Limits, opt string) (ok bool, err error) {
	known := false
	for _, o := range limitOptions {
		known = known || o == opt
	}
	if !known {
		return false, nil
	}
	if !d.NextArg() {
		return true, d.Errf("%s needs a value", opt)
	}
	v := d.Val()
	if d.NextArg() {
		return true, d.Errf("%s takes one value", opt)
	}
	switch opt {
	case "max_scale", "max_containers":
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 {
			return true, d.Errf("%s %q: want a whole number from 1 up", opt, v)
		}
		if opt == "max_scale" {
			l.MaxScale = n
		} else {
			l.MaxContainers = n
		}
	case "build_timeout":
		t, err := caddy.ParseDuration(v)
		if err != nil || t <= 0 {
			return true, d.Errf("build_timeout %q: want a duration like 30m or 1h", v)
		}
		l.BuildTimeout = caddy.Duration(t)
	case "build_log_max", "push_max":
		if _, err := bytesize.Parse(v); err != nil {
			return true, d.Errf("%s: %v", opt, err)
		}
		if opt == "push_max" {
			l.PushMax = v
		} else {
			l.BuildLogMax = v
		}
	case "build_memory":
		if v != "none" {
			if _, err := docker.ParseMemory(v); err != nil {
				return true, d.Errf("build_memory: %v (or none)", err)
			}
		}
		l.BuildMemory = v
	case "build_cpus":
		if _, err := docker.ParseCPUs(v); err != nil {
			return true, d.Errf("build_cpus: %v", err)
		}
		l.BuildCPUs = v
	case "keep_releases":
		n, err := strconv.Atoi(v)
		if err != nil || n < platform.MinKeepReleases {
			return true, d.Errf("keep_releases %q: want a whole number from %d up (the current release and the one rollback returns to)", v, platform.MinKeepReleases)
		}
		l.KeepReleases = n
	case "build_cache_max":
		if v != "none" {
			if _, err := bytesize.Parse(v); err != nil {
				return true, d.Errf("build_cache_max: %v (or none)", err)
			}
		}
		l.BuildCacheMax = v
	}
	return true, nil
}

// platformLimits checks l (a JSON config skips the Caddyfile's checks)
// and returns it for the platform, with the push size for the receiver.
func (l Limits) platformLimits() (platform.Limits, int64, error) {
	out := platform.Limits{MaxScale: l.MaxScale, MaxContainers: l.MaxContainers, BuildTimeout: time.Duration(l.BuildTimeout)}
	if l.MaxScale < 0 || l.MaxContainers < 0 || l.BuildTimeout < 0 {
		return out, 0, fmt.Errorf("max_scale, max_containers and build_timeout must not be negative")
	}
	var err error
	if l.BuildLogMax != "" {
		if out.BuildLogMax, err = bytesize.Parse(l.BuildLogMax); err != nil {
			return out, 0, fmt.Errorf("build_log_max: %w", err)
		}
	}
	switch l.BuildMemory {
	case "":
	case "none":
		out.BuildMemory = -1
	default:
		if out.BuildMemory, err = docker.ParseMemory(l.BuildMemory); err != nil {
			return out, 0, fmt.Errorf("build_memory: %w", err)
		}
	}
	if l.BuildCPUs != "" {
		if out.BuildCPUs, err = docker.ParseCPUs(l.BuildCPUs); err != nil {
			return out, 0, fmt.Errorf("build_cpus: %w", err)
		}
	}
	if l.KeepReleases != 0 {
		if l.KeepReleases < platform.MinKeepReleases {
			return out, 0, fmt.Errorf("keep_releases %d: want %d or more (the current release and the one rollback returns to)", l.KeepReleases, platform.MinKeepReleases)
		}
		out.KeepReleases = l.KeepReleases
	}
	switch l.BuildCacheMax {
	case "":
	case "none":
		out.BuildCacheMax = -1
	default:
		if out.BuildCacheMax, err = bytesize.Parse(l.BuildCacheMax); err != nil {
			return out, 0, fmt.Errorf("build_cache_max: %w", err)
		}
		if out.BuildCacheMax <= 0 {
			return out, 0, fmt.Errorf("build_cache_max: give a size above 0, or none")
		}
	}
	var push int64
	if l.PushMax != "" {
		if push, err = bytesize.Parse(l.PushMax); err != nil {
			return out, 0, fmt.Errorf("push_max: %w", err)
		}
	}
	return out, push, nil
}
