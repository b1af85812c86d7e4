package swarm

// Node engines: how Berth reaches the Docker engine of a swarm node other
// than its own (scheduler-swarm:set --global node-engine NODE ENDPOINT,
// issue 18), for what only a task's own engine does: exec into its
// container (enter) and read its resource use (ps:report's figures).
// Logs need none of it: the manager fetches a task's output from its node
// (Docker's task logs).
//
// Swarm gives no such path: the manager's API has no exec or stats of a
// task, and a node's engine listens on its local socket only unless its
// owner opens a TCP endpoint (dockerd -H tcp://...). So each node's
// endpoint is a setting, named by its admin, with Docker's own TLS
// convention: a directory holding ca.pem (the CA that signed the engine's
// certificate), cert.pem and key.pem (the client's, which dockerd
// --tlsverify checks), as DOCKER_CERT_PATH is. An engine's API is root on
// its node, so plain TCP is taken only when asked for by name
// (--plain-tcp: a private network that nothing but Berth reaches).
//
// Checked when set, not at the first enter: the node is one of the
// swarm's (named by ID or hostname, kept by ID), not the Berth server's
// own (its tasks are reached through Berth's engine), and the engine at
// the endpoint answers, over TLS with those files, as that node (its
// swarm node ID): an endpoint that names another server is refused, and
// so is every later connection to it that does not say it is the node
// (Client). An exec goes only into a container whose engine says it runs
// the task the manager named.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
	"github.com/moby/moby/client"
)

// nodeEnginesKey is the node engines' document in the store.
const nodeEnginesKey = "settings/swarm-node-engines"

// NodeEngine is one node's engine endpoint.
type NodeEngine struct {
	// Node is the node's swarm ID; Hostname its hostname when it was set
	// (for the reports: a node keeps its ID, a hostname may change).
	Node     string `json:"node"`
	Hostname string `json:"hostname"`
	// Endpoint is tcp://HOST:PORT.
	Endpoint string `json:"endpoint"`
	// TLSDir holds ca.pem, cert.pem and key.pem ("" with PlainTCP).
	TLSDir   string `json:"tls_dir,omitempty"`
	PlainTCP bool   `json:"plain_tcp,omitempty"`
}

type nodeEnginesDoc struct {
	Nodes []NodeEngine `json:"nodes"`
}

// NodeClient is what Berth asks of a node's engine (*docker.Client).
type NodeClient interface {
	platform.Execer
	Usage(ctx context.Context, nameOrID string) (docker.Usage, error)
	SwarmNodeID(ctx context.Context) (string, error)
	SwarmTaskOf(ctx context.Context, id string) (string, error)
	Close() error
}

// NodeEngines are the node engine settings and the clients of those
// engines, opened at their first use and kept while the setting stays.
// Make them with NewNodeEngines.
type NodeEngines struct {
	store   store.Store
	api     API
	connect func(ctx context.Context, endpoint, certDir string) (NodeClient, error)

	mu      sync.Mutex
	clients map[string]nodeClient // by node ID
	// opening serialises the opening of one node's client (by node ID):
	// a dial and a check take up to seconds, done outside mu so that a
	// dead engine stalls no call about another node.
	opening map[string]*sync.Mutex
	// failed is each node's last failed opening, given again until its
	// time is up instead of a new dial: a dead engine would otherwise
	// cost every enter and every metrics sample its full timeout.
	failed map[string]nodeFailure
	now    func() time.Time
}

// retryAfter is how long a node engine that could not be reached is
// not tried again (the error is returned meanwhile).
const retryAfter = 30 * time.Second

// nodeCheckTimeout bounds the question "which node are you" asked of an
// engine that answered its ping.
var nodeCheckTimeout = 10 * time.Second

type nodeFailure struct {
	cfg   NodeEngine
	err   error
	until time.Time
}

type nodeClient struct {
	cfg NodeEngine
	cli NodeClient
}

