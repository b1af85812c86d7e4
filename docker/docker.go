// Package docker is Berth's container runtime: images, containers, the
// network apps run on, and the event stream, over the Docker Engine API.
//
// It knows nothing of apps or releases beyond the labels it is given; the
// platform package decides what to run.
//
// Client is split by part, one type per section of the Docker API
// (ContainerAPI, ImageAPI, NetworkAPI, VolumeAPI, BuildAPI), each with
// its methods in files of its own, all over one connection (conn): a
// single type had 78 methods. The first three are platform.Engine's three
// parts and each implements its interface there on its own; the fake in
// internal/fakeengine is split the same way (its parts are named for
// platform's, ContainerEngine and so on, since it has nothing beyond
// them). Client embeds its parts rather than handing out views
// (engine.Containers().Run): every caller, through platform.Engine or the
// builders' and services' interfaces, keeps calling engine.Run, and a
// package that needs one part can be given that part alone. A part that
// needs another holds it: containers join their networks through the
// NetworkAPI, and build containers run as the ContainerAPI's one-offs.
package docker

import (
	"context"
	"fmt"
	"strings"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/client"
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

// conn is the connection to one engine and what every part of Client
// needs of it: the network apps run on, and this Berth's identity on the
// engine. The parts share one conn, so SetInstance and SetNetwork, made
// through any of them, hold for all.
type conn struct {
	api     *client.Client
	network string

	// instance is this Berth's ID, stamped on everything it creates and
	// required of everything it lists (see SetInstance).
	instance string
	// legacy are containers made before Berth had an instance ID, adopted
	// once, at the first start of a Berth that has one.
	legacy map[string]bool
}

// Client talks to one Docker engine. It is the engine's parts put
// together, each a type of its own over the one connection, with the
// methods of what it manages:
//
//   - ContainerAPI: containers, one-offs, their logs and events
//     (platform.ContainerEngine);
//   - ImageAPI: local images, and what images, volumes and the build
//     cache take on disk (platform.ImageEngine);
//   - NetworkAPI: the network apps run on and network:create's
//     (platform.NetworkEngine);
//   - VolumeAPI: named volumes (datastores' data, build caches);
//   - BuildAPI: builds (the engine's builder and BuildKit, build
//     containers).
//
// The parts are embedded, so a *Client is the whole engine wherever one
// is asked for (platform.Engine, the builders' and services' interfaces)
// and callers say engine.Run rather than engine.Containers().Run; a
// package that needs one part can be given that part alone.
type Client struct {
	*ContainerAPI
	*ImageAPI
	*NetworkAPI
	*VolumeAPI
	*BuildAPI

	conn *conn
}

// newClient puts the parts together over cn.
func newClient(cn *conn) *Client {
	networks := &NetworkAPI{conn: cn}
	containers := &ContainerAPI{conn: cn, networks: networks}
	return &Client{
		ContainerAPI: containers,
		ImageAPI:     &ImageAPI{conn: cn},
		NetworkAPI:   networks,
		VolumeAPI:    &VolumeAPI{conn: cn},
		BuildAPI:     &BuildAPI{conn: cn, containers: containers},
		conn:         cn,
	}
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
func (c *conn) stamp(given map[string]string) map[string]string {
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
	return newClient(&conn{api: api, network: DefaultNetwork}), nil
}

// Close releases the client's connections.
func (c *Client) Close() error { return c.conn.api.Close() }

// IsNotFound reports whether err says a container or image does not exist.
func IsNotFound(err error) bool { return cerrdefs.IsNotFound(err) }
