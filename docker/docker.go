// Package docker is Berth's container runtime: images, containers, the
// network apps run on, and the event stream, over the Docker Engine API.
//
// It knows nothing of apps or releases beyond the labels it is given; the
// platform package decides what to run.
package docker

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

// Labels Berth puts on every container it runs. The platform finds its
// containers by them after a restart, so they are part of Berth's state.
const (
	LabelApp     = "berth.app"
	LabelProcess = "berth.process"
	LabelRelease = "berth.release"
	// LabelPort is the TCP port the container's process listens on.
	LabelPort = "berth.port"
	// LabelGeneration is the app rollout the container belongs to.
	LabelGeneration = "berth.generation"
	// LabelIndex is the container's number within its process type (the
	// 2 of web.2).
	LabelIndex = "berth.index"
	// LabelOneOff marks a one-off container (release phase, deploy
	// scripts) with its app's name. It is not LabelApp, so one-offs are
	// never routed, retired or counted as the app's processes.
	LabelOneOff = "berth.oneoff"
	// LabelRun marks the one-offs of `run` ("attached") and `run:detached`
	// ("detached"): those run:list lists and run:stop stops. A detached
	// one-off outlives the session that started it, and Berth's restart.
	LabelRun = "berth.run"
	// LabelInstance is the ID of the Berth that made the container (see
	// SetInstance): two Berths on one engine never act on each other's
	// containers, even for apps of the same name.
	LabelInstance = "berth.instance"
	// LabelAnonymousVolumes marks a container made with anonymous
	// volumes of its own (docker-options -v /path): Remove removes them
	// with it. Other containers keep theirs (a datastore's, say).
	LabelAnonymousVolumes = "berth.anonymous-volumes"
)

// containerLabels are every label Berth reads off a container. Docker
// copies an image's labels onto each container made from it, under the
// container's own: an image built from a pushed Dockerfile could carry
// berth.app=OTHER and have a one-off of it routed as OTHER's web
// container. So every container Berth creates sets each of these keys
// itself (empty when it does not apply), and no image label can stand
// in for one (see stamp).
var containerLabels = []string{
	LabelApp, LabelProcess, LabelRelease, LabelPort, LabelGeneration, LabelIndex,
	LabelOneOff, LabelInstance, LabelService, LabelServiceType, LabelRun,
}

// IsBerthLabel reports whether an image or container label key is in
// Berth's namespace (berth.*), which only Berth may set.
func IsBerthLabel(key string) bool { return strings.HasPrefix(key, "berth.") }

// DefaultNetwork is the bridge network apps run on. Berth dials containers
// at their address on it.
const DefaultNetwork = "berth"

// Client talks to one Docker engine.
type Client struct {
	api     *client.Client
	network string

	// instance is this Berth's ID, stamped on everything it creates and
	// required of everything it lists (see SetInstance).
	instance string
	// legacy are containers made before Berth had an instance ID, adopted
	// once, at the first start of a Berth that has one.
	legacy map[string]bool
}

// SetInstance makes the client stamp id (LabelInstance) on every
// container and volume it creates, and list, and report events of, only
// containers that carry it, or whose IDs are in legacy: containers made
// by a Berth from before instance IDs, which carry none. Call it once,
// before the client creates or lists anything.
func (c *Client) SetInstance(id string, legacy []string) {
	c.instance = id
	c.legacy = map[string]bool{}
	for _, l := range legacy {
		c.legacy[l] = true
	}
}

// Instance is the ID SetInstance gave.
func (c *Client) Instance() string { return c.instance }

// Owns reports whether a container (by ID and labels) is this Berth's:
// it carries this Berth's instance ID, or it is an adopted legacy one.
func (c *Client) Owns(id string, labels map[string]string) bool {
	return OwnedBy(c.instance, c.legacy, id, labels)
}

// OwnedBy is the rule of Owns for any engine: a container is instance's
// when its labels carry instance's ID, or its ID is among legacy.
func OwnedBy(instance string, legacy map[string]bool, id string, labels map[string]string) bool {
	if legacy[id] {
		return true
	}
	inst, ok := labels[LabelInstance]
	return ok && inst == instance
}

// stamp is StampLabels with this Berth's instance ID.
func (c *Client) stamp(given map[string]string) map[string]string {
	return StampLabels(c.instance, given)
}

