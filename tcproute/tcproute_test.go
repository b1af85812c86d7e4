package tcproute

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
)

// fakeApps holds app records in memory.
type fakeApps struct {
	mu   sync.Mutex
	apps map[string]*platform.App
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[name]
	if !ok {
		return nil, platform.ErrAppNotFound
	}
	c := *a
	return &c, nil
}

func (f *fakeApps) AppNames(context.Context) ([]string, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for n := range f.apps {
		out = append(out, n)
	}
	return out, nil
}

func (f *fakeApps) set(app string, portMap ...string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.apps == nil {
		f.apps = map[string]*platform.App{}
	}
	f.apps[app] = &platform.App{Name: app, PortMap: portMap}
}

func (f *fakeApps) remove(app string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.apps, app)
}

// fakeHooks records the hooks the router registers.
type fakeHooks struct {
	destroyed   []func(context.Context, string)
	renameSetup []func(context.Context, string, string) error
	renaming    []func(context.Context, string, string) error
	renamed     []func(context.Context, string, string)
}

func (h *fakeHooks) OnAppDestroyed(f func(context.Context, string)) {
	h.destroyed = append(h.destroyed, f)
}
func (h *fakeHooks) OnAppRenameSetup(f func(context.Context, string, string) error) {
	h.renameSetup = append(h.renameSetup, f)
}
func (h *fakeHooks) OnAppRenaming(f func(context.Context, string, string) error) {
	h.renaming = append(h.renaming, f)
}
func (h *fakeHooks) OnAppRenamed(f func(context.Context, string, string)) {
	h.renamed = append(h.renamed, f)
}

// echo is a backend on loopback that answers each line with its name.
func echo(t *testing.T, name string) (port int) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				s := bufio.NewScanner(c)
				for s.Scan() {
					fmt.Fprintf(c, "%s %s\n", name, s.Text())
				}
			}()
		}
	}()
	return ln.Addr().(*net.TCPAddr).Port
}

// freePort returns a loopback port nothing listens on now.
func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

type env struct {
	apps  *fakeApps
	table *routing.Table
	hooks *fakeHooks
	r     *Router
}

func newEnv(t testing.TB) *env {
	e := &env{apps: &fakeApps{}, table: routing.New(), hooks: &fakeHooks{}}
	e.r = New(Config{Apps: e.apps, Table: e.table, Hooks: e.hooks, HoldTimeout: 300 * time.Millisecond,
		Listen: func(port int) (net.Listener, error) { return net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port)) }})
	t.Cleanup(e.r.Close)
	return e
}

func mapping(host, ctr int) platform.PortMapping {
	return platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: ctr}
}

// mapApp checks, records and syncs app's tcp mapping host → ctr, as
// ports:add does.
func (e *env) mapApp(t testing.TB, app string, host, ctr int) {
	t.Helper()
	if err := e.r.Check(app, []platform.PortMapping{mapping(host, ctr)}, false); err != nil {
		t.Fatal(err)
	}
	e.apps.set(app, mapping(host, ctr).String())
	if err := e.r.Sync(context.Background(), app); err != nil {
		t.Fatal(err)
	}
}

// ask connects to port, sends line and returns the answer.
func ask(t *testing.T, port int, line string) (string, error) {
	t.Helper()
	c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
	if err != nil {
		return "", err
	}
	defer c.Close()
	return askOn(c, line)
}

func askOn(c net.Conn, line string) (string, error) {
	c.SetDeadline(time.Now().Add(3 * time.Second))
	if _, err := fmt.Fprintln(c, line); err != nil {
		return "", err
	}
	s, err := bufio.NewReader(c).ReadString('\n')
	return strings.TrimSpace(s), err
}

func TestForwardsToTheRoutedContainerOnTheMappedPort(t *testing.T) {
	e := newEnv(t)
	ctr := echo(t, "v1")
	// The route's target carries the HTTP port (here 1); the connection
	// goes to the mapping's container port on the target's address.
	e.table.SetTargets("db", []string{"127.0.0.1:1"})
	host := freePort(t)
	e.mapApp(t, "db", host, ctr)
	got, err := ask(t, host, "hello")
	if err != nil || got != "v1 hello" {
		t.Fatalf("got %q, %v; want v1 hello", got, err)
	}
}

