package swarm

import (
	"context"
	"fmt"
	"io"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// The scheduler's answers to ps:report, logs and enter
// (platform.Processes): its processes are tasks, on any node of the
// swarm, not containers of Berth's engine.
var _ platform.Processes = (*Scheduler)(nil)

// LogsAPI is what logs need of the manager beyond API (*client.Client
// has it): a task's output, which the manager fetches from whichever node
// runs the task (the path of docker service logs).
type LogsAPI interface {
	TaskLogs(ctx context.Context, taskID string, options client.TaskLogsOptions) (client.TaskLogsResult, error)
}

// node is a node as ps:report and enter name it.
type node struct{ name, addr string }

func (s *Scheduler) nodes(ctx context.Context) (map[string]node, error) {
	res, err := s.api.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return nil, err
	}
	out := map[string]node{}
	for _, n := range res.Items {
		name := n.Description.Hostname
		if name == "" {
			name = n.ID
		}
		out[n.ID] = node{name: name, addr: nodeAddr(n)}
	}
	return out, nil
}

// currentTasks are the tasks of a's current generation's services, every
// one Swarm still keeps (its task history), by service. A read-only
// question, asked of the manager for a's services alone: ps:report, logs,
// enter and the metrics sampler (every app, every 30 s) call it, and
// neither list every task of the swarm nor replace the view the poller
// routes from (look's setView would drop the checked marks and queue
// behind the rollouts' looks).
func (s *Scheduler) currentTasks(ctx context.Context, a *platform.App) ([]service, map[string][]swarm.Task, error) {
	info, err := s.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, nil, err
	}
	if info.Info.Swarm.LocalNodeState != swarm.LocalNodeStateActive || !info.Info.Swarm.ControlAvailable {
		return nil, nil, errNotSwarm
	}
	want := map[string]string{
		docker.LabelInstance:   s.instance(),
		docker.LabelApp:        a.Name,
		docker.LabelGeneration: strconv.Itoa(a.Generation),
	}
	f := client.Filters{}
	for k, v := range want {
		f.Add("label", k+"="+v)
	}
	res, err := s.api.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		return nil, nil, err
	}
	var svcs []service
	tasks := map[string][]swarm.Task{}
	for _, sv := range res.Items {
		l := sv.Spec.Labels
		if l[docker.LabelInstance] != want[docker.LabelInstance] || l[docker.LabelApp] != want[docker.LabelApp] ||
			l[docker.LabelGeneration] != want[docker.LabelGeneration] {
			continue // the filter's job; kept honest here too
		}
		x := service{id: sv.ID, name: sv.Spec.Name, app: a.Name, typ: l[docker.LabelProcess], gen: a.Generation}
		if m := sv.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
			x.replicas = int(*m.Replicas)
		}
		tf := client.Filters{}
		tf.Add("service", sv.ID)
		tr, err := s.api.TaskList(ctx, client.TaskListOptions{Filters: tf})
		if err != nil {
			return nil, nil, err
		}
		svcs = append(svcs, x)
		tasks[sv.ID] = tr.Items
	}
	slices.SortFunc(svcs, func(x, y service) int { return strings.Compare(x.typ, y.typ) })
	return svcs, tasks, nil
}

// Statuses lists the tasks of a's current generation for ps:report: per
// slot of the formation, the task Swarm wants running (its state, node
// and address), else the slot's latest (failed, or stopped by ps:stop),
// else "missing". Restarts are the slot's older tasks Swarm still keeps
// (its task history, 5 by default).
func (s *Scheduler) Statuses(ctx context.Context, a *platform.App) ([]platform.ProcessStatus, error) {
	svcs, tasks, err := s.currentTasks(ctx, a)
	if err != nil {
		return nil, err
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return nil, err
	}
	var out []platform.ProcessStatus
	for _, sv := range svcs {
		bySlot := map[int][]swarm.Task{}
		for _, t := range tasks[sv.id] {
			bySlot[t.Slot] = append(bySlot[t.Slot], t)
		}
		// The formation's slots, and any other slot Swarm still has
		// tasks of.
		slots := map[int]bool{}
		for slot := 1; slot <= max(a.Formation[sv.typ], sv.replicas); slot++ {
			slots[slot] = true
		}
		for slot := range bySlot {
			slots[slot] = true
		}
		for _, slot := range slices.Sorted(maps.Keys(slots)) {
			ts := bySlot[slot]
			if len(ts) == 0 {
				out = append(out, platform.ProcessStatus{Name: fmt.Sprintf("%s.%d", sv.name, slot), Type: sv.typ, Index: slot,
					Release: a.Current, State: "missing", Detail: "no task"})
				continue
			}
			out = append(out, taskStatus(a, sv, ts, nodes))
		}
	}
	// The formation's types whose service is not there at all (removed
	// behind Berth's back) are part of the picture too, as docker-local's
	// containers that are gone (platform.FormationGaps).
	if rel, ok := a.CurrentRelease(); ok {
		for _, typ := range platform.TypesToRun(rel, a.Formation) {
			if slices.ContainsFunc(svcs, func(sv service) bool { return sv.typ == typ }) {
				continue
			}
			for slot := 1; slot <= a.Formation[typ]; slot++ {
				out = append(out, platform.ProcessStatus{Name: fmt.Sprintf("%s.%d", serviceName(a.Name, typ, a.Generation), slot), Type: typ, Index: slot,
					Release: a.Current, State: "missing", Detail: "no service"})
			}
		}
	}
	return out, nil
}

