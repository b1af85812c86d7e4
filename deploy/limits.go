package deploy

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// buildResources are the CPU and memory limits of app a's build and of its
// deploy one-offs (predeploy, release command), and the build's options:
// what the contributors give (the app's settings for process type build),
// else the host's build defaults. A setting a deploy key made cannot go
// above the host's default: only an admin can give an app's builds more
// than every app gets.
func (d *Deployer) buildResources(ctx context.Context, a *platform.App) (docker.HostOptions, platform.BuildSpec, error) {
	b, err := d.specs.Build(a)
	if err != nil {
		return docker.HostOptions{}, b, err
	}
	h := b.Resources
	l := d.apps.Limits()
	defMem := l.BuildMemory
	if defMem == 0 {
		if total, err := d.engine.MemTotal(ctx); err == nil && total > 0 {
			defMem = total / 2
		}
	}
	admin := b.ByAdmin
	if defMem > 0 && (h.Memory == 0 || (!admin && h.Memory > defMem)) {
		h.Memory = defMem
	}
	if h.MemorySwap > 0 && h.MemorySwap < h.Memory {
		h.MemorySwap = h.Memory
	}
	if !admin && h.MemorySwap == -1 {
		h.MemorySwap = 0 // Docker's default: as much swap as memory
	}
	if l.BuildCPUs > 0 && (h.NanoCPUs == 0 || (!admin && h.NanoCPUs > l.BuildCPUs)) {
		h.NanoCPUs = l.BuildCPUs
	}
	return h, b, nil
}

// describeBuildResources says what a build runs with, for the push output.
func describeBuildResources(h docker.HostOptions, timeout time.Duration) string {
	parts := []string{"timeout " + timeout.String()}
	if h.Memory > 0 {
		parts = append(parts, fmt.Sprintf("memory %dm", h.Memory>>20))
	}
	if h.NanoCPUs > 0 {
		parts = append(parts, fmt.Sprintf("cpu %g", float64(h.NanoCPUs)/1e9))
	}
	return strings.Join(parts, ", ")
}
