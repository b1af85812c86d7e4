package swarm

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// fakeNode is a node's engine: it says it is node id, runs tasks (by
// container ID) and reports each container's use.
type fakeNode struct {
	id     string
	tasks  map[string]string // container → task
	closed bool
	hang   bool // SwarmNodeID answers only when its context ends
}

func (f *fakeNode) ExecAttached(context.Context, string, []string, []string, docker.Streams) (int, error) {
	return 0, nil
}
func (f *fakeNode) Usage(_ context.Context, id string) (docker.Usage, error) {
	if _, ok := f.tasks[id]; !ok {
		return docker.Usage{}, errors.New("no such container")
	}
	return docker.Usage{CPU: time.Second, Memory: 42 << 20, Read: time.Now()}, nil
}
func (f *fakeNode) SwarmNodeID(ctx context.Context) (string, error) {
	if f.hang {
		<-ctx.Done()
		return "", ctx.Err()
	}
	return f.id, nil
}
func (f *fakeNode) SwarmTaskOf(_ context.Context, id string) (string, error) {
	t, ok := f.tasks[id]
	if !ok {
		return "", errors.New("no such container")
	}
	return t, nil
}
func (f *fakeNode) Close() error { f.closed = true; return nil }

// localEngine is Berth's own engine's figures.
type localEngine struct{}

func (localEngine) Usage(_ context.Context, id string) (docker.Usage, error) {
	return docker.Usage{CPU: 2 * time.Second, Memory: 7 << 20, Read: time.Now()}, nil
}

