package docker

import (
	"context"
	"fmt"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// ContainerAPI is the part of Client that runs, finds and removes
// containers. It implements platform.ContainerEngine, with one-offs
// (oneoff.go), logs and events (logs.go), services' containers
// (services.go) and stats (stats.go). It joins the containers it creates
// to their networks through the NetworkAPI.
type ContainerAPI struct {
	*conn
	networks *NetworkAPI
}

// SetInstance makes the client (every part: they share the conn) stamp
// id (LabelInstance) on every container and volume it creates, and list,
// and report events of, only containers that carry it, or whose IDs are
// in legacy: containers made by a Berth from before instance IDs, which
// carry none. Call it once, before the client creates or lists anything.
func (c *ContainerAPI) SetInstance(id string, legacy []string) {
	c.instance = id
	c.legacy = map[string]bool{}
	for _, l := range legacy {
		c.legacy[l] = true
	}
}

// Instance is the ID SetInstance gave.
func (c *ContainerAPI) Instance() string { return c.instance }

// Owns reports whether a container (by ID and labels) is this Berth's:
// it carries this Berth's instance ID, or it is an adopted legacy one.
func (c *ContainerAPI) Owns(id string, labels map[string]string) bool {
	return OwnedBy(c.instance, c.legacy, id, labels)
}

// RunSpec says what container to run.
type RunSpec struct {
	Name   string
	Image  string
	Env    []string
	Labels map[string]string
	// RestartPolicy is Docker's: "no", "always", "unless-stopped" or
	// "on-failure" (with MaxRetries).
	RestartPolicy string
	MaxRetries    int
	// StopTimeout is how long Docker waits after SIGTERM before SIGKILL.
	StopTimeout time.Duration
	// Cmd replaces the image's CMD when set.
	Cmd []string
	// Entrypoint replaces the image's ENTRYPOINT when set.
	Entrypoint []string
	// Host are the app's mounts, resources, networks and docker-options.
	Host HostOptions
	// AutoRemove removes the container when it exits (docker run --rm):
	// run:detached's one-offs.
	AutoRemove bool
}

// ParseRestartPolicy reads Dokku's form of a restart policy: "no",
// "always", "unless-stopped", "on-failure" or "on-failure:N".
func ParseRestartPolicy(s string) (name string, maxRetries int, err error) {
	name, count, hasCount := strings.Cut(s, ":")
	switch name {
	case "no", "always", "unless-stopped":
		if hasCount {
			return "", 0, fmt.Errorf("restart policy %q takes no retry count", name)
		}
		return name, 0, nil
	case "on-failure":
		if !hasCount {
			return name, 0, nil
		}
		n, err := strconv.Atoi(count)
		if err != nil || n < 0 {
			return "", 0, fmt.Errorf("restart policy %q: the retry count must be a whole number", s)
		}
		return name, n, nil
	}
	return "", 0, fmt.Errorf("unknown restart policy %q: use no, always, unless-stopped, on-failure or on-failure:N", s)
}

// UpdateRestartPolicy changes a running container's restart policy.
func (c *ContainerAPI) UpdateRestartPolicy(ctx context.Context, id, name string, maxRetries int) error {
	_, err := c.api.ContainerUpdate(ctx, id, client.ContainerUpdateOptions{
		RestartPolicy: &container.RestartPolicy{Name: container.RestartPolicyMode(name), MaximumRetryCount: maxRetries},
	})
	if err != nil {
		return fmt.Errorf("docker: update restart policy of %s: %w", id, err)
	}
	return nil
}

var useInit = true

// Run creates and starts a container on Berth's network and returns its ID.
// A container that was created but failed to start is removed again.
func (c *ContainerAPI) Run(ctx context.Context, spec RunSpec) (string, error) {
	id, err := c.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	return id, c.Start(ctx, id)
}

// Start starts a created container; one that fails to start is removed.
func (c *ContainerAPI) Start(ctx context.Context, id string) error {
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		c.Remove(context.WithoutCancel(ctx), id)
		return fmt.Errorf("docker: start container %s: %w", id, explainBridgeFull(err))
	}
	return nil
}