// taskStatus is slot's line of ps:report, ts its tasks.
func taskStatus(a *platform.App, sv service, ts []swarm.Task, nodes map[string]node) platform.ProcessStatus {
	slices.SortFunc(ts, preferred)
	t := ts[0]
	// Every service of the current generation runs the current release.
	st := platform.ProcessStatus{
		Name: fmt.Sprintf("%s.%d", sv.name, t.Slot), Type: sv.typ, Index: t.Slot, Release: a.Current,
		Restarts: len(ts) - 1, Started: t.Status.Timestamp,
	}
	nd := nodes[t.NodeID]
	st.Node = nd.name
	if x := taskOf(t, nd.addr); x.addr != "" {
		st.Address = x.addr
	}
	why := t.Status.Err
	if why == "" {
		why = t.Status.Message
	}
	where := "task " + shortID(t.ID)
	if st.Node != "" {
		where += " on node " + st.Node
	}
	if st.Address != "" {
		where += " at " + st.Address
	}
	switch {
	case t.DesiredState == swarm.TaskStateRunning && t.Status.State == swarm.TaskStateRunning:
		st.State, st.Detail = "running", where
	case t.DesiredState == swarm.TaskStateRunning && len(ts) > 1:
		// A task that replaces one that stopped: Swarm's restart.
		st.State = "restarting"
		st.Detail = fmt.Sprintf("%s, %s; Swarm restarts it after: %s", where, t.Status.State, lastFailure(ts[1:]))
	case t.DesiredState == swarm.TaskStateRunning:
		st.State, st.Detail = "starting", fmt.Sprintf("%s, %s", where, t.Status.State)
	case a.Stopped:
		st.State, st.Detail = "stopped", where
	default:
		// Nothing Swarm wants running in the slot: the restart policy
		// gave up (or the task ended by itself).
		st.State, st.Detail = "failed", fmt.Sprintf("%s, %s: %s", where, t.Status.State, why)
	}
	return st
}

// preferred orders a slot's tasks as ps:report, logs and enter choose
// among them: the one Swarm wants running, if any, first; then the
// newest.
func preferred(x, y swarm.Task) int {
	if xr, yr := x.DesiredState == swarm.TaskStateRunning, y.DesiredState == swarm.TaskStateRunning; xr != yr {
		if xr {
			return -1
		}
		return 1
	}
	return y.CreatedAt.Compare(x.CreatedAt)
}

func lastFailure(ts []swarm.Task) string {
	t := ts[0]
	why := t.Status.Err
	if why == "" {
		why = t.Status.Message
	}
	return fmt.Sprintf("%s %s", t.Status.State, why)
}

func shortID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// slot is one slot of a service of a's current generation and the tasks
// Swarm still keeps of it, in preferred order.
type slot struct {
	sv    service
	index int
	tasks []swarm.Task
}

// slots are the slots of a's current generation of process ("web" or
// "web.2"; "" for all) that have tasks, in dyno order.
func (s *Scheduler) slots(ctx context.Context, a *platform.App, process string) ([]slot, error) {
	svcs, tasks, err := s.currentTasks(ctx, a)
	if err != nil {
		return nil, err
	}
	var out []slot
	for _, sv := range svcs {
		bySlot := map[int][]swarm.Task{}
		for _, t := range tasks[sv.id] {
			dyno := fmt.Sprintf("%s.%d", sv.typ, t.Slot)
			if process != "" && process != sv.typ && process != dyno {
				continue
			}
			bySlot[t.Slot] = append(bySlot[t.Slot], t)
		}
		for _, i := range slices.Sorted(maps.Keys(bySlot)) {
			ts := bySlot[i]
			slices.SortFunc(ts, preferred)
			out = append(out, slot{sv: sv, index: i, tasks: ts})
		}
	}
	slices.SortStableFunc(out, func(x, y slot) int {
		if c := strings.Compare(x.sv.typ, y.sv.typ); c != 0 {
			return c
		}
		return x.index - y.index
	})
	return out, nil
}

