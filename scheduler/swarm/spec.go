package swarm

// How a process type of a release becomes a Swarm service spec: a pure
// function of the app, the release and what the core gives (environment,
// host options), so that it is tested without Docker.

import (
	"cmp"
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"maps"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
)

// Labels on the task containers. They are not Berth's container labels
// (berth.app, ...): a task is not one of this engine's containers to the
// route controller, the formation check or the one-offs, which would
// otherwise take it for a docker-local container of the app. `docker ps
// --filter label=berth.swarm.app=APP` finds them.
const (
	LabelTaskApp     = "berth.swarm.app"
	LabelTaskProcess = "berth.swarm.process"
)

// serviceInput is what a service spec is made of.
type serviceInput struct {
	App     *platform.App
	Release platform.Release
	// Image is the reference the tasks run ("": the release's image ID,
	// see taskImage), a registry's by digest (image.go).
	Image string
	// Networks are the networks the tasks join (Config.Networks), each
	// beside the bridge that publishes their port.
	Networks []string
	Type     string
	Gen      int
	Replicas int
	// Instance is this Berth's ID, on the service's labels: a swarm
	// shared with another Berth keeps their services apart.
	Instance string
	// Env is the release's environment of the type's first dyno.
	Env []string
	// Host are the settings families' host options of the type.
	Host docker.HostOptions
	// RestartPolicy is Dokku's form (platform.RestartPolicyOf).
	RestartPolicy string
	StopTimeout   time.Duration
}

var validName = regexp.MustCompile(`^[a-zA-Z0-9](?:[-_]*[A-Za-z0-9]+)*$`)

// serviceName is the service of app's process type typ in generation gen:
// APP_TYPE_GEN, or, where that is not a valid Swarm name (63 characters at
// most), berth_ and a hash of it.
func serviceName(app, typ string, gen int) string {
	n := fmt.Sprintf("%s_%s_%d", app, typ, gen)
	if len(n) <= 63 && validName.MatchString(n) {
		return n
	}
	sum := sha256.Sum256([]byte(n))
	return "berth_" + hex.EncodeToString(sum[:12]) + "_" + strconv.Itoa(gen)
}

// unsupported says which of a's settings the swarm scheduler does not
// carry to a service yet ("" none): they are refused rather than dropped.
func unsupported(a *platform.App) string {
	var what []string
	if len(a.Storage) > 0 {
		what = append(what, "storage mounts (storage:unmount)")
	}
	if len(a.DockerOptions) > 0 {
		what = append(what, "docker-options (docker-options:clear)")
	}
	for _, s := range a.PortMap {
		if m, err := platform.ParsePortMapping(s); err == nil && m.Scheme == "tcp" {
			what = append(what, "tcp port mappings (ports:remove APP "+s+")")
			break
		}
	}
	if a.Networks.InitialNetwork != "" || len(a.Networks.AttachPostCreate) > 0 || len(a.Networks.AttachPostDeploy) > 0 || a.Networks.TLD != "" {
		what = append(what, "networks (network:set APP ... with no value)")
	}
	return strings.Join(what, ", ")
}

