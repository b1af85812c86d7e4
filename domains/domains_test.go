package domains_test

import (
	"bytes"
	"github.com/berth-paas/berth/deploy"
	"io"
	"slices"
	"strings"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/domains"
	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/platform"
)

// The dashboard's host is no app's: not as a domain it adds.
func TestAReservedHostIsNoAppsDomain(t *testing.T) {
	b := newBed(t)
	b.d.Resolver().SetReservedHosts([]string{"berth.example.test"})
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	err := b.d.Change(b.ctx, "blog", "add", []string{"berth.example.test"})
	if err == nil || !strings.Contains(err.Error(), "Berth's dashboard host") {
		t.Fatalf("adding the dashboard's host: %v", err)
	}
	if r, ok := b.table.Lookup("berth.example.test"); ok {
		t.Fatalf("the dashboard's host is routed to %s", r.App)
	}
}

// Nor as a default host under a global domain: an app named like the
// dashboard's label does not get it.
func TestAReservedHostIsNoAppsDefaultHost(t *testing.T) {
	b := newBed(t)
	b.d.Resolver().SetReservedHosts([]string{"berth.example.test"})
	if err := b.p.Create(b.ctx, "berth"); err != nil {
		t.Fatal(err)
	}
	if hosts, err := b.p.Hosts(b.ctx, "berth"); err != nil || len(hosts) != 0 {
		t.Fatalf("hosts of app berth: %v, %v; want none", hosts, err)
	}
	if _, ok := b.table.Lookup("berth.example.test"); ok {
		t.Fatal("the dashboard's host is routed")
	}
}

// A host reserved after an app stored it as its own can still be
// removed from the app (the reserved check is for what is added).
func TestAReservedHostStoredEarlierCanBeRemoved(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Change(b.ctx, "blog", "add", []string{"admin.example.org"}); err != nil {
		t.Fatal(err)
	}
	b.d.Resolver().SetReservedHosts([]string{"admin.example.org"})
	if err := b.d.Change(b.ctx, "blog", "remove", []string{"admin.example.org"}); err != nil {
		t.Fatalf("removing a domain that became reserved: %v", err)
	}
}

// Global domains added by command come after the Caddyfile's, and give
// every app a default host under them at once.
func TestAGlobalDomainGivesEveryAppAHost(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.ChangeGlobal(b.ctx, "add", []string{"other.test"}); err != nil {
		t.Fatal(err)
	}
	if got := b.d.GlobalDomains(); !slices.Equal(got, []string{"example.test", "other.test"}) {
		t.Fatalf("global domains %q", got)
	}
	if r, ok := b.table.Lookup("blog.other.test"); !ok || r.App != "blog" {
		t.Fatalf("blog.other.test goes to %v", r)
	}
	g, err := b.p.Globals().Settings(b.ctx)
	if err != nil || !slices.Equal(g.Domains, []string{"other.test"}) {
		t.Fatalf("settings/global's domains %q, %v; want the added one only", g.Domains, err)
	}
}

// A host the HTTP server does not place falls back to http://HOST.
func TestURLsFallBackToPlainHTTP(t *testing.T) {
	r := domains.NewResolver()
	r.SetURLs(func(h string) (string, bool) { return "https://" + h, h == "a.test" })
	if got := r.URLsFor([]string{"a.test", "b.test"}); !slices.Equal(got, []string{"https://a.test", "http://b.test"}) {
		t.Fatalf("URLs %q", got)
	}
	r.SetURLs(nil)
	if got := r.URLsFor([]string{"a.test"}); !slices.Equal(got, []string{"http://a.test"}) {
		t.Fatalf("URLs after SetURLs(nil) %q", got)
	}
}

// The report gives the default hosts, the own ones and their URLs.
func TestReportShowsDefaultOwnAndURLs(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if err := b.d.Change(b.ctx, "blog", "add", []string{"www.blog.test"}); err != nil {
		t.Fatal(err)
	}
	r, err := b.d.Report(b.ctx, "blog")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(r.Default, []string{"blog.example.test"}) || !slices.Equal(r.Own, []string{"www.blog.test"}) ||
		!slices.Equal(r.URLs, []string{"http://blog.example.test", "http://www.blog.test"}) || r.Enabled == nil || !*r.Enabled {
		t.Fatalf("report %+v", r)
	}
}