// StampLabels returns the labels a container (or volume) Berth creates
// gets, whatever its engine: every key of containerLabels, empty unless
// given, and the instance ID, which given cannot change. A label the
// image carries under one of those keys is thus always overridden.
func StampLabels(instance string, given map[string]string) map[string]string {
	out := BlankLabels()
	for k, v := range given {
		out[k] = v
	}
	out[LabelInstance] = instance
	return out
}

// BlankLabels returns every label Berth reads off a container, empty.
func BlankLabels() map[string]string {
	out := make(map[string]string, len(containerLabels))
	for _, k := range containerLabels {
		out[k] = ""
	}
	return out
}

// Connect opens a client for host (a DOCKER_HOST-style URL; empty means the
// environment's DOCKER_HOST, else the local socket) and checks that the
// engine answers. The API version is negotiated, so engines as old as
// Docker 20.10 (API 1.41) work.
func Connect(ctx context.Context, host string) (*Client, error) {
	opts := []client.Opt{client.FromEnv}
	if host != "" {
		opts = append(opts, client.WithHost(host))
	}
	api, err := client.New(opts...)
	if err != nil {
		return nil, fmt.Errorf("docker: %w", err)
	}
	pingCtx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	if _, err := api.Ping(pingCtx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		api.Close()
		return nil, fmt.Errorf("docker engine at %s does not answer (is dockerd running, and may this user use its socket? ./run.sh installs and starts Docker where it is missing): %w", api.DaemonHost(), err)
	}
	return &Client{api: api, network: DefaultNetwork}, nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.api.Close() }

// Network is the name of the network apps run on.
func (c *Client) Network() string { return c.network }

// SetNetwork names the network apps run on instead of DefaultNetwork (the
// tests race EnsureNetwork on a network of their own). Call it before the
// client is used.
func (c *Client) SetNetwork(name string) { c.network = name }

// EnsureNetwork creates Berth's bridge network unless it exists, and
// heals the state two racing creators can leave behind.
//
// Docker before API 1.44 (Docker 20.10 is API 1.41) creates a second
// network of a name that exists unless the request asks it to check
// (CheckDuplicate), and even then checks and creates without a lock, so
// two Berths starting at once on an engine without the network can make
// two "berth" networks; from then on every container start fails with
// "network berth is ambiguous". So: one creator at a time in this process
// (networkMu), CheckDuplicate on old engines, and after creating, a look
// for duplicates that every racer resolves the same way (healNetwork).
func (c *Client) EnsureNetwork(ctx context.Context) error {
	networkMu.Lock()
	defer networkMu.Unlock()
	nets, err := c.networksNamed(ctx, c.network)
	if err != nil {
		return err
	}
	if len(nets) == 1 {
		return nil
	}
	if len(nets) == 0 {
		_, err := c.createNetworkChecked(ctx, c.network, client.NetworkCreateOptions{
			Driver: "bridge",
			Labels: map[string]string{"berth.managed": "true"},
		})
		if err != nil && !isDuplicateNetwork(err) { // another process created it first
			return fmt.Errorf("docker: create network %s: %w", c.network, err)
		}
	}
	return c.healNetwork(ctx, c.network)
}

// networkMu serialises the network creation of all Clients of this
// process (Berth and its services share one engine).
var networkMu sync.Mutex

func isDuplicateNetwork(err error) bool {
	return cerrdefs.IsConflict(err) || strings.Contains(err.Error(), "already exists")
}

// networksNamed lists the networks called exactly name (the engine's name
// filter matches substrings), oldest first, ties by ID: the order every
// Berth agrees on when it decides which duplicate to keep.
func (c *Client) networksNamed(ctx context.Context, name string) ([]network.Summary, error) {
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{Filters: make(client.Filters).Add("name", name)})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	var out []network.Summary
	for _, n := range res.Items {
		if n.Name == name {
			out = append(out, n)
		}
	}
	slices.SortFunc(out, func(a, b network.Summary) int {
		if d := a.Created.Compare(b.Created); d != 0 {
			return d
		}
		return strings.Compare(a.ID, b.ID)
	})
	return out, nil
}

