// Package swarm is Berth's scheduler of apps on Docker Swarm (issue 18):
// a platform.Scheduler that runs each process type of an app as a Swarm
// service (replicas = the formation, Berth's labels on the service, the
// release's config as the tasks' environment, Dokku's restart policy in
// Swarm's terms, resource limits, update order start-first for what
// Swarm updates itself). An app runs on it once scheduler:set APP
// selected swarm and a deploy (package scheduler/selector).
//
// Rollouts are Berth's, not Swarm's: each generation is a service of its
// own per process type (APP_TYPE_GEN). A rollout creates the new
// generation's services beside the old ones, runs the same checks as
// docker-local (app.json's, else the port and uptime wait) against each
// new task's address, saves the record and moves the route only once all
// pass, then drains the old tasks (the routing table's in-flight counts,
// up to wait-to-retire) and removes the old services. A failure before
// the switch removes the new services and leaves the old release
// serving, routes unchanged. Swarm's own rolling update is not used for
// it: it would stop old tasks on its own schedule, not once they drained,
// and its rollback restarts healthy tasks (moby#43081).
//
// Routing reaches each task directly, never through Swarm's VIP or
// ingress mesh: each task publishes the app's port in host mode on a port
// its engine picks, which the task's status reports (PortStatus), and the
// route is the task's node address and that port. Caddy runs on the host,
// not in a container, so it cannot reach an overlay network's task
// addresses (the host is not attached to the overlay; only containers
// are); a host-mode port is reachable from the Berth server on every node
// of the swarm, the same way for one node as for many, and keeps the
// client's address (no ingress NAT). The price: a task's port is the
// engine's to choose, so it is read back by polling.
//
// Swarm sends no task events (moby#37403), so the scheduler follows the
// tasks by polling (PollInterval): Run starts the poller, which keeps the
// services and running tasks of this Berth in memory, and the route
// controller asks it for a swarm app's targets (routes.TargetSource). A
// task of the current generation that Swarm started on its own (a crashed
// one restarted, one moved to another node) is routed once it passes its
// checks. Task containers carry berth.swarm.* labels, not berth.app: to
// the rest of Berth (routes, the formation check, one-offs) they are not
// docker-local containers of the app; ps:report, logs and enter reach
// them through this scheduler (platform.Processes, processes.go).
//
// The tasks of an app that links a datastore join Berth's overlay network,
// which the datastore joins too (Config.Networks, package services), so
// the link's URL works from any node; they still publish in host mode.
//
// Placement constraints are the app's (scheduler-swarm:set, placement.go);
// the other nodes' engines, for enter and ps:report's figures of their
// tasks, are global settings (nodeengine.go). A scale-down is a new generation (Scale): Swarm picks which
// tasks a lower replica count stops only as it stops them.
package swarm

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"strconv"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
	"github.com/moby/moby/api/types/swarm"
	"github.com/moby/moby/client"
)

// PollInterval is how often the scheduler looks at the tasks: the longest
// a task Swarm moved or restarted waits before its checks start.
var PollInterval = time.Second

// API is what the scheduler asks of the Docker engine, a swarm manager
// (*client.Client is one).
type API interface {
	Info(ctx context.Context, options client.InfoOptions) (client.SystemInfoResult, error)
	ServiceCreate(ctx context.Context, options client.ServiceCreateOptions) (client.ServiceCreateResult, error)
	ServiceInspect(ctx context.Context, id string, options client.ServiceInspectOptions) (client.ServiceInspectResult, error)
	ServiceUpdate(ctx context.Context, id string, options client.ServiceUpdateOptions) (client.ServiceUpdateResult, error)
	ServiceList(ctx context.Context, options client.ServiceListOptions) (client.ServiceListResult, error)
	ServiceRemove(ctx context.Context, id string, options client.ServiceRemoveOptions) (client.ServiceRemoveResult, error)
	TaskList(ctx context.Context, options client.TaskListOptions) (client.TaskListResult, error)
	NodeList(ctx context.Context, options client.NodeListOptions) (client.NodeListResult, error)
}

// Connect opens a client of the engine at host (DOCKER_HOST's form;
// empty: the environment's) and negotiates the API version, as
// docker.Connect does (Docker 20.10 speaks API 1.41).
func Connect(ctx context.Context, host string) (*client.Client, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, err
	}
	if _, err := api.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, err
	}
	return api, nil
}