func TestSpreadsConnectionsOverTheTargets(t *testing.T) {
	e := newEnv(t)
	// Two "containers" on two loopback addresses, one port.
	ln1, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln1.Addr().(*net.TCPAddr).Port
	ln2, err := net.Listen("tcp", "127.0.0.2:"+strconv.Itoa(port))
	if err != nil {
		ln1.Close()
		t.Skipf("no second loopback address here: %v", err)
	}
	for i, ln := range []net.Listener{ln1, ln2} {
		t.Cleanup(func() { ln.Close() })
		go func() {
			for {
				c, err := ln.Accept()
				if err != nil {
					return
				}
				fmt.Fprintf(c, "c%d\n", i+1)
				c.Close()
			}
		}()
	}
	e.table.SetTargets("db", []string{"127.0.0.1:80", "127.0.0.2:80"})
	host := freePort(t)
	e.mapApp(t, "db", host, port)
	seen := map[string]int{}
	for range 4 {
		got, _ := ask(t, host, "x")
		seen[got]++
	}
	if seen["c1"] != 2 || seen["c2"] != 2 {
		t.Fatalf("connections went %v; want two to each container", seen)
	}
}

func TestNewConnectionsFollowTheRouteWhileOldOnesStay(t *testing.T) {
	e := newEnv(t)
	old, next := echo(t, "v1"), echo(t, "v2")
	if old == next {
		t.Fatal("same port")
	}
	// Two "releases" listening on two ports of one address: the new
	// connections move to the second (here by a ports:set; a deploy's
	// switch moves the route's targets instead, seen the same way).
	e.table.SetTargets("db", []string{"127.0.0.1:80"})
	host := freePort(t)
	e.mapApp(t, "db", host, old)
	held, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
	if err != nil {
		t.Fatal(err)
	}
	defer held.Close()
	if got, err := askOn(held, "a"); err != nil || got != "v1 a" {
		t.Fatalf("got %q, %v", got, err)
	}
	if n := e.table.InFlight.Count("127.0.0.1:80"); n != 1 {
		t.Fatalf("in flight on the old target: %d, want 1 (the drain must wait for the connection)", n)
	}
	// ports:set to the new container port (a deploy's switch changes the
	// targets the same way: only new connections see it).
	e.mapApp(t, "db", host, next)
	if got, err := ask(t, host, "b"); err != nil || got != "v2 b" {
		t.Fatalf("new connection got %q, %v; want v2", got, err)
	}
	if got, err := askOn(held, "c"); err != nil || got != "v1 c" {
		t.Fatalf("held connection got %q, %v; want v1 still", got, err)
	}
	held.Close()
	deadline := time.Now().Add(3 * time.Second)
	for e.table.InFlight.Count("127.0.0.1:80") != 0 {
		if time.Now().After(deadline) {
			t.Fatal("the closed connection is still counted in flight")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestNoTargetClosesTheConnectionAfterTheHold(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	if _, err := ask(t, host, "x"); err == nil {
		t.Fatal("a connection to an app with no container got an answer")
	}
}

func TestDisabledAppServesNoConnection(t *testing.T) {
	e := newEnv(t)
	ctr := echo(t, "v1")
	e.table.SetHostsDisabled("db", []string{"db.example.test"}, true)
	e.table.SetTargets("db", []string{"127.0.0.1:80"})
	host := freePort(t)
	e.mapApp(t, "db", host, ctr)
	if got, err := ask(t, host, "x"); err == nil {
		t.Fatalf("proxy:disable'd app answered %q", got)
	}
}

func TestPortInUseIsRefused(t *testing.T) {
	e := newEnv(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	err = e.r.Check("db", []platform.PortMapping{mapping(port, 5432)}, false)
	if err == nil || !strings.Contains(err.Error(), "in use") {
		t.Fatalf("Check = %v; want in use", err)
	}
}

func TestAnotherAppsPortIsRefused(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	err := e.r.Check("other", []platform.PortMapping{mapping(host, 5432)}, false)
	if err == nil || !strings.Contains(err.Error(), "app db's") {
		t.Fatalf("Check = %v; want it to name app db", err)
	}
}

func TestAPortBeingMappedIsRefusedToAnotherApp(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 5432)}, false); err != nil {
		t.Fatal(err)
	}
	err := e.r.Check("other", []platform.PortMapping{mapping(host, 5432)}, false)
	if err == nil || !strings.Contains(err.Error(), "being mapped by app db") {
		t.Fatalf("Check = %v", err)
	}
}

func TestAHostPortMappedTwiceIsRefused(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	err := e.r.Check("db", []platform.PortMapping{mapping(host, 1), mapping(host, 2)}, false)
	if err == nil || !strings.Contains(err.Error(), "mapped twice") {
		t.Fatalf("Check = %v", err)
	}
}

func TestDeployKeyMapsOnlyTheOpenedRange(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	err := e.r.Check("db", []platform.PortMapping{mapping(host, 5432)}, true)
	if err == nil || !strings.Contains(err.Error(), "tcp_ports") {
		t.Fatalf("deploy key, no range: Check = %v; want refused naming tcp_ports", err)
	}
	e.r.SetDeployKeyPorts(host+1, host+10)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 5432)}, true); err == nil {
		t.Fatal("deploy key mapped a port outside the range")
	}
	e.r.SetDeployKeyPorts(host, host)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 5432)}, true); err != nil {
		t.Fatalf("deploy key, inside the range: %v", err)
	}
}

