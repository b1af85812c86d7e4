package swarm

// Placement: which nodes an app's tasks may run on (scheduler-swarm:set
// APP placement CONSTRAINT..., issue 18). The constraints are Swarm's own
// (`docker service create --constraint`'s), kept on the app's record
// (platform.App.SwarmPlacement, changed through the core's UpdateApp under
// the app's lock, so that rename and clone carry them and destroy drops
// them with no hook of this package's), and put on the services of the
// app's next rollout: each generation is a service of its own, so a
// change applies to the services Berth makes next: a deploy (ps:restart),
// and also a scale-down (a new generation) or a scale of a process type
// that had no service; a scale-up of a running type adds tasks to its
// existing service, under the constraints it was made with.
//
// They are checked when set, not when the next deploy creates a service:
// a constraint Swarm would refuse (its syntax: KEY==VALUE or KEY!=VALUE,
// swarmkit's key and value patterns) is refused, and so is one Swarm
// would take but no node could ever match (a key it does not know, a role
// other than manager or worker, an address that is not one): its tasks
// would wait forever for a node, and the deploy would fail only at its
// timeout.

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"regexp"
	"strings"

	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/api/types/swarm"
)

// swarmkit's patterns (manager/constraint): a key, and a value that holds
// no operator of the present or the future (<, >, ~...).
var (
	constraintKey   = regexp.MustCompile(`^(?i)[a-z_][a-z0-9\-_.]+$`)
	constraintValue = regexp.MustCompile(`^(?i)[a-z0-9:\-_\s\.\*\(\)\?\+\[\]\\\^\$\|\/]+$`)
)

// constraintKeys are the keys Swarm matches nodes on; node.labels.NAME and
// engine.labels.NAME besides.
var constraintKeys = []string{"node.id", "node.hostname", "node.ip", "node.role", "node.platform.os", "node.platform.arch"}

// ParseConstraint checks one placement constraint and returns it in
// Swarm's form with the spaces around its operator trimmed.
func ParseConstraint(c string) (string, error) {
	var op string
	for _, o := range []string{"==", "!="} {
		if strings.Contains(c, o) {
			op = o
			break
		}
	}
	bad := func(why string) error {
		return fmt.Errorf("placement constraint %q: %s; write KEY==VALUE or KEY!=VALUE, KEY one of %s, node.labels.NAME, engine.labels.NAME (as docker service create --constraint)", c, why, strings.Join(constraintKeys, ", "))
	}
	if op == "" {
		return "", bad("no == or != in it")
	}
	k, v, _ := strings.Cut(c, op)
	k, v = strings.TrimSpace(k), strings.TrimSpace(v)
	if !constraintKey.MatchString(k) {
		return "", bad(fmt.Sprintf("%q is not a key Swarm takes", k))
	}
	if !constraintValue.MatchString(v) {
		return "", bad(fmt.Sprintf("%q is not a value Swarm takes (letters, digits and :-_.*()?+[]\\^$|/ only; no other operator)", v))
	}
	lk := strings.ToLower(k)
	switch {
	case lk == "node.role":
		if r := strings.ToLower(v); r != "manager" && r != "worker" {
			return "", bad(fmt.Sprintf("node.role is manager or worker, not %q", v))
		}
	case lk == "node.ip":
		if net.ParseIP(v) == nil {
			if _, _, err := net.ParseCIDR(v); err != nil {
				return "", bad(fmt.Sprintf("node.ip is an address or a network (10.0.0.0/24), not %q", v))
			}
		}
	case strings.HasPrefix(lk, "node.labels.") && len(lk) > len("node.labels."),
		strings.HasPrefix(lk, "engine.labels.") && len(lk) > len("engine.labels."):
	default:
		found := false
		for _, known := range constraintKeys {
			found = found || lk == known
		}
		if !found {
			return "", bad(fmt.Sprintf("Swarm matches no node on %q", k))
		}
	}
	return k + op + v, nil
}