// Config is what the scheduler needs beyond the platform's SchedulerDeps.
type Config struct {
	// API is the engine, a swarm manager.
	API API
	// Instance is this Berth's ID (known once the core identified
	// itself, after the scheduler is made).
	Instance func() string
	// Images puts each release's image where every node pulls it from
	// (Berth's registry, package registry); nil: the tasks run the
	// release's image by ID, on the manager only (image.go).
	Images Images
	// Networks are the networks an app's services join (package
	// services: Berth's overlay when the app links a datastore, so
	// that its tasks reach the datastore from any node); nil: none.
	Networks func(ctx context.Context, app string) ([]string, error)
	// NodeEngines reach the engines of the other nodes (enter, the
	// figures of their tasks); nil: none is reached.
	NodeEngines *NodeEngines
	// Local is Berth's own engine, which reads the figures of the tasks
	// on the Berth server's node; nil: none are read.
	Local interface {
		Usage(ctx context.Context, nameOrID string) (docker.Usage, error)
	}
}

// Scheduler runs apps as Swarm services. Make it with New.
type Scheduler struct {
	api         API
	instance    func() string
	images      Images
	networks    func(ctx context.Context, app string) ([]string, error)
	nodeEngines *NodeEngines
	local       interface {
		Usage(ctx context.Context, nameOrID string) (docker.Usage, error)
	}
	apps           platform.SchedulerApps
	table          *routing.Table
	routes         *routes.Controller
	specs          platform.Specs
	log            *slog.Logger
	save           func(ctx context.Context, a *platform.App) error
	env            func(a *platform.App, rel platform.Release, dyno string) []string
	hosts          func(a *platform.App) []string
	checkHost      func(a *platform.App) string
	checkFormation func(app string, formation map[string]int, what string) error
	rolledOut      func(ctx context.Context, a *platform.App, save func() error, log io.Writer) []error

	// looking orders the looks (the poller's, a rollout's): a look that
	// began earlier never replaces the view of one that began later.
	looking sync.Mutex

	mu sync.Mutex
	// view is what the last look at the swarm saw.
	view view
	// checked are the tasks that passed their checks: only they are
	// routed. checking are those whose checks the poller runs.
	checked, checking map[string]bool

	cancel context.CancelFunc
	done   chan struct{}
}

// view is the swarm as one look saw it: this Berth's services, their
// running tasks, and where those are reached.
type view struct {
	services []service
	// active is false when the engine is not a swarm manager.
	active bool
}

// service is one of this Berth's services and its running tasks.
type service struct {
	id, name, app, typ string
	gen                int
	replicas           int
	tasks              []task
}

// task is a task Swarm wants running.
type task struct {
	id    string
	slot  int
	state swarm.TaskState
	addr  string // node address and published port; "" until both are known
	// nodeDown: Swarm reports the task's node down (its heartbeats
	// stopped). Swarm still wants the task running until its orchestrator
	// moves it (about a second later), but nothing reaches it: it leaves
	// the route at once.
	nodeDown bool
	since    time.Time
	message  string
}

// New returns the scheduler of the platform that gives it deps, and
// makes the route controller ask it for the targets of the apps it runs.
func New(deps platform.SchedulerDeps, cfg Config) *Scheduler {
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Scheduler{
		api: cfg.API, instance: cfg.Instance, images: cfg.Images, networks: cfg.Networks, nodeEngines: cfg.NodeEngines, local: cfg.Local,
		apps: deps.Apps, table: deps.Table, routes: deps.Routes, specs: deps.Specs, log: log,
		save: deps.Save, env: deps.Env, hosts: deps.Hosts, checkHost: deps.CheckHost,
		checkFormation: deps.CheckFormation, rolledOut: deps.RolledOut,
		checked: map[string]bool{}, checking: map[string]bool{},
	}
	if s.routes != nil {
		s.routes.SetTargetSource(s)
	}
	return s
}

var _ platform.Scheduler = (*Scheduler)(nil)
var _ routes.TargetSource = (*Scheduler)(nil)

// errNotSwarm says what to do when the engine is not a swarm manager.
var errNotSwarm = errors.New("the swarm scheduler needs Berth's Docker engine to be a swarm manager: run docker swarm init on the Berth server, or scheduler:set APP selected docker-local")