// tlsDir is a directory with Docker's three client files.
func tlsDir(t *testing.T) string {
	dir := t.TempDir()
	for _, f := range []string{"ca.pem", "cert.pem", "key.pem"} {
		if err := os.WriteFile(filepath.Join(dir, f), []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// withNodeEngines is newTasks whose node "far" answers at
// tcp://10.0.0.2:2376 as far (engines maps endpoints to engines).
func withNodeEngines(t *testing.T) (*Scheduler, *tasksAPI, *NodeEngines, map[string]*fakeNode) {
	s, api := newTasks()
	engines := map[string]*fakeNode{"tcp://10.0.0.2:2376": {id: "far", tasks: map[string]string{"c-k1": "k1"}}}
	ne := NewNodeEngines(&store.Files{Dir: t.TempDir()}, api)
	ne.connect = func(_ context.Context, endpoint, _ string) (NodeClient, error) {
		e, ok := engines[endpoint]
		if !ok {
			return nil, errors.New("connection refused")
		}
		return e, nil
	}
	s.nodeEngines, s.local = ne, localEngine{}
	return s, api, ne, engines
}

func TestNodeEngineSetRefusesWhatWouldNotReachTheNode(t *testing.T) {
	_, _, ne, engines := withNodeEngines(t)
	engines["tcp://10.0.0.9:2376"] = &fakeNode{id: "other"}
	dir := tlsDir(t)
	for _, tc := range []struct {
		node, endpoint, dir string
		plain               bool
		want                string
	}{
		{"worker-1", "10.0.0.2:2376", dir, false, "write tcp://HOST:PORT"},
		{"worker-1", "unix:///var/run/docker.sock", dir, false, "not tcp://"},
		{"worker-1", "tcp://10.0.0.2", dir, false, "no HOST:PORT"},
		{"worker-1", "tcp://10.0.0.2:2376/x", dir, false, "only a host and a port"},
		{"worker-1", "tcp://10.0.0.2:2376", "", false, "give --tls-dir DIR"},
		{"worker-1", "tcp://10.0.0.2:2376", dir, true, "not both"},
		{"worker-1", "tcp://10.0.0.2:2376", t.TempDir(), false, "no readable ca.pem"},
		{"worker-1", "tcp://10.0.0.2:2376", "certs", false, "absolute path"},
		{"worker-9", "tcp://10.0.0.2:2376", dir, false, `no swarm node is "worker-9"`},
		{"berth", "tcp://10.0.0.1:2376", dir, false, "the Berth server's own node"},
		{"worker-1", "tcp://10.0.0.3:2376", dir, false, "connection refused; nothing was changed"},
		{"worker-1", "tcp://10.0.0.9:2376", dir, false, `is not node worker-1 (far): it says it is swarm node "other"`},
	} {
		_, err := ne.Set(context.Background(), tc.node, tc.endpoint, tc.dir, tc.plain)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Set(%s, %s, %q, %v) = %v; want %q", tc.node, tc.endpoint, tc.dir, tc.plain, err, tc.want)
		}
	}
	if l, err := ne.List(context.Background()); err != nil || len(l) != 0 {
		t.Fatalf("kept %v, %v; want nothing", l, err)
	}
}

func TestEnterAndUsagesReachATaskOfAnotherNodeThroughItsEngine(t *testing.T) {
	s, _, ne, engines := withNodeEngines(t)
	far := engines["tcp://10.0.0.2:2376"]
	// Without the setting: no figures of the far task; Berth's engine
	// gives those of the tasks here.
	u, err := s.Usages(context.Background(), blog)
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := u["blog_worker_3.1"]; ok || u["blog_web_3.1"].Memory != 7<<20 {
		t.Fatalf("usages without the setting: %v", u)
	}
	dir := tlsDir(t)
	kept, err := ne.Set(context.Background(), "worker-1", "tcp://10.0.0.2:2376", dir, false)
	if err != nil {
		t.Fatal(err)
	}
	if kept != (NodeEngine{Node: "far", Hostname: "worker-1", Endpoint: "tcp://10.0.0.2:2376", TLSDir: dir}) {
		t.Fatalf("kept %+v", kept)
	}
	tg, err := s.EnterTarget(context.Background(), blog, "worker")
	if err != nil || tg.Container != "c-k1" || tg.Engine != NodeClient(far) {
		t.Fatalf("enter worker: %+v, %v; want c-k1 on the far node's engine", tg, err)
	}
	u, err = s.Usages(context.Background(), blog)
	if err != nil || u["blog_worker_3.1"].Memory != 42<<20 || u["blog_web_3.1"].Memory != 7<<20 {
		t.Fatalf("usages: %v, %v", u, err)
	}
	// An engine whose container is not the task the manager named (the
	// setting points at another engine that has that ID, say) is
	// refused, and gives no figures.
	far.tasks["c-k1"] = "someone-else"
	if _, err := s.EnterTarget(context.Background(), blog, "worker"); err == nil || !strings.Contains(err.Error(), "is not its task's") {
		t.Fatalf("enter a container of another task: %v", err)
	}
	if u, _ := s.Usages(context.Background(), blog); len(u) != 1 {
		t.Fatalf("usages of another task's container: %v", u)
	}
	// Removed by hostname: the client goes, and enter says what to set.
	if _, err := ne.Set(context.Background(), "worker-1", "", "", false); err != nil {
		t.Fatal(err)
	}
	if !far.closed {
		t.Fatal("the removed node's client stays open")
	}
	if _, err := s.EnterTarget(context.Background(), blog, "worker"); err == nil || !strings.Contains(err.Error(), "node-engine worker-1") {
		t.Fatalf("enter after removal: %v", err)
	}
	if _, err := ne.Set(context.Background(), "worker-1", "", "", false); err == nil || !strings.Contains(err.Error(), "no node engine is set") {
		t.Fatalf("second removal: %v", err)
	}
}

func TestNodeEnginePlainTCPOnlyWhenAskedFor(t *testing.T) {
	_, _, ne, _ := withNodeEngines(t)
	kept, err := ne.Set(context.Background(), "far", "tcp://10.0.0.2:2376", "", true)
	if err != nil || !kept.PlainTCP || kept.TLSDir != "" {
		t.Fatalf("plain: %+v, %v", kept, err)
	}
	l, err := ne.List(context.Background())
	if err != nil || len(l) != 1 || l[0] != kept {
		t.Fatalf("list %v, %v", l, err)
	}
}

// setEngines writes the node engine settings as Set would keep them.
func setEngines(t *testing.T, ne *NodeEngines, nodes ...NodeEngine) {
	t.Helper()
	if err := ne.write(context.Background(), nodeEnginesDoc{Nodes: nodes}); err != nil {
		t.Fatal(err)
	}
}

// A node engine that does not answer delays the calls about its own node
// only: not enter or the figures of a task on another node.
func TestNodeEngineThatHangsDoesNotStallOtherNodes(t *testing.T) {
	_, _, ne, _ := withNodeEngines(t)
	far := &fakeNode{id: "far"}
	dialing, release := make(chan struct{}), make(chan struct{})
	ne.connect = func(_ context.Context, endpoint, _ string) (NodeClient, error) {
		if endpoint == "tcp://10.0.0.9:2376" {
			close(dialing)
			<-release
			return nil, errors.New("i/o timeout")
		}
		return far, nil
	}
	setEngines(t, ne, NodeEngine{Node: "dead", Endpoint: "tcp://10.0.0.9:2376", PlainTCP: true},
		NodeEngine{Node: "far", Endpoint: "tcp://10.0.0.2:2376", PlainTCP: true})
	deadDone := make(chan error)
	go func() {
		_, _, err := ne.Client(context.Background(), "dead")
		deadDone <- err
	}()
	<-dialing
	farDone := make(chan error, 1)
	go func() {
		cli, ok, err := ne.Client(context.Background(), "far")
		if err == nil && (!ok || cli != NodeClient(far)) {
			err = errors.New("not the far node's client")
		}
		farDone <- err
	}()
	select {
	case err := <-farDone:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Error("the far node's client waits for the dead node's dial")
	}
	close(release)
	if err := <-deadDone; err == nil {
		t.Fatal("the dead node's client opened")
	}
}

// A failed opening is remembered: the error comes back, saying when the
// engine is tried again, with no new dial until then.
func TestNodeEngineFailureIsRememberedForAWhile(t *testing.T) {
	_, _, ne, _ := withNodeEngines(t)
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	ne.now = func() time.Time { return now }
	dials := 0
	ne.connect = func(context.Context, string, string) (NodeClient, error) {
		dials++
		return nil, errors.New("connection refused")
	}
	setEngines(t, ne, NodeEngine{Node: "dead", Endpoint: "tcp://10.0.0.9:2376", PlainTCP: true})
	for i := 0; i < 3; i++ {
		_, ok, err := ne.Client(context.Background(), "dead")
		if !ok || err == nil || !strings.Contains(err.Error(), "connection refused") {
			t.Fatalf("attempt %d: ok %v, %v", i, ok, err)
		}
		if i > 0 && !strings.Contains(err.Error(), "again in 30s, at 03:04:35 UTC") {
			t.Fatalf("attempt %d does not say when the engine is retried: %v", i, err)
		}
	}
	if dials != 1 {
		t.Fatalf("%d dials in 3 calls within %s", dials, retryAfter)
	}
	now = now.Add(retryAfter)
	if _, _, err := ne.Client(context.Background(), "dead"); err == nil || dials != 2 {
		t.Fatalf("after %s: %d dials, %v", retryAfter, dials, err)
	}
	// A new setting is tried at once.
	setEngines(t, ne, NodeEngine{Node: "dead", Endpoint: "tcp://10.0.0.10:2376", PlainTCP: true})
	if _, _, err := ne.Client(context.Background(), "dead"); err == nil || dials != 3 {
		t.Fatalf("after a new setting: %d dials, %v", dials, err)
	}
}

// An engine that answers its ping but not the question of which node it
// is does not hold the caller past nodeCheckTimeout.
func TestNodeEngineCheckHasATimeout(t *testing.T) {
	_, _, ne, engines := withNodeEngines(t)
	engines["tcp://10.0.0.2:2376"].hang = true
	defer func(d time.Duration) { nodeCheckTimeout = d }(nodeCheckTimeout)
	nodeCheckTimeout = 50 * time.Millisecond
	setEngines(t, ne, NodeEngine{Node: "far", Endpoint: "tcp://10.0.0.2:2376", PlainTCP: true})
	done := make(chan error, 1)
	go func() {
		_, _, err := ne.Client(context.Background(), "far")
		done <- err
	}()
	select {
	case err := <-done:
		if !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("got %v, want the check's deadline", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the node check has no timeout")
	}
}

// --tls-dir's files are read when set: a key.pem that is a directory is
// refused then.
func TestCheckTLSDirReadsTheFiles(t *testing.T) {
	dir := tlsDir(t)
	if err := checkTLSDir(dir); err != nil {
		t.Fatal(err)
	}
	key := filepath.Join(dir, "key.pem")
	if err := os.Remove(key); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(key, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := checkTLSDir(dir); err == nil || !strings.Contains(err.Error(), "no readable key.pem") {
		t.Fatalf("key.pem a directory: %v", err)
	}
}

var _ platform.Execer = (*fakeNode)(nil)