// serviceSpec is the service of one process type: its tasks are the
// type's processes (replicas = the formation), each publishing the app's
// port on an engine-assigned port of its node (host mode, not the
// ingress mesh: Berth routes to each task itself).
func serviceSpec(in serviceInput) (swarm.ServiceSpec, error) {
	a, rel := in.App, in.Release
	port := a.ProxyPort(rel)
	if port <= 0 || port > 65535 {
		return swarm.ServiceSpec{}, fmt.Errorf("the app's port %d cannot be published", port)
	}
	if err := unsupportedHost(a.Name, in.Host); err != nil {
		return swarm.ServiceSpec{}, err
	}
	useInit := true
	cs := &swarm.ContainerSpec{
		Image:  cmp.Or(in.Image, taskImage(rel)),
		Env:    taskEnv(in.Env, in.Host.Env, in.Type),
		Labels: docker.BlankLabels(),
		// As docker-local's --init: PID 1 forwards SIGTERM to the app and
		// reaps zombies (a shell-form CMD ignores SIGTERM without it).
		Init: &useInit,
	}
	// An image's berth.* labels must not stand in for Berth's (as for
	// docker-local's containers): every key is set, most empty.
	for k, v := range in.Host.Labels {
		if !docker.IsBerthLabel(k) {
			cs.Labels[k] = v
		}
	}
	cs.Labels[LabelTaskApp] = a.Name
	cs.Labels[LabelTaskProcess] = in.Type
	if argv, ok := rel.Launch[in.Type]; ok && len(argv) > 0 {
		cs.Command, cs.Args = argv[:1], argv[1:]
	} else if cmd, ok := rel.Processes[in.Type]; ok {
		cs.Command = []string{"/bin/sh", "-c", cmd}
	}
	if in.StopTimeout > 0 {
		t := in.StopTimeout
		cs.StopGracePeriod = &t
	}
	restart, err := restartPolicy(in.RestartPolicy)
	if err != nil {
		return swarm.ServiceSpec{}, err
	}
	replicas := uint64(max(in.Replicas, 0))
	spec := swarm.ServiceSpec{
		Annotations: swarm.Annotations{
			Name: serviceName(a.Name, in.Type, in.Gen),
			Labels: map[string]string{
				docker.LabelApp:        a.Name,
				docker.LabelProcess:    in.Type,
				docker.LabelRelease:    strconv.Itoa(rel.Version),
				docker.LabelGeneration: strconv.Itoa(in.Gen),
				docker.LabelPort:       strconv.Itoa(port),
				docker.LabelInstance:   in.Instance,
			},
		},
		TaskTemplate: swarm.TaskSpec{
			ContainerSpec: cs,
			Placement:     placement(a), // placement.go
			RestartPolicy: restart,
			Resources:     resources(in.Host),
			LogDriver:     logDriver(in.Host),
			Networks:      attachments(in.Networks),
		},
		Mode: swarm.ServiceMode{Replicated: &swarm.ReplicatedService{Replicas: &replicas}},
		// What Swarm itself updates (a node drained, a spec changed by
		// hand) starts the new task before it stops the old one. Berth's
		// own rollouts make a new service per generation instead, so that
		// its checks and drain decide when old tasks go (Swarm's update
		// would stop them on its own schedule, and its rollback restarts
		// healthy tasks: moby#43081).
		UpdateConfig: &swarm.UpdateConfig{Parallelism: 1, Order: swarm.UpdateOrderStartFirst, FailureAction: swarm.UpdateFailureActionPause},
		EndpointSpec: &swarm.EndpointSpec{
			Mode: swarm.ResolutionModeDNSRR,
			Ports: []swarm.PortConfig{{
				Protocol:    "tcp",
				TargetPort:  uint32(port),
				PublishMode: swarm.PortConfigPublishModeHost,
				// 0: the engine picks a free port per task, read back
				// from the task's status, so that any number of tasks
				// share a node.
			}},
		},
	}
	return spec, nil
}

// attachments are the tasks' networks in Swarm's terms. A task on an
// overlay network still publishes its port in host mode (through the
// node's docker_gwbridge), so Caddy reaches it as before.
func attachments(nets []string) []swarm.NetworkAttachmentConfig {
	var out []swarm.NetworkAttachmentConfig
	for _, n := range nets {
		out = append(out, swarm.NetworkAttachmentConfig{Target: n})
	}
	return out
}

// taskImage is the image a task runs: the release's image ID. Swarm's
// executor pulls a task's image before it starts it unless the reference
// is an image ID (or a digest already present): a tag (berth/APP:vN)
// would be pulled from Docker Hub at every task start, a stranger's image
// if one by that name exists there. A record without an ID (none is
// written so) keeps the tag.
func taskImage(rel platform.Release) string {
	if strings.HasPrefix(rel.ImageID, "sha256:") {
		return rel.ImageID
	}
	return rel.Image
}

