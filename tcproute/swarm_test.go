package tcproute

import (
	"testing"

	"github.com/berth-paas/berth/platform"
)

// A swarm app's route targets are NODE-IP:PUBLISHED-PORT; swapping the
// port for a mapping's container port (which a deploy key picks) would
// reach any port of the node, e.g. Caddy's admin API on loopback. The
// router serves no tcp mapping of an app another scheduler runs, even one
// on its record: its route says its targets are remote (Route.Remote,
// written with them), which the router reads instead of the app record.
func TestTCPMappingOfASwarmAppReachesNoPortOfTheNode(t *testing.T) {
	e := newEnv(t)
	admin := echo(t, "caddy-admin") // stands for 127.0.0.1:2019
	// What the route controller writes of swarm.Targets: remote targets.
	e.table.SetTargetsFrom("sw", []string{"127.0.0.1:32768"}, true)
	host := freePort(t)
	if err := e.r.Check("sw", []platform.PortMapping{mapping(host, admin)}, false); err != nil {
		t.Fatal(err)
	}
	e.apps.set("sw", mapping(host, admin).String())
	if err := e.r.Sync(t.Context(), "sw"); err != nil {
		t.Fatal(err)
	}
	got, _ := ask(t, host, "GET /config/")
	if got != "" {
		t.Errorf("a tcp mapping of a swarm app reached a loopback service on port %d: %q", admin, got)
	}
}