// healNetwork leaves one network called name when racing creators made
// several: the one containers are attached to, else the oldest. Empty
// duplicates are removed; duplicates with containers on more than one of
// them cannot be merged without stopping those containers, so that is an
// error that says what to do.
func (c *Client) healNetwork(ctx context.Context, name string) error {
	nets, err := c.networksNamed(ctx, name)
	if err != nil || len(nets) < 2 {
		return err
	}
	keep := -1
	var used []string
	for i, n := range nets {
		// The list leaves out the attached containers; inspecting by ID
		// has them.
		res, err := c.api.NetworkInspect(ctx, n.ID, client.NetworkInspectOptions{})
		if cerrdefs.IsNotFound(err) {
			continue // another Berth removed it
		} else if err != nil {
			return fmt.Errorf("docker: inspect network %s (%s): %w", name, n.ID, err)
		}
		if len(res.Network.Containers) > 0 {
			used = append(used, n.ID)
			keep = i
		}
	}
	if len(used) > 1 {
		return fmt.Errorf("the engine has %d networks named %s with containers on them (IDs %s), so no container can start on %[2]s: "+
			"stop Berth, remove the containers of all but one of them (docker network inspect ID shows them; Berth makes its app containers again), "+
			"then `docker network rm` those networks by ID", len(nets), name, strings.Join(used, ", "))
	}
	if keep < 0 {
		keep = 0
	}
	for i, n := range nets {
		if i == keep {
			continue
		}
		if _, err := c.api.NetworkRemove(ctx, n.ID, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("the engine has several networks named %s and the empty duplicate %s cannot be removed (remove it with `docker network rm %[2]s`): %w", name, n.ID, err)
		}
	}
	return nil
}

// createNetworkChecked creates a network, asking engines older than API
// 1.44 to refuse a duplicate name (CheckDuplicate; newer engines always
// refuse and no longer take the field, and the client library no longer
// sends it, so the request is made here by hand).
func (c *Client) createNetworkChecked(ctx context.Context, name string, opts client.NetworkCreateOptions) (id string, err error) {
	if !versions.LessThan(c.api.ClientVersion(), "1.44") {
		res, err := c.api.NetworkCreate(ctx, name, opts)
		return res.ID, err
	}
	body, err := json.Marshal(struct {
		Name           string
		CheckDuplicate bool
		Driver         string
		Internal       bool
		Attachable     bool
		Labels         map[string]string
	}{name, true, opts.Driver, opts.Internal, opts.Attachable, opts.Labels})
	if err != nil {
		return "", err
	}
	dial := c.api.Dialer()
	hc := &http.Client{Transport: &http.Transport{
		DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) { return dial(ctx) },
	}}
	defer hc.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "http://docker/v"+c.api.ClientVersion()+"/networks/create", bytes.NewReader(body))
	if err != nil {
		return "", err
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return "", err
	}
	defer resp.Body.Close()
	if resp.StatusCode/100 == 2 {
		var created struct{ ID string }
		if err := json.NewDecoder(resp.Body).Decode(&created); err != nil {
			return "", fmt.Errorf("engine's answer: %w", err)
		}
		return created.ID, nil
	}
	msg, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
	var e struct{ Message string }
	if json.Unmarshal(msg, &e) == nil && e.Message != "" {
		msg = []byte(e.Message)
	}
	if resp.StatusCode == http.StatusConflict {
		return "", cerrdefs.ErrConflict.WithMessage(string(msg))
	}
	return "", fmt.Errorf("engine answered %s: %s", resp.Status, msg)
}

// ImageBuild passes a build through to the engine (see package builder).
func (c *Client) ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error) {
	return c.api.ImageBuild(ctx, buildContext, options)
}