// taskEnv is the release's environment for every task of a type: DYNO is
// the task's own (Swarm's template of its slot), and every other "{{" is
// quoted, so that no value of the app's config is read as a template.
func taskEnv(env, extra []string, typ string) []string {
	var out []string
	for _, kv := range append(append([]string(nil), extra...), env...) {
		k, _, _ := strings.Cut(kv, "=")
		if k == "DYNO" {
			continue
		}
		out = append(out, strings.ReplaceAll(kv, "{{", `{{"{{"}}`))
	}
	return append(out, "DYNO="+typ+".{{.Task.Slot}}")
}

// restartPolicy is Dokku's restart policy in Swarm's terms.
func restartPolicy(policy string) (*swarm.RestartPolicy, error) {
	name, retries, err := docker.ParseRestartPolicy(policy)
	if err != nil {
		return nil, err
	}
	delay := time.Second
	p := &swarm.RestartPolicy{Delay: &delay}
	switch name {
	case "no":
		p.Condition = swarm.RestartPolicyConditionNone
	case "on-failure":
		p.Condition = swarm.RestartPolicyConditionOnFailure
		if retries > 0 {
			n := uint64(retries)
			p.MaxAttempts = &n
		}
	default: // always, unless-stopped: Swarm stops a task only when told
		p.Condition = swarm.RestartPolicyConditionAny
	}
	return p, nil
}

// resources are the host options' limits and reservations in Swarm's
// terms (resource:limit, resource:reserve).
func resources(h docker.HostOptions) *swarm.ResourceRequirements {
	if h.Memory == 0 && h.NanoCPUs == 0 && h.MemoryReservation == 0 {
		return nil
	}
	r := &swarm.ResourceRequirements{}
	if h.Memory != 0 || h.NanoCPUs != 0 {
		r.Limits = &swarm.Limit{MemoryBytes: h.Memory, NanoCPUs: h.NanoCPUs}
	}
	if h.MemoryReservation != 0 {
		r.Reservations = &swarm.Resources{MemoryBytes: h.MemoryReservation}
	}
	return r
}

// logDriver is the tasks' log driver, as docker-local's containers get
// it (docker.Client.Create): json-file rotated at 10m x 3 unless logs:set
// max-size or a log driver says otherwise. The engine's own default has
// no size cap: a chatty task would fill the node's disk.
func logDriver(h docker.HostOptions) *swarm.Driver {
	d := &swarm.Driver{Name: "json-file", Options: map[string]string{"max-size": "10m", "max-file": "3"}}
	if h.LogDriver != "" {
		d.Name = h.LogDriver
	}
	maps.Copy(d.Options, h.LogOpts)
	// "" means the option is left out (logs:set max-size unlimited).
	maps.DeleteFunc(d.Options, func(_, v string) bool { return v == "" })
	return d
}

// unsupportedHost refuses the host options a Swarm service has no place
// for, rather than dropping them: a limit an admin set must hold, or the
// deploy fails saying so.
func unsupportedHost(app string, h docker.HostOptions) error {
	var what []string
	if h.MemorySwap != 0 {
		// Swarm's Limit has memory, CPUs and pids, no swap.
		what = append(what, "a memory-swap limit (Swarm's services have none: resource:limit-clear "+app+" [--process-type TYPE], then resource:limit "+app+" --memory/--cpu again without --memory-swap)")
	}
	if h.InitialNetwork != "" || len(h.Networks) > 0 {
		// The app's own networks are refused by unsupported(); the
		// global ones (network:set --global) reach the host options.
		what = append(what, "networks, the app's own or the global ones (network:set --global initial-network / attach-post-create with no value)")
	}
	if len(what) == 0 {
		return nil
	}
	return fmt.Errorf("the swarm scheduler does not apply %s yet: remove them, or scheduler:set %s selected docker-local", strings.Join(what, ", "), app)
}