// NewNodeEngines returns the settings kept in st, for the swarm whose
// manager is api.
func NewNodeEngines(st store.Store, api API) *NodeEngines {
	return &NodeEngines{store: st, api: api, clients: map[string]nodeClient{},
		opening: map[string]*sync.Mutex{}, failed: map[string]nodeFailure{}, now: time.Now,
		connect: func(ctx context.Context, endpoint, certDir string) (NodeClient, error) {
			return docker.ConnectNode(ctx, endpoint, certDir)
		}}
}

func (e *NodeEngines) read(ctx context.Context) (nodeEnginesDoc, error) {
	var d nodeEnginesDoc
	err := store.GetJSON(ctx, e.store, nodeEnginesKey, &d, "the swarm node engines ("+nodeEnginesKey+")")
	return d, err
}

func (e *NodeEngines) write(ctx context.Context, d nodeEnginesDoc) error {
	b, err := json.MarshalIndent(d, "", "  ")
	if err != nil {
		return err
	}
	return e.store.Put(ctx, nodeEnginesKey, b)
}

// List returns the settings, by hostname.
func (e *NodeEngines) List(ctx context.Context) ([]NodeEngine, error) {
	d, err := e.read(ctx)
	if err != nil {
		return nil, err
	}
	slices.SortFunc(d.Nodes, func(x, y NodeEngine) int { return strings.Compare(x.Hostname+x.Node, y.Hostname+y.Node) })
	return d.Nodes, nil
}

