package platform_test

// The seam to a scheduler whose processes are not containers of Berth's
// engine (platform.Processes, the swarm scheduler's tasks): ps:report and
// the resume of exited containers go through it for such an app.

import (
	"testing"

	"github.com/berth-paas/berth/internal/fakeprocs"
	"github.com/berth-paas/berth/platform"
)

// remoteBed is a bed whose scheduler says the apps in remote run
// elsewhere, on procs.
func remoteBed(t *testing.T, procs *fakeprocs.Processes, remote map[string]bool) *bed {
	return newBedScheduled(t, nil, func(s platform.Scheduler) platform.Scheduler {
		return &fakeprocs.Scheduler{Scheduler: s, Remote: remote, Processes: procs}
	})
}

func TestReportListsTheProcessesAnotherSchedulerRuns(t *testing.T) {
	procs := &fakeprocs.Processes{List: []platform.ProcessStatus{
		{Name: "blog_web_1.2", Type: "web", Index: 2, Release: 1, State: "failed", Detail: "rejected"},
		{Name: "blog_web_1.1", Type: "web", Index: 1, Release: 1, State: "running", Node: "node-a", Address: "10.0.0.2:30001"},
	}}
	remote := map[string]bool{}
	b := remoteBed(t, procs, remote)
	b.mustDeploy("blog", "app:v1")
	remote["blog"] = true
	r, err := b.d.Report(b.ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	// The docker-local container the deploy made is not among them: the
	// other scheduler's list is the report's.
	if len(r.Processes) != 2 || r.Processes[0].Name != "blog_web_1.1" || r.Processes[0].Address != "10.0.0.2:30001" || r.Processes[1].State != "failed" {
		t.Fatalf("processes %+v", r.Processes)
	}
	if !r.Running || !r.Failed || r.Status != "failed (web.2 failed)" {
		t.Fatalf("running %t failed %t status %q", r.Running, r.Failed, r.Status)
	}
}

func TestResumeExitedLeavesAnAppAnotherSchedulerRuns(t *testing.T) {
	remote := map[string]bool{}
	b := remoteBed(t, &fakeprocs.Processes{}, remote)
	b.mustDeploy("blog", "app:v1")
	web := b.running("blog", "web")
	if len(web) != 1 {
		t.Fatalf("web %+v", web)
	}
	b.engine.Crash(web[0].ID, 1)
	remote["blog"] = true
	if n, err := b.p.ResumeExited(b.ctx, "blog"); err != nil || n != 0 {
		t.Fatalf("ResumeExited = %d, %v; want 0: the other scheduler restarts its own", n, err)
	}
	if len(b.running("blog", "web")) != 0 {
		t.Fatal("a docker-local container of a swarm app was started")
	}
	// The same app on docker-local: its exited container starts.
	delete(remote, "blog")
	if n, err := b.p.ResumeExited(b.ctx, "blog"); err != nil || n != 1 {
		t.Fatalf("ResumeExited of a docker-local app = %d, %v; want 1", n, err)
	}
}