// ExposedPort returns the lowest TCP port the image EXPOSEs, or false when
// it exposes none.
func (c *Client) ExposedPort(ctx context.Context, image string) (int, bool, error) {
	res, err := c.api.ImageInspect(ctx, image)
	if err != nil {
		return 0, false, fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	if res.Config == nil {
		return 0, false, nil
	}
	var ports []int
	for spec := range res.Config.ExposedPorts {
		p, err := network.ParsePort(spec)
		if err == nil && p.Proto() == network.TCP {
			ports = append(ports, int(p.Num()))
		}
	}
	if len(ports) == 0 {
		return 0, false, nil
	}
	return slices.Min(ports), true, nil
}

// ImageID returns the ID of a local image. The error satisfies IsNotFound
// when the engine has no image by that reference: nothing is pulled.
func (c *Client) ImageID(ctx context.Context, ref string) (string, error) {
	res, err := c.api.ImageInspect(ctx, ref)
	if err != nil {
		return "", fmt.Errorf("docker: inspect image %s: %w", ref, err)
	}
	return res.ID, nil
}

// RemoveImage deletes an image tag; a missing image is not an error.
// When it was the image's last tag, the image goes, and with it its
// untagged parents that nothing else uses (PruneChildren, docker rmi's
// default): the classic builder's intermediate images of each step. The
// client library's zero value asks for noprune, which left every build's
// intermediate layers behind as dangling images.
func (c *Client) RemoveImage(ctx context.Context, ref string) error {
	_, err := c.api.ImageRemove(ctx, ref, client.ImageRemoveOptions{PruneChildren: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove image %s: %w", ref, err)
	}
	return nil
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
func (c *Client) UpdateRestartPolicy(ctx context.Context, id, name string, maxRetries int) error {
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
func (c *Client) Run(ctx context.Context, spec RunSpec) (string, error) {
	id, err := c.Create(ctx, spec)
	if err != nil {
		return "", err
	}
	return id, c.Start(ctx, id)
}

// Start starts a created container; one that fails to start is removed.
func (c *Client) Start(ctx context.Context, id string) error {
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		c.Remove(context.WithoutCancel(ctx), id)
		return fmt.Errorf("docker: start container %s: %w", id, err)
	}
	return nil
}

// Create creates a container on Berth's network without starting it,
// joined to the spec's other networks. One that cannot join them is
// removed again.
func (c *Client) Create(ctx context.Context, spec RunSpec) (string, error) {
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

// OneOff is a container that runs a command to its end: a release phase
// or a deploy script.
type OneOff struct {
	Image string
	Cmd   []string
	// Entrypoint replaces the image's ENTRYPOINT when set (a builder's
	// launch argv for a process type, such as /cnb/process/release, which
	// must not run under the image's own launcher entrypoint).
	Entrypoint []string
	Env        []string
	Labels     map[string]string
	// Files are written before the container starts, as name → content,
	// into OneOffFilesDir: a fresh anonymous volume, so they work with a
	// read-only root file system, never enter an image Commit makes, and
	// go with the container (RemoveOneOff).
	Files map[string]string
	// Output receives the command's stdout and stderr as they come.
	Output io.Writer
	// Keep leaves the exited container in place (for Commit); the caller
	// removes it with RemoveOneOff.
	Keep bool
	// Host are the app's mounts, resources, networks and docker-options
	// for this phase.
	Host HostOptions
}

// RunOnce runs a one-off container to its end and returns its exit code
// and ID. The container is removed afterwards unless spec.Keep.
func (c *Client) RunOnce(ctx context.Context, spec OneOff) (exitCode int, id string, err error) {
	labels := c.stamp(spec.Labels)
	cfg := &container.Config{Image: spec.Image, Cmd: spec.Cmd, Entrypoint: spec.Entrypoint, Env: spec.Env, Labels: labels}
	mode, netcfg := c.createNetworking(spec.Host)
	hc := &container.HostConfig{Init: &useInit, NetworkMode: mode}
	spec.Host.apply(cfg, hc)
	if len(spec.Files) > 0 {
		// A mount in HostConfig, not a VOLUME in Config: Commit would
		// copy the latter into the image.
		hc.Mounts = append(hc.Mounts, mount.Mount{
			Type: mount.TypeVolume, Target: OneOffFilesDir,
			VolumeOptions: &mount.VolumeOptions{Labels: labels},
		})
	}
	// Created whatever happens to ctx, so that its ID is known and it
	// is removed: a create cut off halfway leaves a container no one
	// knows of.
	cleanup := context.WithoutCancel(ctx)
	created, err := c.api.ContainerCreate(cleanup, client.ContainerCreateOptions{Config: cfg, HostConfig: hc, NetworkingConfig: netcfg})
	if err != nil {
		return 0, "", fmt.Errorf("docker: create one-off container: %w", err)
	}
	id = created.ID
	if !spec.Keep {
		defer c.RemoveOneOff(cleanup, id)
	}
	if err := ctx.Err(); err != nil {
		return 0, id, err
	}
	if err := c.connectNetworks(ctx, id, spec.Host); err != nil {
		return 0, id, err
	}
	if len(spec.Files) > 0 {
		var buf strings.Builder
		tw := tar.NewWriter(&buf)
		for name, content := range spec.Files {
			tw.WriteHeader(&tar.Header{Name: name, Mode: 0o600, Size: int64(len(content))})
			io.WriteString(tw, content)
		}
		tw.Close()
		if _, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: OneOffFilesDir, Content: strings.NewReader(buf.String())}); err != nil {
			return 0, id, fmt.Errorf("docker: copy files into one-off container: %w", err)
		}
	}
	code, err := c.runToExit(ctx, id, spec.Output, "one-off container")
	return code, id, err
}

// runToExit starts the created container id, copies its output to output
// (when not nil) as it comes, and waits for it to exit. what names the
// container in errors ("build container").
func (c *Client) runToExit(ctx context.Context, id string, output io.Writer, what string) (int, error) {
	// Waited for before it starts, so that an exit right after the
	// start is not missed.
	wait := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return 0, fmt.Errorf("docker: start the %s: %w", what, err)
	}
	if output != nil {
		logs, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{ShowStdout: true, ShowStderr: true, Follow: true})
		if err != nil {
			// It runs on; only its output is lost. Say so rather than
			// leave a silent gap.
			fmt.Fprintf(output, " !     could not follow the %s's output (%v); it runs on, and its result still counts\n", what, err)
		} else {
			stdcopy.StdCopy(output, output, logs)
			logs.Close()
		}
	}
	select {
	case res := <-wait.Result:
		if res.Error != nil && res.Error.Message != "" {
			return int(res.StatusCode), fmt.Errorf("docker: waiting for the %s: %s", what, res.Error.Message)
		}
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		if ctx.Err() != nil {
			return 0, context.Cause(ctx)
		}
		return 0, fmt.Errorf("docker: waiting for the %s: %w", what, err)
	}
}

