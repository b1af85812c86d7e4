package tcproute

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// countingEngine counts ListRunning calls; it lists nothing.
type countingEngine struct{ n atomic.Int64 }

func (c *countingEngine) ListRunning(context.Context, ...string) ([]docker.Container, error) {
	c.n.Add(1)
	return nil, nil
}

// Connections waiting for a process type's container share its engine
// listing: engine calls do not grow with the connections (20 idle
// connections made hundreds of calls, one per connection every 100 ms).
func TestWaitingConnectionsShareTheProcessListing(t *testing.T) {
	e := newEnv(t)
	ce := &countingEngine{}
	e.r.cfg.Engine = ce
	e.r.cfg.ProcessTargetsTTL = time.Hour // one listing for the whole test
	e.table.SetHosts("svc", []string{"svc.example.test"})
	host := freePort(t)
	m := platform.PortMapping{Scheme: "tcp", HostPort: host, ContainerPort: 1, Process: "api"}
	if err := e.r.Check("svc", []platform.PortMapping{m}, false); err != nil {
		t.Fatal(err)
	}
	e.apps.set("svc", m.String())
	e.apps.apps["svc"].Generation = 1
	if err := e.r.Sync(context.Background(), "svc"); err != nil {
		t.Fatal(err)
	}
	var conns []net.Conn
	for range 20 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for _, c := range conns { // each is closed after its hold, no target
		c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("a connection with no target: %v; want closed", err)
		}
		c.Close()
	}
	if n := ce.n.Load(); n != 1 {
		t.Fatalf("20 waiting connections listed the containers %d times; want 1", n)
	}
}

// A mapping takes at most its cap of connections at once; one over it
// is closed at once, the open ones go on.
func TestConnectionsOverTheCapAreClosedAtOnce(t *testing.T) {
	e := newEnv(t)
	e.r.SetMaxConns(2)
	var log lockedBuffer
	e.r.log = slog.New(slog.NewTextHandler(&log, nil))
	ctr := echo(t, "v1")
	e.table.SetTargets("db", []string{"127.0.0.1:1"})
	host := freePort(t)
	e.mapApp(t, "db", host, ctr)
	var open []net.Conn
	for range 2 {
		c, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		if got, err := askOn(c, "hi"); err != nil || got != "v1 hi" {
			t.Fatalf("a connection under the cap: %q, %v", got, err)
		}
		open = append(open, c)
	}
	over, err := net.Dial("tcp", "127.0.0.1:"+strconv.Itoa(host))
	if err != nil {
		t.Fatal(err)
	}
	defer over.Close()
	if got, err := askOn(over, "hi"); err == nil {
		t.Fatalf("a connection over the cap was served: %q", got)
	}
	if !strings.Contains(log.String(), "at its connection cap") || !strings.Contains(log.String(), "tcp_max_connections") {
		t.Fatalf("the cap bit without a log line saying what to do: %s", log.String())
	}
	for _, c := range open {
		if got, err := askOn(c, "again"); err != nil || got != "v1 again" {
			t.Fatalf("an open connection after the cap bit: %q, %v", got, err)
		}
	}
	// One closing makes room.
	open[0].Close()
	var got string
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		if got, err = ask(t, host, "room"); err == nil {
			break
		}
	}
	if got != "v1 room" {
		t.Fatalf("after one closed: %q, %v", got, err)
	}
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