// LogsDeadline is how long logs without -t waits for one task's output:
// Swarm's task logs are known to hang (moby#41733, moby#33183), and a
// task that does not answer must not keep the others' lines from the user.
var LogsDeadline = 30 * time.Second

// LogStreams are the outputs of a's current generation, one per slot,
// each read through the manager (Docker's task logs, the path of docker
// service logs), wherever the task runs. A slot's stream is its task
// Swarm wants running when that one has a container, else its newest task
// that had one: a task that crashed and that Swarm gave up on (or is
// about to restart) still shows why, as docker-local shows an exited
// container's output.
func (s *Scheduler) LogStreams(ctx context.Context, a *platform.App) ([]platform.LogStream, error) {
	logs, ok := s.api.(LogsAPI)
	if !ok {
		return nil, fmt.Errorf("this Berth's swarm client cannot read task logs")
	}
	slots, err := s.slots(ctx, a, "")
	if err != nil {
		return nil, err
	}
	var out []platform.LogStream
	for _, sl := range slots {
		i := slices.IndexFunc(sl.tasks, func(t swarm.Task) bool { return containerOf(t) != "" })
		if i < 0 {
			continue // no task started yet (pending, assigned): no output to read
		}
		t := sl.tasks[i]
		id, dyno := t.ID, fmt.Sprintf("%s.%d", sl.sv.typ, sl.index)
		// A task Swarm no longer wants running writes nothing more:
		// following it would wait for ever (Swarm's follow of a task
		// does not end with it).
		live := t.DesiredState == swarm.TaskStateRunning
		out = append(out, platform.LogStream{Type: sl.sv.typ, Index: sl.index,
			Stream: func(ctx context.Context, tail int, follow bool, w io.Writer) error {
				if !follow || !live {
					return streamTask(ctx, logs, id, dyno, tail, false, w)
				}
				// Followed until the poller sees the task leave (a
				// rollout's retirement, Swarm's replacement of a task
				// that crashed): Swarm's stream of it stays open.
				ctx, cancel := context.WithCancel(ctx)
				defer cancel()
				go s.endWhenGone(ctx, id, PollInterval, cancel)
				return streamTask(ctx, logs, id, dyno, tail, true, w)
			}})
	}
	return out, nil
}

// endWhenGone calls end once the poller's view, having held task id,
// no longer does (the view holds the tasks Swarm wants running): it looks
// every PollInterval (every) until ctx ends.
func (s *Scheduler) endWhenGone(ctx context.Context, id string, every time.Duration, end func()) {
	seen := false
	for {
		select {
		case <-ctx.Done():
			return
		case <-time.After(every):
		}
		if s.inView(id) {
			seen = true
		} else if seen {
			end()
			return
		}
	}
}

// inView says whether the poller's last look saw task id running or
// about to.
func (s *Scheduler) inView(id string) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, sv := range s.view.services {
		for _, t := range sv.tasks {
			if t.id == id {
				return true
			}
		}
	}
	return false
}

// streamTask copies task id's output (dyno's) to w; without follow, for
// LogsDeadline at most.
func streamTask(ctx context.Context, logs LogsAPI, id, dyno string, tail int, follow bool, w io.Writer) error {
	outer := ctx
	if !follow {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, LogsDeadline)
		defer cancel()
	}
	tl := "all"
	if tail >= 0 {
		tl = strconv.Itoa(tail)
	}
	rc, err := logs.TaskLogs(ctx, id, client.TaskLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow, Tail: tl,
	})
	if err == nil {
		defer rc.Close()
		// A body read that hangs ends with ctx only if something closes
		// the body: the HTTP client does, a reader of another kind may not.
		stop := context.AfterFunc(ctx, func() { rc.Close() })
		defer stop()
		_, err = stdcopy.StdCopy(w, w, rc)
	}
	switch {
	case outer.Err() != nil:
		return nil // the caller ended it
	case ctx.Err() != nil:
		return fmt.Errorf("task %s (%s) did not answer within %s: Swarm's task logs hang at times (moby#41733); the other processes' lines are above, and docker service logs on the Berth server reads that task's", shortID(id), dyno, LogsDeadline)
	case err != nil:
		return fmt.Errorf("swarm: logs of task %s (%s): %w", shortID(id), dyno, err)
	}
	return nil
}

