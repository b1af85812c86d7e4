package oneoff

import (
	"context"
	"fmt"
	"strconv"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
)

// Enter runs cmd (default /bin/sh) inside a running container of the
// app's current generation: process "web" or "web.2", or the first web
// container (Dokku's enter). It starts no container of its own.
func (r *Runner) Enter(ctx context.Context, app, process string, cmd []string, s docker.Streams) (int, error) {
	a, err := r.apps.App(ctx, app)
	if err != nil {
		return 1, err
	}
	if len(cmd) == 0 {
		cmd = []string{"/bin/sh"}
	}
	if pr := platform.ProcessesOf(r.sched, a); pr != nil {
		// Another scheduler's process (a swarm task): it names the
		// container and its engine (this one, or its node's), or says
		// why Berth cannot reach it.
		t, err := pr.EnterTarget(ctx, a, process)
		if err != nil {
			return 1, err
		}
		if t.Engine != nil {
			return t.Engine.ExecAttached(ctx, t.Container, cmd, nil, s)
		}
		return r.engine.ExecAttached(ctx, t.Container, cmd, nil, s)
	}
	cs, err := routes.AppContainers(ctx, r.engine, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return 1, err
	}
	if process == "" {
		process = "web"
	}
	var target *docker.Container
	for i, c := range cs {
		dyno := c.Labels[docker.LabelProcess] + "." + c.Labels[docker.LabelIndex]
		if c.Running && (process == dyno || process == c.Labels[docker.LabelProcess]) {
			if target == nil || dyno < target.Labels[docker.LabelProcess]+"."+target.Labels[docker.LabelIndex] {
				target = &cs[i]
			}
		}
	}
	if target == nil {
		return 1, fmt.Errorf("%s has no running %s container", app, process)
	}
	return r.engine.ExecAttached(ctx, target.ID, cmd, nil, s)
}