// ParseEndpoint checks a node engine's endpoint: tcp://HOST:PORT.
func ParseEndpoint(endpoint string) error {
	bad := func(why string) error {
		return fmt.Errorf("node engine endpoint %q: %s; write tcp://HOST:PORT, the address the node's dockerd listens on (dockerd -H tcp://0.0.0.0:2376 --tlsverify ...; 2376 is Docker's TLS port)", endpoint, why)
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return bad(err.Error())
	}
	if u.Scheme != "tcp" {
		return bad("not tcp://")
	}
	if u.User != nil || (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "" {
		return bad("only a host and a port")
	}
	host, port, err := net.SplitHostPort(u.Host)
	if err != nil || host == "" || port == "" {
		return bad("no HOST:PORT")
	}
	return nil
}

// checkTLSDir checks that dir holds Docker's three client files.
func checkTLSDir(dir string) error {
	if !filepath.IsAbs(dir) {
		return fmt.Errorf("--tls-dir %q: give an absolute path on the Berth server", dir)
	}
	for _, f := range []string{docker.TLSCAFile, docker.TLSCertFile, docker.TLSKeyFile} {
		// Read, not only found: a file Berth cannot read (its mode, a
		// directory of that name) fails here rather than at each dial.
		if _, err := os.ReadFile(filepath.Join(dir, f)); err != nil {
			return fmt.Errorf("--tls-dir %s: no readable %s (the directory holds ca.pem, cert.pem and key.pem, as DOCKER_CERT_PATH does): %v", dir, f, err)
		}
	}
	return nil
}

// Set names node's engine (endpoint empty: forgets it). node is a node's
// ID or hostname. Exactly one of tlsDir and plainTCP is given with an
// endpoint. The engine must answer as that node; nothing changes
// otherwise. It returns what was kept (the zero value once forgotten).
func (e *NodeEngines) Set(ctx context.Context, node, endpoint, tlsDir string, plainTCP bool) (NodeEngine, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.read(ctx)
	if err != nil {
		return NodeEngine{}, err
	}
	if endpoint == "" {
		if tlsDir != "" || plainTCP {
			return NodeEngine{}, fmt.Errorf("--tls-dir and --plain-tcp go with an endpoint; with none, the node's engine setting is removed")
		}
		i := slices.IndexFunc(d.Nodes, func(n NodeEngine) bool { return n.Node == node || n.Hostname == node })
		if i < 0 {
			return NodeEngine{}, fmt.Errorf("no node engine is set for %q (scheduler-swarm:report --global lists them)", node)
		}
		gone := d.Nodes[i].Node
		d.Nodes = slices.Delete(d.Nodes, i, i+1)
		if err := e.write(ctx, d); err != nil {
			return NodeEngine{}, err
		}
		e.drop(gone)
		return NodeEngine{}, nil
	}
	if err := ParseEndpoint(endpoint); err != nil {
		return NodeEngine{}, err
	}
	switch {
	case tlsDir != "" && plainTCP:
		return NodeEngine{}, fmt.Errorf("give --tls-dir or --plain-tcp, not both")
	case tlsDir == "" && !plainTCP:
		return NodeEngine{}, fmt.Errorf("give --tls-dir DIR (ca.pem, cert.pem, key.pem: the node's dockerd runs with --tlsverify), or --plain-tcp for an engine on a private network that nothing but Berth reaches (its API is root on the node)")
	case tlsDir != "":
		tlsDir = filepath.Clean(tlsDir)
		if err := checkTLSDir(tlsDir); err != nil {
			return NodeEngine{}, err
		}
	}
	id, hostname, err := e.resolve(ctx, node)
	if err != nil {
		return NodeEngine{}, err
	}
	cfg := NodeEngine{Node: id, Hostname: hostname, Endpoint: endpoint, TLSDir: tlsDir, PlainTCP: plainTCP}
	cli, err := e.open(ctx, cfg)
	if err != nil {
		return NodeEngine{}, fmt.Errorf("%w; nothing was changed", err)
	}
	if i := slices.IndexFunc(d.Nodes, func(n NodeEngine) bool { return n.Node == id }); i >= 0 {
		d.Nodes[i] = cfg
	} else {
		d.Nodes = append(d.Nodes, cfg)
	}
	if err := e.write(ctx, d); err != nil {
		cli.Close()
		return NodeEngine{}, err
	}
	e.drop(id)
	e.clients[id] = nodeClient{cfg: cfg, cli: cli}
	return cfg, nil
}

// resolve finds node (an ID or a hostname) among the swarm's nodes, the
// Berth server's own excepted.
func (e *NodeEngines) resolve(ctx context.Context, node string) (id, hostname string, err error) {
	info, err := e.api.Info(ctx, client.InfoOptions{})
	if err != nil {
		return "", "", err
	}
	if info.Info.Swarm.NodeID == "" || !info.Info.Swarm.ControlAvailable {
		return "", "", errNotSwarm
	}
	res, err := e.api.NodeList(ctx, client.NodeListOptions{})
	if err != nil {
		return "", "", err
	}
	var names []string
	var found []string
	for _, n := range res.Items {
		names = append(names, n.Description.Hostname+" ("+shortID(n.ID)+")")
		if n.ID == node || n.Description.Hostname == node {
			found = append(found, n.ID)
			id, hostname = n.ID, n.Description.Hostname
		}
	}
	switch {
	case len(found) == 0:
		return "", "", fmt.Errorf("no swarm node is %q: name a node by its ID or hostname (docker node ls): %s", node, strings.Join(names, ", "))
	case len(found) > 1:
		return "", "", fmt.Errorf("%d swarm nodes have the hostname %q: name the node by its ID (docker node ls)", len(found), node)
	case id == info.Info.Swarm.NodeID:
		return "", "", fmt.Errorf("%s is the Berth server's own node: its tasks are reached through Berth's engine, with no setting", node)
	}
	return id, hostname, nil
}

// open connects to cfg's engine and checks that it is cfg's node.
func (e *NodeEngines) open(ctx context.Context, cfg NodeEngine) (NodeClient, error) {
	cli, err := e.connect(ctx, cfg.Endpoint, cfg.TLSDir)
	if err != nil {
		return nil, fmt.Errorf("the engine of node %s: %w", cfg.name(), err)
	}
	checkCtx, cancel := context.WithTimeout(ctx, nodeCheckTimeout)
	got, err := cli.SwarmNodeID(checkCtx)
	cancel()
	if err != nil {
		cli.Close()
		return nil, fmt.Errorf("the engine of node %s at %s: %w", cfg.name(), cfg.Endpoint, err)
	}
	if got != cfg.Node {
		cli.Close()
		return nil, fmt.Errorf("the engine at %s is not node %s: it says it is swarm node %q; give the endpoint of that node's own dockerd", cfg.Endpoint, cfg.name(), got)
	}
	return cli, nil
}

func (n NodeEngine) name() string {
	if n.Hostname == "" {
		return n.Node
	}
	return n.Hostname + " (" + shortID(n.Node) + ")"
}

// drop closes the client of node, if one is open, and forgets its last
// failure. Under e.mu.
func (e *NodeEngines) drop(node string) {
	delete(e.failed, node)
	if c, ok := e.clients[node]; ok {
		c.cli.Close()
		delete(e.clients, node)
	}
}

// Client returns the client of node's engine; ok is false when no
// engine is set for node. A client is opened outside e.mu (one opening
// per node at a time), so an engine that does not answer delays only the
// calls about its own node; a failed opening is returned again, with no
// new dial, for retryAfter.
func (e *NodeEngines) Client(ctx context.Context, node string) (cli NodeClient, ok bool, err error) {
	if e == nil {
		return nil, false, nil
	}
	cfg, cli, ok, err := e.cached(ctx, node)
	if cli != nil || !ok || err != nil {
		return cli, ok, err
	}
	e.mu.Lock()
	lock := e.opening[node]
	if lock == nil {
		lock = &sync.Mutex{}
		e.opening[node] = lock
	}
	e.mu.Unlock()
	lock.Lock()
	defer lock.Unlock()
	// Another call may have opened it, or failed, while this one waited.
	if cfg, cli, ok, err = e.cached(ctx, node); cli != nil || !ok || err != nil {
		return cli, ok, err
	}
	cli, err = e.open(ctx, cfg)
	e.mu.Lock()
	defer e.mu.Unlock()
	// The setting may have changed during the opening: keep the result
	// only for the setting that is still there.
	d, rerr := e.read(ctx)
	if rerr != nil {
		if cli != nil {
			cli.Close()
		}
		return nil, false, rerr
	}
	i := slices.IndexFunc(d.Nodes, func(n NodeEngine) bool { return n.Node == node })
	if i < 0 || d.Nodes[i] != cfg {
		if cli != nil {
			cli.Close()
		}
		return nil, i >= 0, fmt.Errorf("the engine setting of node %s changed while Berth connected to it; try again", cfg.name())
	}
	if err != nil {
		// A caller that gave up (its context ended) says nothing of the engine.
		if ctx.Err() == nil {
			e.failed[node] = nodeFailure{cfg: cfg, err: err, until: e.now().Add(retryAfter)}
		}
		return nil, true, err
	}
	e.drop(node)
	e.clients[node] = nodeClient{cfg: cfg, cli: cli}
	return cli, true, nil
}

// cached is node's setting and, when one is kept for that setting, its
// client or its recent failure; cli is nil and err nil when the client
// is to be opened.
func (e *NodeEngines) cached(ctx context.Context, node string) (cfg NodeEngine, cli NodeClient, ok bool, err error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	d, err := e.read(ctx)
	if err != nil {
		return cfg, nil, false, err
	}
	i := slices.IndexFunc(d.Nodes, func(n NodeEngine) bool { return n.Node == node })
	if i < 0 {
		e.drop(node)
		return cfg, nil, false, nil
	}
	cfg = d.Nodes[i]
	if c, ok := e.clients[node]; ok && c.cfg == cfg {
		return cfg, c.cli, true, nil
	}
	if f, ok := e.failed[node]; ok && f.cfg == cfg {
		if now := e.now(); now.Before(f.until) {
			return cfg, nil, true, fmt.Errorf("%w (Berth tries that engine again in %s, at %s UTC, or at once after scheduler-swarm:set --global node-engine)",
				f.err, f.until.Sub(now).Round(time.Second), f.until.UTC().Format(time.TimeOnly))
		}
	}
	return cfg, nil, true, nil
}

// Close closes the clients.
func (e *NodeEngines) Close() {
	if e == nil {
		return
	}
	e.mu.Lock()
	defer e.mu.Unlock()
	for id := range e.clients {
		e.drop(id)
	}
}
