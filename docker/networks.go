package docker

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
	"github.com/moby/moby/client/pkg/versions"
)

// NetworkAPI is the part of Client that manages networks: the one
// apps run on, on which the proxy dials them, and those of
// network:create. It implements platform.NetworkEngine.
type NetworkAPI struct {
	*conn
}

// Network is the name of the network apps run on.
func (c *NetworkAPI) Network() string { return c.network }

// SetNetwork names the network apps run on instead of DefaultNetwork (the
// tests race EnsureNetwork on a network of their own). Call it before the
// client is used.
func (c *NetworkAPI) SetNetwork(name string) { c.network = name }

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
func (c *NetworkAPI) EnsureNetwork(ctx context.Context) error {
	return c.ensureNetwork(ctx, c.network, client.NetworkCreateOptions{
		Driver: "bridge",
		Labels: map[string]string{"berth.managed": "true"},
	})
}

// Overlay is the name of Berth's attachable overlay network (the bridge
// network's name and "-overlay": berth-overlay): the datastores linked to
// swarm apps join it beside Berth's bridge, and those apps' tasks join
// it, on whichever node they run.
func (c *NetworkAPI) Overlay() string { return c.network + "-overlay" }

// EnsureOverlay creates Berth's attachable overlay network unless it
// exists. It needs the engine to be a swarm manager. Racing creators (two
// links at once, two Berths) end with one network, as EnsureNetwork's do:
// the swarm's store refuses a second swarm network of one name, and a
// racer that lost takes the refusal as success.
// A network of that name that is not an attachable swarm overlay (one
// made by hand, a bridge left from elsewhere) is refused: swarm tasks and
// datastores could not meet on it.
func (c *NetworkAPI) EnsureOverlay(ctx context.Context) error {
	name := c.Overlay()
	if err := c.ensureNetwork(ctx, name, client.NetworkCreateOptions{
		Driver:     "overlay",
		Attachable: true,
		Labels:     map[string]string{"berth.managed": "true"},
	}); err != nil {
		return err
	}
	nets, err := c.waitAllocated(ctx, name)
	if err != nil {
		return err
	}
	for _, n := range nets {
		// A swarm network the manager has stored but its allocator has
		// not yet handled lists with no driver (the engine reads the
		// driver from the allocation, not from the request): a creator
		// that lists right after creating sees that. Only swarm makes
		// swarm-scoped networks, and Berth asked for an overlay, so an
		// empty driver there is Berth's overlay on its way.
		driverOK := n.Driver == "overlay" || (n.Driver == "" && n.Scope == "swarm")
		if !driverOK || n.Scope != "swarm" || !n.Attachable {
			return fmt.Errorf("docker: the network %s (%s) is not Berth's overlay: it has driver %q, scope %q, attachable %v, where Berth needs an attachable swarm overlay; remove it (docker network rm %s, once nothing uses it) and Berth makes its own at the next swarm rollout or link",
				name, shortNetID(n.ID), n.Driver, n.Scope, n.Attachable, name)
		}
	}
	return nil
}

// overlayAllocationWait bounds how long EnsureOverlay waits for the swarm
// to allocate an overlay just created (milliseconds on an idle manager).
var overlayAllocationWait = 10 * time.Second

