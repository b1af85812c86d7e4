package commands

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

type recordingTCP struct {
	app       string
	next      []platform.PortMapping
	deployKey bool
}

func (r *recordingTCP) Check(app string, next []platform.PortMapping, deployKey bool) error {
	r.app, r.next, r.deployKey = app, next, deployKey
	return nil
}
func (r *recordingTCP) Sync(context.Context, string) error { return nil }

func tcpMapping(host, ctr int) platform.PortMapping {
	return platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: ctr}
}

func TestWithoutATCPRouterTCPMappingsAreRefused(t *testing.T) {
	change := withTCP(context.Background(), &Backend{}, "db", func([]platform.PortMapping) ([]platform.PortMapping, error) {
		return []platform.PortMapping{tcpMapping(15432, 5432)}, nil
	})
	if _, err := change(nil); err == nil || !strings.Contains(err.Error(), "not served") {
		t.Fatalf("change = %v; want refused", err)
	}
}

func TestTCPCheckSeesTheNewMappingsAndWhoAsks(t *testing.T) {
	rec := &recordingTCP{}
	ctx := platform.AsDeployKey(context.Background())
	change := withTCP(ctx, &Backend{TCP: rec}, "db", func(cur []platform.PortMapping) ([]platform.PortMapping, error) {
		return append(cur, tcpMapping(15432, 5432)), nil
	})
	next, err := change([]platform.PortMapping{{Scheme: "http", HostPort: 80, ContainerPort: 5000}})
	if err != nil {
		t.Fatal(err)
	}
	if rec.app != "db" || len(rec.next) != 2 || !rec.deployKey || len(next) != 2 {
		t.Fatalf("Check saw app %q, %v, deploy key %t; change gave %v", rec.app, rec.next, rec.deployKey, next)
	}
}