// Commit makes an image of a container's file system, tagged ref, keeping
// the given command (the container ran a different one).
func (c *Client) Commit(ctx context.Context, id, ref string, cmd []string) (string, error) {
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

// CheckImageLabels refuses an image whose config carries a label in
// Berth's namespace (berth.*) with a value. Berth sets those on its
// containers itself (see stamp), so such a label would never take effect;
// an image that has one was made to pass for another app's container, or
// is a copy of one of Berth's containers, and is not deployed. Empty ones
// say nothing, and are what Commit leaves on a predeploy's image.
func (c *Client) CheckImageLabels(ctx context.Context, image string) error {
	res, err := c.api.ImageInspect(ctx, image)
	if err != nil {
		return fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	if res.Config == nil {
		return nil
	}
	return CheckLabels(res.Config.Labels)
}

// CheckLabels is the rule of CheckImageLabels for an image's labels, for
// any engine.
func CheckLabels(labels map[string]string) error {
	var keys []string
	for k, v := range labels {
		if IsBerthLabel(k) && v != "" {
			keys = append(keys, k)
		}
	}
	if len(keys) == 0 {
		return nil
	}
	slices.Sort(keys)
	return fmt.Errorf("the image sets the label %s=%q: labels that start with berth. are Berth's own and an image may not carry them; remove the LABEL from the Dockerfile (or use a base image without it)",
		keys[0], labels[keys[0]])
}

// ImageCmd returns the image's CMD.
func (c *Client) ImageCmd(ctx context.Context, image string) ([]string, error) {
	res, err := c.api.ImageInspect(ctx, image)
	if err != nil {
		return nil, fmt.Errorf("docker: inspect image %s: %w", image, err)
	}
	if res.Config == nil {
		return nil, nil
	}
	return res.Config.Cmd, nil
}

// Tag gives an image another name.
func (c *Client) Tag(ctx context.Context, source, target string) error {
	if _, err := c.api.ImageTag(ctx, client.ImageTagOptions{Source: source, Target: target}); err != nil {
		return fmt.Errorf("docker: tag %s as %s: %w", source, target, err)
	}
	return nil
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
func (c *Client) Inspect(ctx context.Context, id string) (Container, error) {
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

// IsNotFound reports whether err says a container or image does not exist.
func IsNotFound(err error) bool { return cerrdefs.IsNotFound(err) }

// List returns the IDs of this Berth's containers (running or not; see
// Owns) whose labels match every "key=value" or "key" in labels.
func (c *Client) List(ctx context.Context, labels ...string) ([]string, error) {
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
func (c *Client) ListRunning(ctx context.Context, labels ...string) ([]Container, error) {
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
func (c *Client) ListLegacy(ctx context.Context) ([]Container, error) {
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
func (c *Client) list(ctx context.Context, labels ...string) ([]Container, error) {
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
func (c *Client) Stop(ctx context.Context, id string, timeout time.Duration) error {
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
func (c *Client) Remove(ctx context.Context, id string) error {
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

// OneOffFilesDir is where a one-off's Files are.
const OneOffFilesDir = "/.berth-files"

// RemoveOneOff deletes a one-off container with its anonymous volumes
// (the one holding its Files among them), as docker run --rm does.
func (c *Client) RemoveOneOff(ctx context.Context, id string) error {
	_, err := c.api.ContainerRemove(ctx, id, client.ContainerRemoveOptions{Force: true, RemoveVolumes: true})
	if err != nil && !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: remove container %s: %w", id, err)
	}
	return nil
}

// RemoveOrphanOneOffVolumes removes this Berth's one-off volumes
// (labelled LabelOneOff, as a herokuish build's FilesDir volume, which
// holds the app's config) that no container uses: what a crash between a
// build container's creation and its RemoveOneOff left on disk. It
// returns how many it removed.
func (c *Client) RemoveOrphanOneOffVolumes(ctx context.Context) (int, error) {
	if c.instance == "" {
		return 0, nil // not Identified: nothing to tell this Berth's from another's
	}
	f := client.Filters{}
	f.Add("label", LabelOneOff)
	f.Add("label", LabelInstance+"="+c.instance)
	f.Add("dangling", "true")
	res, err := c.api.VolumeList(ctx, client.VolumeListOptions{Filters: f})
	if err != nil {
		return 0, fmt.Errorf("docker: list one-off volumes: %w", err)
	}
	n := 0
	for _, v := range res.Items {
		_, err := c.api.VolumeRemove(ctx, v.Name, client.VolumeRemoveOptions{})
		if err != nil && !cerrdefs.IsNotFound(err) && !cerrdefs.IsConflict(err) {
			return n, fmt.Errorf("docker: remove one-off volume %s: %w", v.Name, err)
		}
		if err == nil {
			n++
		}
	}
	return n, nil
}

// Rename gives the container a new name.
func (c *Client) Rename(ctx context.Context, id, name string) error {
	if _, err := c.api.ContainerRename(ctx, id, client.ContainerRenameOptions{NewName: name}); err != nil {
		return fmt.Errorf("docker: rename container %s to %s: %w", id, name, err)
	}
	return nil
}

// Logs returns the last lines of the container's output (stdout and stderr
// interleaved as Docker stored them).
func (c *Client) Logs(ctx context.Context, id string, lines int) (string, error) {
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines),
	})
	if err != nil {
		return "", fmt.Errorf("docker: logs of %s: %w", id, err)
	}
	defer rc.Close()
	var buf strings.Builder
	lw := &limitedWriter{w: &buf, n: 64 << 10}
	if _, err := stdcopy.StdCopy(lw, lw, rc); err != nil && !errors.Is(err, errLimit) {
		return buf.String(), err
	}
	return buf.String(), nil
}

// StreamLogs writes the container's output to w with Docker's timestamps
// ("2006-01-02T15:04:05.999999999Z07:00 line"): the last tail lines (all
// when tail < 0), then, when follow, new lines until ctx ends.
func (c *Client) StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	t := "all"
	if tail >= 0 {
		t = strconv.Itoa(tail)
	}
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow, Tail: t,
	})
	if err != nil {
		return fmt.Errorf("docker: logs of %s: %w", id, err)
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(w, w, rc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

var errLimit = errors.New("limit reached")

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= n
	if err == nil && l.n <= 0 {
		err = errLimit
	}
	return n, err
}

// Event is a container event of interest to Berth.
type Event struct {
	ContainerID string
	Action      string
	Labels      map[string]string
}

// Events streams events of this Berth's containers (see Owns) that carry
// LabelApp until ctx ends. The error channel yields one error when the
// stream breaks; the caller reconnects (and should reconcile, since
// events may have been missed).
func (c *Client) Events(ctx context.Context) (<-chan Event, <-chan error) {
	f := client.Filters{}
	f.Add("type", string(events.ContainerEventType))
	if len(c.legacy) == 0 {
		f.Add("label", LabelInstance+"="+c.instance)
	} else {
		f.Add("label", LabelApp)
	}
	res := c.api.Events(ctx, client.EventsListOptions{Filters: f})
	out := make(chan Event)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-res.Messages:
				// An event's attributes are the container's labels (with
				// its name and image).
				if _, ok := m.Actor.Attributes[LabelApp]; !ok || !c.Owns(m.Actor.ID, m.Actor.Attributes) {
					continue
				}
				ev := Event{ContainerID: m.Actor.ID, Action: string(m.Action), Labels: m.Actor.Attributes}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case err := <-res.Err:
				if err == nil {
					err = io.EOF
				}
				errc <- err
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc
}