// Apps is what the placement settings need of the app core
// (*platform.Platform).
type Apps interface {
	App(ctx context.Context, name string) (*platform.App, error)
	// UpdateApp changes an app's record under its lock; an error from
	// change leaves it as it was.
	UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error
}

// Settings are the swarm scheduler's settings (scheduler-swarm:set,
// scheduler-swarm:report): each app's placement, and the global node
// engines (nodeengine.go). Make them with NewSettings.
type Settings struct {
	apps  Apps
	nodes *NodeEngines
}

// NewSettings returns the settings kept on apps' records, and the node
// engines of nodes (nil: none can be set).
func NewSettings(apps Apps, nodes *NodeEngines) *Settings {
	return &Settings{apps: apps, nodes: nodes}
}

// Properties are the properties scheduler-swarm:set takes of an app;
// GlobalProperties those it takes with --global.
var (
	Properties       = []string{"placement"}
	GlobalProperties = []string{"node-engine"}
)

// SetNodeEngine is scheduler-swarm:set --global node-engine NODE
// [ENDPOINT (--tls-dir DIR | --plain-tcp)] (NodeEngines.Set).
func (s *Settings) SetNodeEngine(ctx context.Context, node, endpoint, tlsDir string, plainTCP bool) (NodeEngine, error) {
	if s.nodes == nil {
		return NodeEngine{}, fmt.Errorf("this Berth has no swarm scheduler to set node engines of")
	}
	return s.nodes.Set(ctx, node, endpoint, tlsDir, plainTCP)
}

// Set sets property of app (scheduler-swarm:set APP placement C...): the
// constraints, each checked; none clears them. It returns what was kept.
func (s *Settings) Set(ctx context.Context, app, property string, values []string) ([]string, error) {
	if property != "placement" {
		return nil, fmt.Errorf("unknown scheduler-swarm property %q: use %s", property, strings.Join(Properties, ", "))
	}
	var cs []string
	for _, v := range values {
		c, err := ParseConstraint(v)
		if err != nil {
			return nil, err
		}
		cs = append(cs, c)
	}
	err := s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		a.SwarmPlacement = cs
		return nil
	})
	return cs, err
}

// Report is scheduler-swarm:report's: an app's (App set), or the global
// one (App empty).
type Report struct {
	App string `json:"app"`
	// Placement are the constraints the app's next rollout puts on its
	// services (none: any node).
	Placement []string `json:"placement"`
	// NodeEngines are the engines Berth reaches the other nodes at (the
	// global report).
	NodeEngines []NodeEngine `json:"node_engines"`
}

// MarshalJSON writes an app's report as {app, placement} and the global
// one as {node_engines}: neither has the other's fields.
func (r Report) MarshalJSON() ([]byte, error) {
	if r.App == "" {
		return json.Marshal(struct {
			NodeEngines []NodeEngine `json:"node_engines"`
		}{r.NodeEngines})
	}
	return json.Marshal(struct {
		App       string   `json:"app"`
		Placement []string `json:"placement"`
	}{r.App, r.Placement})
}

// GlobalReport is the global report: the node engines.
func (s *Settings) GlobalReport(ctx context.Context) (Report, error) {
	r := Report{NodeEngines: []NodeEngine{}}
	if s.nodes == nil {
		return r, nil
	}
	l, err := s.nodes.List(ctx)
	if l != nil {
		r.NodeEngines = l
	}
	return r, err
}

// Report is app's report.
func (s *Settings) Report(ctx context.Context, app string) (Report, error) {
	a, err := s.apps.App(ctx, app)
	if err != nil {
		return Report{}, err
	}
	return Report{App: app, Placement: append([]string{}, a.SwarmPlacement...)}, nil
}

// placement is the placement of a's services: its constraints, nil when
// it has none.
func placement(a *platform.App) *swarm.Placement {
	if len(a.SwarmPlacement) == 0 {
		return nil
	}
	return &swarm.Placement{Constraints: append([]string{}, a.SwarmPlacement...)}
}