// Create creates a container on Berth's network without starting it,
// joined to the spec's other networks. One that cannot join them is
// removed again.
func (c *ContainerAPI) Create(ctx context.Context, spec RunSpec) (string, error) {
	stopSeconds := int(spec.StopTimeout / time.Second)
	cfg := &container.Config{
		Image:       spec.Image,
		Env:         spec.Env,
		Labels:      c.stamp(spec.Labels),
		StopTimeout: &stopSeconds,
		Cmd:         spec.Cmd,
		Entrypoint:  spec.Entrypoint,
	}
	mode, netcfg := c.createNetworking(spec.Host)
	hc := &container.HostConfig{
		// An init process as PID 1 forwards SIGTERM to the app and reaps
		// zombies; without it a shell-form CMD ignores SIGTERM and every
		// stop waits for the kill timeout.
		Init:        &useInit,
		NetworkMode: mode,
		RestartPolicy: container.RestartPolicy{
			Name:              container.RestartPolicyMode(spec.RestartPolicy),
			MaximumRetryCount: spec.MaxRetries,
		},
		LogConfig:  container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
		AutoRemove: spec.AutoRemove,
	}
	spec.Host.apply(cfg, hc)
	// Created whatever happens to ctx, and removed again if ctx ended
	// meanwhile: a create cut off halfway (a pusher's Ctrl-C) would
	// leave a Created container whose ID no one knows.
	cleanup := context.WithoutCancel(ctx)
	created, err := c.api.ContainerCreate(cleanup, client.ContainerCreateOptions{
		Name: spec.Name, Config: cfg, HostConfig: hc, NetworkingConfig: netcfg,
	})
	if err != nil {
		return "", fmt.Errorf("docker: create container %s: %w", spec.Name, err)
	}
	if err := ctx.Err(); err != nil {
		c.Remove(cleanup, created.ID)
		return "", err
	}
	if err := c.connectNetworks(ctx, created.ID, spec.Host); err != nil {
		c.Remove(cleanup, created.ID)
		return "", err
	}
	return created.ID, nil
}

// Commit makes an image of a container's file system, tagged ref, keeping
// the given command (the container ran a different one).
func (c *ContainerAPI) Commit(ctx context.Context, id, ref string, cmd []string) (string, error) {
	// Docker gives the image the container's labels for every key the
	// commit does not set: Berth's own (berth.oneoff=APP, the instance
	// ID) are blanked, so the image says nothing of where it was made and
	// passes CheckImageLabels if it is deployed again (git:from-image).
	res, err := c.api.ContainerCommit(ctx, id, client.ContainerCommitOptions{
		Reference: ref,
		Config:    &container.Config{Cmd: cmd, Labels: BlankLabels()},
	})
	if err != nil {
		return "", fmt.Errorf("docker: commit %s: %w", id, err)
	}
	return res.ID, nil
}

// Container is what Berth needs to know of a container.
type Container struct {
	ID           string
	Name         string
	Labels       map[string]string
	Running      bool
	Restarting   bool
	ExitCode     int
	RestartCount int
	// StartedAt is when the container last started.
	StartedAt time.Time
	// RestartPolicy and MaxRetries are the container's restart policy.
	RestartPolicy string
	MaxRetries    int
	// IP is the container's address on Berth's network; invalid when it
	// has none (stopped, or not attached).
	IP netip.Addr
	// Command and Created are what a listing shows of the container
	// (run:list): its command line and when it was made.
	Command string
	Created time.Time
}

// Inspect returns the container's current state.
func (c *ContainerAPI) Inspect(ctx context.Context, id string) (Container, error) {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return Container{}, fmt.Errorf("docker: inspect container %s: %w", id, err)
	}
	ic := res.Container
	out := Container{
		ID:           ic.ID,
		Name:         strings.TrimPrefix(ic.Name, "/"),
		RestartCount: ic.RestartCount,
	}
	if ic.Config != nil {
		out.Labels = ic.Config.Labels
	}
	if ic.State != nil {
		out.Running = ic.State.Running
		out.Restarting = ic.State.Restarting
		out.ExitCode = ic.State.ExitCode
		out.StartedAt, _ = time.Parse(time.RFC3339Nano, ic.State.StartedAt)
	}
	if ic.HostConfig != nil {
		out.RestartPolicy = string(ic.HostConfig.RestartPolicy.Name)
		out.MaxRetries = ic.HostConfig.RestartPolicy.MaximumRetryCount
	}
	if ic.NetworkSettings != nil {
		if ep, ok := ic.NetworkSettings.Networks[c.network]; ok && ep != nil {
			out.IP = ep.IPAddress
		}
	}
	return out, nil
}

// List returns the IDs of this Berth's containers (running or not; see
// Owns) whose labels match every "key=value" or "key" in labels.
func (c *ContainerAPI) List(ctx context.Context, labels ...string) ([]string, error) {
	cs, err := c.ListRunning(ctx, labels...)
	if err != nil {
		return nil, err
	}
	ids := make([]string, 0, len(cs))
	for _, ct := range cs {
		ids = append(ids, ct.ID)
	}
	return ids, nil
}