// waitAllocated lists the networks called name until none is a swarm
// network still waiting for its allocation (listed with no driver), or
// overlayAllocationWait has passed: containers connected to it and tasks
// placed on it meet a network ready for them.
func (c *NetworkAPI) waitAllocated(ctx context.Context, name string) ([]network.Summary, error) {
	deadline := time.Now().Add(overlayAllocationWait)
	for {
		nets, err := c.networksNamed(ctx, name)
		if err != nil {
			return nil, err
		}
		pending := slices.ContainsFunc(nets, func(n network.Summary) bool { return n.Driver == "" && n.Scope == "swarm" })
		if !pending || time.Now().After(deadline) {
			return nets, nil
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func shortNetID(id string) string {
	if len(id) > 12 {
		return id[:12]
	}
	return id
}

// ensureNetwork creates the network name with opts unless one of that
// name exists, and heals the duplicates racing creators left.
func (c *NetworkAPI) ensureNetwork(ctx context.Context, name string, opts client.NetworkCreateOptions) error {
	networkMu.Lock()
	defer networkMu.Unlock()
	nets, err := c.networksNamed(ctx, name)
	if err != nil {
		return err
	}
	if len(nets) == 1 {
		return nil
	}
	if len(nets) == 0 {
		_, err := c.createNetworkChecked(ctx, name, opts)
		if err != nil && !isDuplicateNetwork(err) {
			// Another process may have created it first, and not every
			// engine says so as a conflict: a swarm manager answers 500,
			// "name conflicts with an existing object". The network being
			// there now is the answer, whatever the error said.
			if now, lerr := c.networksNamed(ctx, name); lerr != nil || len(now) == 0 {
				return fmt.Errorf("docker: create network %s: %w", name, err)
			}
		}
	}
	return c.healNetwork(ctx, name)
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
func (c *NetworkAPI) networksNamed(ctx context.Context, name string) ([]network.Summary, error) {
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
func (c *NetworkAPI) healNetwork(ctx context.Context, name string) error {
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
func (c *NetworkAPI) createNetworkChecked(ctx context.Context, name string, opts client.NetworkCreateOptions) (id string, err error) {
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

// MaxBridgeContainers is how many containers one Docker bridge network
// holds: it is one Linux bridge, whose ports are numbered 1 to 1,023
// (BR_MAX_PORTS is 1,024, port 0 unused). The next one fails to start
// with "exchange full" (ENFILE), measured with the scale benchmark on
// 2026-12-02: the 1,024th app container of one network was refused.
const MaxBridgeContainers = 1023

// explainBridgeFull says what Docker's "exchange full" means when a
// container cannot join a bridge network that already holds
// MaxBridgeContainers; other errors are returned as they are.
func explainBridgeFull(err error) error {
	if err == nil || !strings.Contains(err.Error(), "exchange full") {
		return err
	}
	return fmt.Errorf("%w: the network is full (a Docker bridge network holds at most %d containers, Linux's limit per bridge); "+
		"scale processes down (ps:scale) or destroy unused apps and one-off containers to make room, or run more apps on another host", err, MaxBridgeContainers)
}

// Connect joins a container to a network under the attachment's aliases;
// one that is already joined is left as it is.
func (c *NetworkAPI) Connect(ctx context.Context, id string, a Attachment) error {
	_, err := c.api.NetworkConnect(ctx, a.Network, client.NetworkConnectOptions{
		Container:      id,
		EndpointConfig: &network.EndpointSettings{Aliases: a.Aliases},
	})
	if err != nil && !strings.Contains(err.Error(), "already exists in network") {
		if cerrdefs.IsNotFound(err) && strings.Contains(strings.ToLower(err.Error()), "no such container") {
			// The container went (a datastore's, re-made meanwhile): the
			// network is there; the caller's container ID is stale.
			return fmt.Errorf("docker: container %s no longer exists, so it cannot join network %s (it was removed or made again meanwhile; retry): %w", id, a.Network, err)
		}
		if cerrdefs.IsNotFound(err) {
			return fmt.Errorf("docker: network %s does not exist (create it with network:create %s, or change the app's network:set)", a.Network, a.Network)
		}
		return fmt.Errorf("docker: connect container %s to network %s: %w", id, a.Network, explainBridgeFull(err))
	}
	return nil
}

// Disconnect takes a container off a network; one that is not on it, or
// a network or container that is gone, is left as it is.
func (c *NetworkAPI) Disconnect(ctx context.Context, id, network string) error {
	_, err := c.api.NetworkDisconnect(ctx, network, client.NetworkDisconnectOptions{Container: id})
	if err != nil && !cerrdefs.IsNotFound(err) && !strings.Contains(err.Error(), "is not connected") {
		return fmt.Errorf("docker: disconnect container %s from network %s: %w", id, network, err)
	}
	return nil
}

// NetworkInfo is what Berth shows of a Docker network.
type NetworkInfo struct {
	Name     string   `json:"name"`
	ID       string   `json:"id"`
	Driver   string   `json:"driver"`
	Internal bool     `json:"internal"`
	Subnets  []string `json:"subnets,omitempty"`
	// Berth says whether network:create made it.
	Berth bool `json:"berth"`
	// Containers are the names of the containers attached to it.
	Containers []string `json:"containers,omitempty"`
}

// LabelNetwork marks a network made by network:create.
const LabelNetwork = "berth.network"

// ErrNetworkInUse is returned when a network cannot be removed because
// containers are attached to it.
var ErrNetworkInUse = errors.New("network in use")

// CreateNetwork makes an attachable bridge network labelled as Berth's.
func (c *NetworkAPI) CreateNetwork(ctx context.Context, name string) error {
	// Docker before API 1.44 allows two networks of one name; Berth's
	// commands name networks, so it refuses a second one: one creator at
	// a time here, CheckDuplicate for the engine, and a creator that
	// still raced another process (the engine checks without a lock)
	// removes its own network again unless it is the older one.
	networkMu.Lock()
	defer networkMu.Unlock()
	if _, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{}); err == nil {
		return fmt.Errorf("a network named %s already exists", name)
	} else if !cerrdefs.IsNotFound(err) {
		return fmt.Errorf("docker: inspect network %s: %w", name, err)
	}
	id, err := c.createNetworkChecked(ctx, name, client.NetworkCreateOptions{
		Driver:     "bridge",
		Attachable: true,
		Labels:     map[string]string{LabelNetwork: "true", LabelInstance: c.instance},
	})
	if err != nil {
		if isDuplicateNetwork(err) {
			return fmt.Errorf("a network named %s already exists", name)
		}
		return fmt.Errorf("docker: create network %s: %w", name, err)
	}
	nets, err := c.networksNamed(ctx, name)
	if err != nil {
		return err
	}
	if len(nets) > 1 && nets[0].ID != id {
		if _, err := c.api.NetworkRemove(context.WithoutCancel(ctx), id, client.NetworkRemoveOptions{}); err != nil && !cerrdefs.IsNotFound(err) {
			return fmt.Errorf("another process created network %s at the same time, and this one's duplicate %s cannot be removed (remove it with `docker network rm %[2]s`): %w", name, id, err)
		}
		return fmt.Errorf("a network named %s already exists", name)
	}
	return nil
}

// InspectNetwork describes a network; the error satisfies IsNotFound when
// there is none by that name.
func (c *NetworkAPI) InspectNetwork(ctx context.Context, name string) (NetworkInfo, error) {
	res, err := c.api.NetworkInspect(ctx, name, client.NetworkInspectOptions{})
	if err != nil {
		return NetworkInfo{}, fmt.Errorf("docker: inspect network %s: %w", name, err)
	}
	n := res.Network
	info := NetworkInfo{Name: n.Name, ID: n.ID, Driver: n.Driver, Internal: n.Internal, Berth: c.ownsNetwork(n.Labels)}
	for _, cfg := range n.IPAM.Config {
		if cfg.Subnet.IsValid() {
			info.Subnets = append(info.Subnets, cfg.Subnet.String())
		}
	}
	for _, ep := range n.Containers {
		info.Containers = append(info.Containers, ep.Name)
	}
	slices.Sort(info.Containers)
	return info, nil
}

// Networks lists the engine's networks by name.
func (c *NetworkAPI) Networks(ctx context.Context) ([]NetworkInfo, error) {
	res, err := c.api.NetworkList(ctx, client.NetworkListOptions{})
	if err != nil {
		return nil, fmt.Errorf("docker: list networks: %w", err)
	}
	out := make([]NetworkInfo, 0, len(res.Items))
	for _, n := range res.Items {
		out = append(out, NetworkInfo{Name: n.Name, ID: n.ID, Driver: n.Driver, Internal: n.Internal, Berth: c.ownsNetwork(n.Labels)})
	}
	slices.SortFunc(out, func(a, b NetworkInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

// ownsNetwork reports whether network:create of this Berth made a network
// with labels. One made by a Berth from before instance IDs has none, and
// is taken as this Berth's: a network holds no data, and one in use
// cannot be removed.
func (c *NetworkAPI) ownsNetwork(labels map[string]string) bool {
	if labels[LabelNetwork] != "true" {
		return false
	}
	inst, ok := labels[LabelInstance]
	return !ok || inst == c.instance
}

// RemoveNetwork deletes a network. A network with attached containers is
// refused with ErrNetworkInUse.
func (c *NetworkAPI) RemoveNetwork(ctx context.Context, name string) error {
	_, err := c.api.NetworkRemove(ctx, name, client.NetworkRemoveOptions{})
	if err != nil {
		if strings.Contains(err.Error(), "active endpoints") {
			return fmt.Errorf("%w: containers are still attached to %s", ErrNetworkInUse, name)
		}
		return fmt.Errorf("docker: remove network %s: %w", name, err)
	}
	return nil
}

var networkName = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_.-]{0,62}$`)

// ValidNetworkName checks a name Docker accepts for a network.
func ValidNetworkName(name string) error {
	if !networkName.MatchString(name) {
		return fmt.Errorf("%q is not a network name: use letters, digits, '_', '.' and '-', starting with a letter or digit", name)
	}
	return nil
}
