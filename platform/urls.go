package platform

import (
	"context"
	"fmt"
	"io"
	"slices"
	"sort"
	"strings"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
)

// processCounts counts the running containers of every app by process
// type, in one listing of e: apps:list's CONTAINERS column.
func processCounts(ctx context.Context, e Engine) (map[string]map[string]int, error) {
	// ListRunning lists stopped containers too (callers look at Running):
	// a stopped app's exited containers are not counted.
	all, err := e.ListRunning(ctx, docker.LabelApp)
	if err != nil {
		return nil, err
	}
	out := map[string]map[string]int{}
	for _, c := range all {
		if !c.Running || !routes.AppContainer(c) {
			continue
		}
		app, typ := c.Labels[docker.LabelApp], c.Labels[docker.LabelProcess]
		if typ == "" {
			typ = "web"
		}
		if out[app] == nil {
			out[app] = map[string]int{}
		}
		out[app][typ]++
	}
	return out, nil
}

// FormatProcesses writes counts by type as "web:2 worker:1", web first,
// then by name; "0" when there are none.
func FormatProcesses(counts map[string]int) string {
	types := make([]string, 0, len(counts))
	for t := range counts {
		types = append(types, t)
	}
	sort.Slice(types, func(i, j int) bool {
		if (types[i] == "web") != (types[j] == "web") {
			return types[i] == "web"
		}
		return types[i] < types[j]
	})
	parts := make([]string, 0, len(types))
	for _, t := range types {
		parts = append(parts, fmt.Sprintf("%s:%d", t, counts[t]))
	}
	if len(parts) == 0 {
		return "0"
	}
	return strings.Join(parts, " ")
}

// reportDeployed ends a deploy's log with the URLs a user can open, and
// names the process types left at 0 with the command that starts them.
func (p *Platform) reportDeployed(a *App, formation map[string]int, log io.Writer) {
	log.Write(p.DeployedReport(a, formation))
}

// DeployedReport is what a deploy's log ends with: the app's URLs and its
// formation (package deploy ends its deploys' logs with it).
func (p *Platform) DeployedReport(a *App, formation map[string]int) []byte {
	var b strings.Builder
	b.WriteString("=====> Application deployed:\n")
	for _, u := range p.hosts.URLsFor(p.hosts.HostsOf(a)) {
		fmt.Fprintf(&b, "       %s\n", u)
	}
	var idle []string
	for t, n := range formation {
		if n == 0 {
			idle = append(idle, t)
		}
	}
	slices.Sort(idle)
	for _, t := range idle {
		fmt.Fprintf(&b, "=====> %s: 0, scale with ps:scale %s %s=1\n", t, a.Name, t)
	}
	return []byte(b.String())
}