// look reads this Berth's services, their running tasks and the nodes'
// addresses, and keeps them as the view.
func (s *Scheduler) look(ctx context.Context) (view, error) {
	s.looking.Lock()
	defer s.looking.Unlock()
	info, err := s.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return view{}, err
	}
	if info.Info.Swarm.LocalNodeState != swarm.LocalNodeStateActive || !info.Info.Swarm.ControlAvailable {
		v := view{}
		s.setView(v)
		return v, nil
	}
	f := client.Filters{}
	f.Add("label", docker.LabelInstance+"="+s.instance())
	svcs, err := s.api.ServiceList(ctx, client.ServiceListOptions{Filters: f})
	if err != nil {
		return view{}, err
	}
	v := view{active: true}
	byID := map[string]int{}
	for _, sv := range svcs.Items {
		l := sv.Spec.Labels
		gen, _ := strconv.Atoi(l[docker.LabelGeneration])
		x := service{id: sv.ID, name: sv.Spec.Name, app: l[docker.LabelApp], typ: l[docker.LabelProcess], gen: gen}
		if m := sv.Spec.Mode.Replicated; m != nil && m.Replicas != nil {
			x.replicas = int(*m.Replicas)
		}
		byID[sv.ID] = len(v.services)
		v.services = append(v.services, x)
	}
	if len(v.services) > 0 {
		nodes, err := s.api.NodeList(ctx, client.NodeListOptions{})
		if err != nil {
			return view{}, err
		}
		addrOf := map[string]string{}
		down := map[string]bool{}
		for _, n := range nodes.Items {
			addrOf[n.ID] = nodeAddr(n)
			down[n.ID] = n.Status.State == swarm.NodeStateDown
		}
		tf := client.Filters{}
		tf.Add("desired-state", "running")
		tasks, err := s.api.TaskList(ctx, client.TaskListOptions{Filters: tf})
		if err != nil {
			return view{}, err
		}
		for _, t := range tasks.Items {
			i, ok := byID[t.ServiceID]
			if !ok {
				continue
			}
			x := taskOf(t, addrOf[t.NodeID])
			x.nodeDown = down[t.NodeID]
			v.services[i].tasks = append(v.services[i].tasks, x)
		}
	}
	s.setView(v)
	return v, nil
}

func (s *Scheduler) setView(v view) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.view = v
	// Marks of tasks that are gone go with them.
	live := map[string]bool{}
	for _, sv := range v.services {
		for _, t := range sv.tasks {
			live[t.id] = true
		}
	}
	for id := range s.checked {
		if !live[id] {
			delete(s.checked, id)
		}
	}
}

// nodeAddr is where the Berth server reaches a node's published ports.
func nodeAddr(n swarm.Node) string {
	addr := n.Status.Addr
	if ip := net.ParseIP(addr); ip == nil || ip.IsUnspecified() {
		// A node that reports no usable address is the local one
		// (single-node swarms before an advertise address).
		return "127.0.0.1"
	}
	return addr
}

// taskOf is t as the view keeps it, reached at node address nodeIP.
func taskOf(t swarm.Task, nodeIP string) task {
	x := task{id: t.ID, slot: t.Slot, state: t.Status.State, since: t.Status.Timestamp, message: t.Status.Err}
	if x.message == "" {
		x.message = t.Status.Message
	}
	for _, p := range t.Status.PortStatus.Ports {
		if p.PublishMode == swarm.PortConfigPublishModeHost && p.PublishedPort != 0 && nodeIP != "" {
			x.addr = net.JoinHostPort(nodeIP, strconv.Itoa(int(p.PublishedPort)))
			break
		}
	}
	return x
}

// Targets is the route controller's question (routes.TargetSource): the
// checked, running web tasks of app's generation, and whether this
// scheduler runs that generation at all.
func (s *Scheduler) Targets(app string, generation int) ([]routes.Target, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	runs := false
	var out []routes.Target
	for _, sv := range s.view.services {
		if sv.app != app || sv.gen != generation {
			continue
		}
		runs = true
		if sv.typ != "web" {
			continue
		}
		for _, t := range sv.tasks {
			if t.state == swarm.TaskStateRunning && t.addr != "" && !t.nodeDown && s.checked[t.id] {
				out = append(out, routes.Target{ID: t.id, Addr: t.addr})
			}
		}
	}
	return out, runs
}

// services are the view's services of app (gen 0: of every generation).
func (v view) of(app string, gen int) []service {
	var out []service
	for _, sv := range v.services {
		if sv.app == app && (gen == 0 || sv.gen == gen) {
			out = append(out, sv)
		}
	}
	return out
}

func (s *Scheduler) markChecked(ids ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, id := range ids {
		s.checked[id] = true
	}
}

