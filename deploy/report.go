package deploy

import (
	"context"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
)

func index(c docker.Container) int {
	n, _ := strconv.Atoi(c.Labels[docker.LabelIndex])
	return n
}

// reportStatus sums up an app's processes for ps:report.
func reportStatus(a *platform.App, ps []platform.ProcessStatus) string {
	if a.Current == 0 {
		return "not deployed"
	}
	if a.Stopped {
		return "stopped"
	}
	count := map[string]int{}
	var down []string
	for _, p := range ps {
		count[p.State]++
		if p.State != "running" {
			down = append(down, fmt.Sprintf("%s.%d %s", p.Type, p.Index, p.State))
		}
	}
	switch {
	case len(ps) == 0 && formationTotal(a.Formation) == 0:
		return "scaled to zero"
	case count["failed"] > 0:
		return "failed (" + strings.Join(down, ", ") + ")"
	case count["running"] == 0 && count["restarting"] > 0:
		return "restarting (crash loop: " + strings.Join(down, ", ") + ")"
	case count["running"] == 0:
		return "down (" + strings.Join(append(down, "no container runs"), ", ") + ")"
	case len(down) > 0:
		return "running (" + strings.Join(down, ", ") + ")"
	}
	return "running"
}

func formationTotal(f map[string]int) int {
	n := 0
	for _, v := range f {
		n += v
	}
	return n
}

// Report returns the app's process report. A container that exhausted its
// restart policy marks the app failed.
func (d *Deployer) Report(ctx context.Context, app string) (platform.ProcessReport, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return platform.ProcessReport{}, err
	}
	g := d.apps.ProcessGlobals()
	r := platform.ProcessReport{
		App: app, Deployed: a.Current > 0, Release: a.Current,
		RestartPolicy: platform.RestartPolicyOf(a, g), GlobalRestartPolicy: g.RestartPolicy,
		StopTimeout:    int(platform.StopTimeoutOf(a, g) / time.Second),
		AppStopTimeout: a.StopTimeoutSeconds, GlobalStopTimeout: g.StopTimeoutSeconds,
		Formation: maps.Clone(a.Formation), LastDeploy: a.LastDeploy,
		ProcfilePath: a.ProcfilePath,
	}
	if pr := platform.ProcessesOf(d.sched, a); pr != nil {
		// Another scheduler's processes (swarm's tasks) are not
		// containers here: it lists them.
		ps, err := pr.Statuses(ctx, a)
		if err != nil {
			return r, err
		}
		for _, p := range ps {
			r.Running = r.Running || p.State == "running"
			r.Failed = r.Failed || p.State == "failed"
		}
		r.Processes = ps
		return d.finishReport(app, a, r), nil
	}
	cs, err := routes.AppContainers(ctx, d.engine, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return r, err
	}
	for _, c := range cs {
		st := platform.ProcessStatus{
			Name: c.Name, Type: c.Labels[docker.LabelProcess], Index: index(c),
			Restarts: c.RestartCount, Started: c.StartedAt,
		}
		st.Release, _ = strconv.Atoi(c.Labels[docker.LabelRelease])
		switch failed, why := routes.Exhausted(c); {
		case a.Stopped && !c.Running && !c.Restarting:
			st.State = "stopped"
		case failed:
			st.State, st.Detail, r.Failed = "failed", why, true
		case c.Restarting:
			// Docker counts a restarting container as running too.
			st.State = "restarting"
			st.Detail = fmt.Sprintf("exited with code %d; Docker restarts it, restart %d", c.ExitCode, c.RestartCount)
			if c.RestartPolicy == "on-failure" && c.MaxRetries > 0 {
				st.Detail += fmt.Sprintf(" of %d", c.MaxRetries)
			}
		case c.Running:
			st.State = "running"
			r.Running = true
		default:
			st.State, st.Detail = "exited", fmt.Sprintf("exit code %d", c.ExitCode)
		}
		r.Processes = append(r.Processes, st)
	}
	// The formation's containers that are not there at all (removed
	// behind Berth's back) are part of the picture too.
	if rel, ok := a.CurrentRelease(); ok {
		for _, g := range platform.FormationGaps(a, rel, cs) {
			if g.ID == "" {
				r.Processes = append(r.Processes, platform.ProcessStatus{Name: g.Name(app), Type: g.Type, Index: g.Index, Release: a.Current, State: "missing", Detail: "no container"})
			}
		}
	}
	return d.finishReport(app, a, r), nil
}

// finishReport sums r's processes up, adds the formation check's note
// and sorts the processes by type and index.
func (d *Deployer) finishReport(app string, a *platform.App, r platform.ProcessReport) platform.ProcessReport {
	r.Status = reportStatus(a, r.Processes)
	if n, ok := d.sched.FormationNote(app, a.Generation); ok {
		r.FormationCheck = &n
	}
	sort.Slice(r.Processes, func(i, j int) bool {
		if r.Processes[i].Type != r.Processes[j].Type {
			return r.Processes[i].Type < r.Processes[j].Type
		}
		return r.Processes[i].Index < r.Processes[j].Index
	})
	return r
}