// Mappings to two container ports are refused, and nothing is saved.
func TestPortsToTwoContainerPortsAreRefused(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	two := []platform.PortMapping{{Scheme: "http", HostPort: 80, ContainerPort: 5000}, {Scheme: "https", HostPort: 443, ContainerPort: 6000}}
	err := b.d.ChangePorts(b.ctx, "blog", func([]platform.PortMapping) ([]platform.PortMapping, error) { return two, nil }, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "one container port") {
		t.Fatalf("two container ports: %v", err)
	}
	if r, err := b.d.Ports(b.ctx, "blog"); err != nil || len(r.Map) != 0 {
		t.Fatalf("ports after the refusal: %+v, %v", r, err)
	}
}

// An app not deployed yet only records its mappings (duplicates once),
// and rolls nothing out.
func TestPortsOfAnAppNotDeployedAreRecorded(t *testing.T) {
	b := newBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	m := platform.PortMapping{Scheme: "http", HostPort: 80, ContainerPort: 3000}
	var log bytes.Buffer
	if err := b.d.ChangePorts(b.ctx, "blog", func([]platform.PortMapping) ([]platform.PortMapping, error) { return []platform.PortMapping{m, m}, nil }, &log); err != nil {
		t.Fatal(err)
	}
	r, err := b.d.Ports(b.ctx, "blog")
	if err != nil || !slices.Equal(r.Map, []platform.PortMapping{m}) || !slices.Equal(r.Effective, r.Map) || len(r.Detected) != 0 {
		t.Fatalf("ports %+v, %v", r, err)
	}
	if log.Len() != 0 {
		t.Fatalf("an app with no release restarted: %q", log.String())
	}
	a, err := b.p.App(b.ctx, "blog")
	if err != nil || !slices.Equal(a.PortMap, []string{"http:80:3000"}) {
		t.Fatalf("the record's port_map %q, %v", a.PortMap, err)
	}
}

func webEnv(t *testing.T, engine *fakeengine.Engine, app string) [][]string {
	t.Helper()
	var envs [][]string
	for _, c := range engine.Containers() {
		if c.Labels[docker.LabelApp] == app && c.Running && !c.OneOff {
			envs = append(envs, c.Env)
		}
	}
	return envs
}

func setPort(port int) domains.PortChange {
	return func([]platform.PortMapping) ([]platform.PortMapping, error) {
		return []platform.PortMapping{{Scheme: "http", HostPort: 80, ContainerPort: port}}, nil
	}
}

// A running app whose proxied port changes rolls out again with PORT set
// to it, and the mapping is recorded.
func TestAPortChangeRollsTheAppOutOnTheNewPort(t *testing.T) {
	b, engine := newDeployBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.deploy.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Image: "app:v1", Reason: "test", Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
	var log bytes.Buffer
	if err := b.d.ChangePorts(b.ctx, "blog", setPort(3000), &log); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "Caddy proxies to port 3000 now (was 5000)") {
		t.Fatalf("log %q", log.String())
	}
	envs := webEnv(t, engine, "blog")
	if len(envs) != 1 || !slices.Contains(envs[0], "PORT=3000") {
		t.Fatalf("running containers' environments %q, want one with PORT=3000", envs)
	}
	if a, err := b.p.App(b.ctx, "blog"); err != nil || !slices.Equal(a.PortMap, []string{"http:80:3000"}) {
		t.Fatalf("the record's port_map %q, %v", a.PortMap, err)
	}
}

// A port change whose rollout fails changes nothing: the mapping is not
// recorded and the running release keeps serving on its port.
func TestAFailedPortChangeKeepsTheRunningRelease(t *testing.T) {
	b, engine := newDeployBed(t)
	if err := b.p.Create(b.ctx, "blog"); err != nil {
		t.Fatal(err)
	}
	if _, err := b.deploy.Deploy(b.ctx, deploy.DeployRequest{App: "blog", Image: "app:v1", Reason: "test", Log: io.Discard}); err != nil {
		t.Fatal(err)
	}
	engine.BehaviorOf = func(c fakeengine.Container) fakeengine.Behavior {
		return fakeengine.Behavior{Silent: slices.Contains(c.Env, "PORT=3000")}
	}
	if err := b.d.ChangePorts(b.ctx, "blog", setPort(3000), io.Discard); err == nil {
		t.Fatal("a port change whose containers never listen succeeded")
	}
	if a, err := b.p.App(b.ctx, "blog"); err != nil || len(a.PortMap) != 0 {
		t.Fatalf("the record's port_map %q, %v; want none", a.PortMap, err)
	}
	envs := webEnv(t, engine, "blog")
	if len(envs) != 1 || !slices.Contains(envs[0], "PORT=5000") {
		t.Fatalf("running containers' environments %q, want the old one, PORT=5000", envs)
	}
	if r, ok := b.table.App("blog"); !ok || len(r.Targets) != 1 {
		t.Fatalf("blog's route %+v, want its old container", r)
	}
}