// Run follows the tasks until Close: every PollInterval it looks at the
// swarm, checks the current generation's tasks Swarm started on its own,
// and refreshes the routes of the apps whose tasks changed.
func (s *Scheduler) Run() {
	ctx, cancel := context.WithCancel(context.Background())
	s.cancel, s.done = cancel, make(chan struct{})
	go func() {
		defer close(s.done)
		s.boot(ctx)
		prev := map[string]string{}
		idle := 0
		for {
			select {
			case <-ctx.Done():
				return
			case <-time.After(PollInterval):
			}
			s.mu.Lock()
			active := s.view.active
			s.mu.Unlock()
			// An engine that is not a swarm manager is asked again every
			// 30 looks, not every one.
			if active {
				idle = 0
			} else if idle++; idle%30 != 1 {
				continue
			}
			v, err := s.look(ctx)
			if err != nil {
				if ctx.Err() == nil {
					s.log.Warn("swarm: looking at the tasks", "error", err)
				}
				continue
			}
			now := s.fingerprints(v)
			for app, fp := range now {
				if prev[app] != fp {
					s.routes.Refresh(ctx, app)
				}
			}
			for app := range prev {
				if _, ok := now[app]; !ok {
					s.routes.Refresh(ctx, app)
				}
			}
			prev = now
			s.checkStrays(ctx, v)
		}
	}()
}

// boot takes over what ran while Berth was down, as docker-local does
// with its containers at start: the running tasks of each app's current
// generation take traffic at once (they passed their checks when they
// started), and the services of other generations, left by a rollout
// Berth stopped in, go.
func (s *Scheduler) boot(ctx context.Context) {
	v, err := s.look(ctx)
	if err != nil || !v.active {
		return
	}
	apps := map[string]bool{}
	for _, sv := range v.services {
		a, err := s.apps.App(ctx, sv.app)
		if err != nil {
			continue // gone, or unreadable: left as it is
		}
		if sv.gen != a.Generation {
			s.log.Info("swarm: removing a service a rollout left behind", "app", sv.app, "service", sv.name)
			s.remove(ctx, sv.id)
			continue
		}
		for _, t := range sv.tasks {
			if t.state == swarm.TaskStateRunning {
				s.markChecked(t.id)
			}
		}
		apps[sv.app] = true
	}
	for app := range apps {
		s.routes.Refresh(ctx, app)
	}
}

// fingerprints sums up, per app, what its route depends on.
func (s *Scheduler) fingerprints(v view) map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string]string{}
	for _, sv := range v.services {
		fp := out[sv.app]
		for _, t := range sv.tasks {
			fp += fmt.Sprintf("%s/%s/%s/%v/%v;", t.id, t.state, t.addr, s.checked[t.id], t.nodeDown)
		}
		out[sv.app] = fp
	}
	return out
}

// checkStrays checks, in the background, the running tasks of apps'
// current generations that no one checked: Swarm restarted or moved
// them. Each is routed once it passes.
func (s *Scheduler) checkStrays(ctx context.Context, v view) {
	for _, sv := range v.services {
		for _, t := range sv.tasks {
			s.mu.Lock()
			skip := t.state != swarm.TaskStateRunning || s.checked[t.id] || s.checking[t.id]
			if !skip {
				s.checking[t.id] = true
			}
			s.mu.Unlock()
			if skip {
				continue
			}
			go func() {
				defer func() {
					s.mu.Lock()
					delete(s.checking, t.id)
					s.mu.Unlock()
				}()
				a, err := s.apps.App(ctx, sv.app)
				if err != nil || a.Generation != sv.gen || a.Stopped {
					return // a rollout's or a scale's to check, or gone
				}
				rel, ok := a.CurrentRelease()
				if !ok {
					return
				}
				if err := s.checkTask(ctx, a, rel, sv, t, io.Discard); err != nil {
					s.log.Warn("swarm: a task Swarm started failed its checks; it takes no traffic", "app", sv.app, "task", fmt.Sprintf("%s.%d", sv.typ, t.slot), "error", err)
					return
				}
				s.markChecked(t.id)
				s.routes.Refresh(ctx, sv.app)
			}()
		}
	}
}

// Close ends what Run started.
func (s *Scheduler) Close() {
	if s.cancel != nil {
		s.cancel()
		<-s.done
	}
}

// Preempt: the scheduler's background work takes no app lock.
func (s *Scheduler) Preempt(string) {}

// FormationNote: the swarm scheduler keeps none yet.
func (s *Scheduler) FormationNote(string, int) (platform.FormationNote, bool) {
	return platform.FormationNote{}, false
}