// ListRunning returns, in one call, this Berth's containers (see Owns)
// whose labels match every "key=value" or "key" in labels, with what a
// container listing carries: ID, name, labels, whether it runs or
// restarts, and its address on Berth's network (no restart count or exit
// code: Inspect has those).
func (c *ContainerAPI) ListRunning(ctx context.Context, labels ...string) ([]Container, error) {
	if len(c.legacy) == 0 {
		// The engine filters: another Berth's containers never come back.
		labels = append(slices.Clip(labels), LabelInstance+"="+c.instance)
	}
	all, err := c.list(ctx, labels...)
	if err != nil {
		return nil, err
	}
	return slices.DeleteFunc(all, func(ct Container) bool { return !c.Owns(ct.ID, ct.Labels) }), nil
}

// ListLegacy returns the containers that carry one of Berth's container
// labels (berth.app, berth.oneoff, berth.service) but no instance ID:
// those a Berth from before instance IDs made, whoever's they are.
func (c *ContainerAPI) ListLegacy(ctx context.Context) ([]Container, error) {
	seen := map[string]bool{}
	var out []Container
	for _, key := range []string{LabelApp, LabelOneOff, LabelService} {
		cs, err := c.list(ctx, key)
		if err != nil {
			return nil, err
		}
		for _, ct := range cs {
			if _, stamped := ct.Labels[LabelInstance]; !stamped && !seen[ct.ID] {
				seen[ct.ID] = true
				out = append(out, ct)
			}
		}
	}
	return out, nil
}

// list is ListRunning for every container on the engine, whoever made it.
func (c *ContainerAPI) list(ctx context.Context, labels ...string) ([]Container, error) {
	f := client.Filters{}
	f.Add("label", labels...)
	res, err := c.api.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: f})
	if err != nil {
		return nil, fmt.Errorf("docker: list containers: %w", err)
	}
	out := make([]Container, 0, len(res.Items))
	for _, s := range res.Items {
		ct := Container{
			ID:         s.ID,
			Labels:     s.Labels,
			Running:    s.State == container.StateRunning,
			Restarting: s.State == container.StateRestarting,
			Command:    s.Command,
			Created:    time.Unix(s.Created, 0),
		}
		if len(s.Names) > 0 {
			ct.Name = strings.TrimPrefix(s.Names[0], "/")
		}
		if s.NetworkSettings != nil {
			if ep, ok := s.NetworkSettings.Networks[c.network]; ok && ep != nil {
				ct.IP = ep.IPAddress
			}
		}
		out = append(out, ct)
	}
	return out, nil
}

// Stop sends the container SIGTERM and, after timeout, SIGKILL.
func (c *ContainerAPI) Stop(ctx context.Context, id string, timeout time.Duration) error {
	secs := int(timeout / time.Second)
	_, err := c.api.ContainerStop(ctx, id, client.ContainerStopOptions{Timeout: &secs})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: stop container %s: %w", id, err)
	}
	return nil
}

// Remove deletes the container, killing it if it still runs. A container
// with LabelAnonymousVolumes goes with its anonymous volumes (as docker rm
// -v): the next container of its app gets fresh ones, so keeping them
// would only fill the disk. Named volumes and bind mounts always stay.
func (c *ContainerAPI) Remove(ctx context.Context, id string) error {
	opts := client.ContainerRemoveOptions{Force: true}
	if res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{}); err == nil {
		if res.Container.Config != nil && res.Container.Config.Labels[LabelAnonymousVolumes] == "true" {
			opts.RemoveVolumes = true
		}
	} else if cerrdefs.IsNotFound(err) {
		return nil
	}
	_, err := c.api.ContainerRemove(ctx, id, opts)
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove container %s: %w", id, err)
	}
	return nil
}

// Rename gives the container a new name.
func (c *ContainerAPI) Rename(ctx context.Context, id, name string) error {
	if _, err := c.api.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name}); err != nil {
		return fmt.Errorf("docker: rename container %s to %s: %w", id, name, err)
	}
	return nil
}

// createNetworking returns the network a container is created on and its
// endpoint settings. The engine API before 1.44 takes one network at
// creation; the others are connected by connectNetworks before start.
func (c *ContainerAPI) createNetworking(h HostOptions) (container.NetworkMode, *network.NetworkingConfig) {
	name := c.network
	ep := &network.EndpointSettings{}
	if h.InitialNetwork != "" && h.InitialNetwork != c.network {
		name = h.InitialNetwork
		ep.Aliases = h.InitialAliases
	}
	return container.NetworkMode(name), &network.NetworkingConfig{EndpointsConfig: map[string]*network.EndpointSettings{name: ep}}
}

// connectNetworks joins a created container to Berth's network (when it
// was created on another) and to h's networks.
func (c *ContainerAPI) connectNetworks(ctx context.Context, id string, h HostOptions) error {
	var joins []Attachment
	if h.InitialNetwork != "" && h.InitialNetwork != c.network {
		joins = append(joins, Attachment{Network: c.network})
	}
	joins = append(joins, h.Networks...)
	for _, a := range joins {
		if err := c.networks.Connect(ctx, id, a); err != nil {
			return err
		}
	}
	return nil
}
