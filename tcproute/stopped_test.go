package tcproute

import (
	"context"
	"errors"
	"net"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-paas/berth/platform"
)

// fatalOnce fails its first Accept with an error that does not pass
// (calling onFail first, when set), then accepts normally.
type fatalOnce struct {
	net.Listener
	failed atomic.Bool
	onFail func()
}

func (l *fatalOnce) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		time.Sleep(50 * time.Millisecond)
		if l.onFail != nil {
			l.onFail()
		}
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: errors.New("permanent")}
	}
	return l.Listener.Accept()
}

// stoppingListen returns a Listen whose first listener stops on its
// first Accept (calling onFail), the others plain loopback listeners;
// while refuse is set, it refuses, as for a port another program took.
func stoppingListen(refuse *atomic.Bool, onFail func()) func(port int) (net.Listener, error) {
	var first atomic.Bool
	return func(port int) (net.Listener, error) {
		if refuse.Load() {
			return nil, errors.New("address already in use")
		}
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil || first.Swap(true) {
			return ln, err
		}
		return &fatalOnce{Listener: ln, onFail: onFail}, nil
	}
}

// waitStopped waits until port's first listener stopped (its accept loop
// ended and listenerStopped ran).
func waitStopped(t *testing.T, e *env, port int, first *listener) {
	t.Helper()
	for deadline := time.Now().Add(3 * time.Second); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		e.r.mu.Lock()
		l := e.r.listeners[port]
		done := l != first || l.stopped
		e.r.mu.Unlock()
		if done {
			return
		}
	}
	t.Fatal("the listener did not stop")
}

// A listener whose accept loop stops on an error that does not pass is
// bound again at once for its app, which serves on; the port is never
// free for another app's mapping meanwhile.
func TestAStoppedListenerIsBoundAgainForItsApp(t *testing.T) {
	e := newEnv(t)
	e.r.cfg.Listen = stoppingListen(new(atomic.Bool), nil)
	ctr := echo(t, "a")
	e.table.SetTargets("a", []string{"127.0.0.1:1"})
	host := freePort(t)
	e.mapApp(t, "a", host, ctr)
	e.r.mu.Lock()
	first := e.r.listeners[host]
	e.r.mu.Unlock()
	waitStopped(t, e, host, first)
	if got, err := ask(t, host, "hi"); err != nil || got != "a hi" {
		t.Fatalf("after its listener stopped, app a's mapping does not serve: %q, %v", got, err)
	}
	if err := e.r.Check("b", []platform.PortMapping{mapping(host, 80)}, false); err == nil {
		t.Fatalf("app b could map port %d, which app a's record names", host)
	}
	if err := e.r.Sync(context.Background(), "a"); err != nil {
		t.Fatalf("app a's Sync: %v", err)
	}
	if got := e.r.Ports("a"); len(got) != 1 || got[0] != host {
		t.Fatalf("app a serves %v; want [%d]", got, host)
	}
}

// When the port cannot be bound again at once, it stays app a's: another
// app's Check is refused, and a's next Sync binds it and serves.
func TestAStoppedListenerNotBoundAgainKeepsThePortForItsApp(t *testing.T) {
	e := newEnv(t)
	// The port is taken from the moment the listener stops until the
	// test looks: binding it again then fails.
	var refuse atomic.Bool
	e.r.cfg.Listen = stoppingListen(&refuse, func() { refuse.Store(true) })
	ctr := echo(t, "a")
	e.table.SetTargets("a", []string{"127.0.0.1:1"})
	host := freePort(t)
	e.mapApp(t, "a", host, ctr)
	e.r.mu.Lock()
	first := e.r.listeners[host]
	e.r.mu.Unlock()
	waitStopped(t, e, host, first)
	refuse.Store(false)
	if got := e.r.Ports("a"); len(got) != 0 {
		t.Fatalf("app a reported as serving %v with its listener stopped", got)
	}
	e.r.SetDeployKeyPorts(host, host)
	if err := e.r.Check("b", []platform.PortMapping{mapping(host, 80)}, true); err == nil {
		t.Fatalf("app b could map port %d, which app a's record names", host)
	}
	if err := e.r.Check("a", []platform.PortMapping{mapping(host, ctr)}, true); err != nil {
		t.Fatalf("app a's own ports change refused: %v", err)
	}
	if err := e.r.Sync(context.Background(), "a"); err != nil {
		t.Fatalf("app a's Sync: %v", err)
	}
	if got, err := ask(t, host, "hi"); err != nil || got != "a hi" {
		t.Fatalf("after a's Sync its mapping does not serve: %q, %v", got, err)
	}
}