func TestDeployKeyKeepsAPortAnAdminMapped(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	// ports:set by the app's deploy key that keeps the mapping.
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 5433)}, true); err != nil {
		t.Fatalf("the app's own port: %v", err)
	}
}

func TestRefusedCheckReleasesWhatItBound(t *testing.T) {
	e := newEnv(t)
	free := freePort(t)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := ln.Addr().(*net.TCPAddr).Port
	if err := e.r.Check("db", []platform.PortMapping{mapping(free, 1), mapping(busy, 1)}, false); err == nil {
		t.Fatal("Check took a port in use")
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(free))
	if err != nil {
		t.Fatalf("the free port stayed bound after the refusal: %v", err)
	}
	l.Close()
}

func TestSyncWithoutTheMappingSavedReleasesThePort(t *testing.T) {
	e := newEnv(t)
	e.apps.set("db")
	host := freePort(t)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 1)}, false); err != nil {
		t.Fatal(err)
	}
	// The change failed after the check (a rollout failed): the record
	// does not name the mapping.
	if err := e.r.Sync(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, host)
}

func TestRemovedMappingClosesTheListener(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	e.apps.set("db")
	if err := e.r.Sync(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	assertClosed(t, host)
	if got := e.r.Ports("db"); len(got) != 0 {
		t.Fatalf("Ports = %v", got)
	}
}

func TestDestroyClosesTheListener(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	e.apps.remove("db")
	for _, f := range e.hooks.destroyed {
		f(context.Background(), "db")
	}
	assertClosed(t, host)
}

func TestRenameMovesTheListener(t *testing.T) {
	e := newEnv(t)
	ctr := echo(t, "v1")
	host := freePort(t)
	e.mapApp(t, "db", host, ctr)
	for _, f := range e.hooks.renameSetup {
		f(context.Background(), "db", "pg")
	}
	for _, f := range e.hooks.renamed {
		f(context.Background(), "db", "pg")
	}
	for _, f := range e.hooks.destroyed { // the old name's forgetting
		f(context.Background(), "db")
	}
	e.table.SetTargets("pg", []string{"127.0.0.1:80"})
	if got, err := ask(t, host, "x"); err != nil || got != "v1 x" {
		t.Fatalf("after the rename got %q, %v", got, err)
	}
	if got := e.r.Ports("pg"); len(got) != 1 || got[0] != host {
		t.Fatalf("Ports(pg) = %v", got)
	}
}

func TestAbortedRenameGivesTheListenerBack(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	for _, f := range e.hooks.renameSetup {
		f(context.Background(), "db", "pg")
	}
	for _, f := range e.hooks.destroyed { // the new app forgotten
		f(context.Background(), "pg")
	}
	if got := e.r.Ports("db"); len(got) != 1 {
		t.Fatalf("Ports(db) = %v; want the port back", got)
	}
}

func TestStartServesRecordedMappings(t *testing.T) {
	e := newEnv(t)
	ctr := echo(t, "v1")
	host := freePort(t)
	e.apps.set("db", mapping(host, ctr).String(), "http:80:5000")
	e.table.SetTargets("db", []string{"127.0.0.1:5000"})
	if err := e.r.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(t, host, "x"); err != nil || got != "v1 x" {
		t.Fatalf("got %q, %v", got, err)
	}
}

func TestCloseStopsListeners(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	e.r.Close()
	assertClosed(t, host)
	if err := e.r.Check("db", nil, false); err == nil {
		t.Fatal("Check after Close succeeded")
	}
}

func assertClosed(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(2 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err != nil {
			return
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatalf("port %d still accepts connections", port)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// ports:add of a mapping the app has already is accepted (Dokku's
// ports:add can be re-run): the same mapping twice is one.
func TestAddingAMappingTheAppHasIsAccepted(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	cur := []platform.PortMapping{mapping(host, 5432)}
	if err := e.r.Check("db", append(cur, mapping(host, 5432)), true); err != nil {
		t.Fatalf("ports:add db tcp:%d:5432 a second time: %v", host, err)
	}
}

// A rename that fails in its renaming hooks (after the new app serves,
// so the core does not abandon it) leaves the ports with the new app: a
// later apps:destroy of it closes them rather than handing them to the
// old name, which a new app of that name would then get.
func TestRenameFailedInItsRenamingHooksKeepsThePortsWithTheNewApp(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	for _, f := range e.hooks.renameSetup {
		f(context.Background(), "db", "pg")
	}
	for _, f := range e.hooks.renaming {
		f(context.Background(), "db", "pg")
	}
	// Another renaming hook failed: no renamed hook runs. Later:
	// apps:destroy pg.
	for _, f := range e.hooks.destroyed {
		f(context.Background(), "pg")
	}
	if got := e.r.Ports("db"); len(got) != 0 {
		t.Fatalf("Ports(db) = %v after pg was destroyed; want none", got)
	}
	assertClosed(t, host)
}

// A port being mapped (checked, not yet synced) follows the app's
// destroy and rename as a served one does.
func TestDestroyClosesAPortBeingMapped(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 5432)}, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.hooks.destroyed {
		f(context.Background(), "db")
	}
	assertClosed(t, host)
}

func TestRenameMovesAPortBeingMapped(t *testing.T) {
	e := newEnv(t)
	ctr := echo(t, "v1")
	e.table.SetTargets("pg", []string{"127.0.0.1:1"})
	host := freePort(t)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, ctr)}, false); err != nil {
		t.Fatal(err)
	}
	for _, f := range e.hooks.renameSetup {
		f(context.Background(), "db", "pg")
	}
	e.apps.set("pg", mapping(host, ctr).String())
	if err := e.r.Sync(context.Background(), "pg"); err != nil {
		t.Fatal(err)
	}
	if got, err := ask(t, host, "hi"); err != nil || got != "v1 hi" {
		t.Fatalf("pg's port: %q, %v", got, err)
	}
}

// A port an admin key's change bound and not yet served is no deploy
// key's to take outside tcp_ports either.
func TestDeployKeyMayNotTakeAPortBeingMappedOutsideItsRange(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 5432)}, false); err != nil {
		t.Fatal(err)
	}
	err := e.r.Check("db", []platform.PortMapping{mapping(host, 5433)}, true)
	if err == nil || !strings.Contains(err.Error(), "deploy key") {
		t.Fatalf("a deploy key took port %d, being mapped, outside tcp_ports: %v", host, err)
	}
}

// Whatever left a rename's mark (a renaming hook before the router's
// failed), once the old app is destroyed its ports are nobody's to get
// back: destroying the new app closes them.
func TestDestroyOfTheOldNameEndsARenamesMark(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	e.mapApp(t, "db", host, 5432)
	for _, f := range e.hooks.renameSetup {
		f(context.Background(), "db", "pg")
	}
	for _, app := range []string{"db", "pg"} {
		for _, f := range e.hooks.destroyed {
			f(context.Background(), app)
		}
	}
	if got := e.r.Ports("db"); len(got) != 0 {
		t.Fatalf("Ports(db) = %v after db and pg were destroyed; want none", got)
	}
	assertClosed(t, host)
}
