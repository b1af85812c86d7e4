package docker

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Usage is a container's resource use as Docker's stats API reports it
// at one moment.
type Usage struct {
	// CPU is the CPU time the container has used since it started.
	CPU time.Duration
	// Memory is what `docker stats` shows: the cgroup's usage without
	// the page cache the kernel can drop (inactive files).
	Memory uint64
	Read   time.Time
}

// Usage reads a running container's resource use once (Docker's
// one-shot stats: no wait for a second sample).
func (c *ContainerAPI) Usage(ctx context.Context, nameOrID string) (Usage, error) {
	res, err := c.api.ContainerStats(ctx, nameOrID, client.ContainerStatsOptions{})
	if err != nil {
		return Usage{}, err
	}
	defer res.Body.Close()
	var s container.StatsResponse
	if err := json.NewDecoder(io.LimitReader(res.Body, 1<<20)).Decode(&s); err != nil {
		return Usage{}, fmt.Errorf("stats of %s: %w", nameOrID, err)
	}
	mem := s.MemoryStats.Usage
	// cgroup v2 calls it inactive_file, v1 total_inactive_file.
	for _, k := range []string{"inactive_file", "total_inactive_file"} {
		if v, ok := s.MemoryStats.Stats[k]; ok && v <= mem {
			mem -= v
			break
		}
	}
	return Usage{CPU: time.Duration(s.CPUStats.CPUUsage.TotalUsage), Memory: mem, Read: s.Read}, nil
}