// EnterTarget is the container of a running task of process among a's
// current generation, and its engine: Berth's own for a task on the Berth
// server's node, else the engine of the task's node when its endpoint is
// set (scheduler-swarm:set --global node-engine, nodeengine.go), once
// that engine says the container is the task's. For a type, a slot whose
// task runs here is preferred (no second connection), then the first
// whose node Berth reaches; when it reaches none, the error says which
// node runs the task and the setting that would reach it.
func (s *Scheduler) EnterTarget(ctx context.Context, a *platform.App, process string) (platform.ExecTarget, error) {
	if process == "" {
		process = "web"
	}
	slots, err := s.slots(ctx, a, process)
	if err != nil {
		return platform.ExecTarget{}, err
	}
	info, err := s.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return platform.ExecTarget{}, err
	}
	here := info.Info.Swarm.NodeID
	type farTask struct {
		t    swarm.Task
		dyno string
	}
	var far []farTask
	for _, sl := range slots {
		t := sl.tasks[0]
		if t.DesiredState != swarm.TaskStateRunning || t.Status.State != swarm.TaskStateRunning || containerOf(t) == "" {
			continue
		}
		if t.NodeID == here {
			return platform.ExecTarget{Container: containerOf(t)}, nil
		}
		far = append(far, farTask{t, fmt.Sprintf("%s.%d", sl.sv.typ, sl.index)})
	}
	if len(far) == 0 {
		return platform.ExecTarget{}, fmt.Errorf("%s has no running %s task", a.Name, process)
	}
	nodes, err := s.nodes(ctx)
	if err != nil {
		return platform.ExecTarget{}, err
	}
	for _, f := range far {
		cli, ok, err := s.nodeEngines.Client(ctx, f.t.NodeID)
		if !ok {
			continue
		}
		if err != nil {
			return platform.ExecTarget{}, fmt.Errorf("%s of %s runs on the swarm node %s: %w", f.dyno, a.Name, nodes[f.t.NodeID].name, err)
		}
		id := containerOf(f.t)
		task, err := cli.SwarmTaskOf(ctx, id)
		if err != nil {
			return platform.ExecTarget{}, fmt.Errorf("%s of %s: its container %s on the swarm node %s: %w", f.dyno, a.Name, shortID(id), nodes[f.t.NodeID].name, err)
		}
		if task != f.t.ID {
			return platform.ExecTarget{}, fmt.Errorf("%s of %s: the container %s on the engine set for node %s is not its task's (it runs task %q, not %s); check that engine's endpoint (scheduler-swarm:report --global)", f.dyno, a.Name, shortID(id), nodes[f.t.NodeID].name, task, shortID(f.t.ID))
		}
		return platform.ExecTarget{Container: id, Engine: cli}, nil
	}
	f := far[0]
	nd := nodes[f.t.NodeID]
	name := nd.name
	if name == "" {
		name = f.t.NodeID
	}
	return platform.ExecTarget{}, fmt.Errorf("%s of %s runs on the swarm node %s (%s), whose Docker engine Berth does not reach: an admin names it with scheduler-swarm:set --global node-engine %s tcp://%s:2376 --tls-dir DIR (ca.pem, cert.pem, key.pem; that node's dockerd listening there with --tlsverify); or, on that node, docker exec -it %s sh",
		f.dyno, a.Name, name, nd.addr, name, nd.addr, shortID(containerOf(f.t)))
}

// Usages are the resource use of a's running tasks of its current
// generation, by ps:report's names of them (APP_TYPE_GEN.SLOT), each read
// from its own node's engine: Berth's for the Berth server's node, the
// node engine setting's for the others. A task whose node has no engine
// set, or whose engine does not answer, is left out (its figures say "no
// samples yet"), as is a task on an engine that does not say it runs it.
func (s *Scheduler) Usages(ctx context.Context, a *platform.App) (map[string]docker.Usage, error) {
	slots, err := s.slots(ctx, a, "")
	if err != nil {
		return nil, err
	}
	info, err := s.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return nil, err
	}
	here := info.Info.Swarm.NodeID
	out := map[string]docker.Usage{}
	for _, sl := range slots {
		t := sl.tasks[0]
		id := containerOf(t)
		if t.DesiredState != swarm.TaskStateRunning || t.Status.State != swarm.TaskStateRunning || id == "" {
			continue
		}
		name := fmt.Sprintf("%s.%d", sl.sv.name, sl.index)
		var eng interface {
			Usage(context.Context, string) (docker.Usage, error)
		}
		if t.NodeID == here {
			if s.local == nil {
				continue
			}
			eng = s.local
		} else {
			cli, ok, err := s.nodeEngines.Client(ctx, t.NodeID)
			if !ok || err != nil {
				if err != nil {
					s.log.Warn("swarm: a node's engine, for its tasks' figures", "app", a.Name, "task", name, "error", err)
				}
				continue
			}
			if task, err := cli.SwarmTaskOf(ctx, id); err != nil || task != t.ID {
				continue
			}
			eng = cli
		}
		u, err := eng.Usage(ctx, id)
		if err != nil {
			continue
		}
		out[name] = u
	}
	return out, nil
}

func containerOf(t swarm.Task) string {
	if t.Status.ContainerStatus == nil {
		return ""
	}
	return t.Status.ContainerStatus.ContainerID
}
