package tcproute

import (
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// The ports parsing (platform) lets tcp mappings through with any host
// port, and keeps refusing the schemes nothing serves.
func TestParseTakesTCPWithAnyHostPort(t *testing.T) {
	m, err := platform.ParsePortMapping("tcp:15432:5432")
	if err != nil || m != mapping(15432, 5432) {
		t.Fatalf("ParsePortMapping = %v, %v", m, err)
	}
	if _, err := platform.ParsePortMapping("udp:53:53"); err == nil || !strings.Contains(err.Error(), "not supported yet") {
		t.Fatalf("udp: %v", err)
	}
}

// A tcp mapping does not change the port Caddy proxies HTTP to.
func TestProxyPortIgnoresTCPMappings(t *testing.T) {
	rel := platform.Release{Port: 5000}
	a := &platform.App{PortMap: []string{"tcp:15432:5432"}}
	if got := a.ProxyPort(rel); got != 5000 {
		t.Fatalf("ProxyPort = %d; want the release's 5000", got)
	}
	a.PortMap = []string{"tcp:15432:5432", "http:80:7000"}
	if got := a.ProxyPort(rel); got != 7000 {
		t.Fatalf("ProxyPort = %d; want the http mapping's 7000", got)
	}
}

// tcp:HOST:CONTAINER:TYPE names a process type; web is the default.
func TestParseTakesAProcessTypeForTCP(t *testing.T) {
	m, err := platform.ParsePortMapping("tcp:18081:5001:api")
	if err != nil || m.Process != "api" || m.String() != "tcp:18081:5001:api" {
		t.Fatalf("ParsePortMapping = %+v, %v", m, err)
	}
	if m, err := platform.ParsePortMapping("tcp:18081:5001:web"); err != nil || m.Process != "" || m.String() != "tcp:18081:5001" {
		t.Fatalf("web: %+v, %v", m, err)
	}
	for _, bad := range []string{"tcp:18081:5001:Bad Type", "http:80:5000:api"} {
		if _, err := platform.ParsePortMapping(bad); err == nil {
			t.Errorf("%q was taken", bad)
		}
	}
}
