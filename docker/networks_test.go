package docker

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/moby/moby/client"
)

// fakeEngine is an engine API that answers handle's paths (the version
// prefix cut off).
func fakeEngine(t *testing.T, handle func(w http.ResponseWriter, r *http.Request, path string)) *NetworkAPI {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		path := r.URL.Path
		if i := strings.Index(path[1:], "/"); strings.HasPrefix(path, "/v") && i > 0 {
			path = path[i+1:]
		}
		handle(w, r, path)
	}))
	t.Cleanup(srv.Close)
	api, err := client.New(client.WithHost("tcp://"+srv.Listener.Addr().String()), client.WithAPIVersion("1.44"))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { api.Close() })
	return &NetworkAPI{conn: &conn{api: api, network: "berth"}}
}

// A network named berth-overlay that is not an attachable swarm overlay
// is not taken for Berth's.
func TestEnsureOverlayRefusesAnotherKindOfNetwork(t *testing.T) {
	defer func(w time.Duration) { overlayAllocationWait = w }(overlayAllocationWait)
	overlayAllocationWait = 0
	for _, tc := range []struct {
		net  string
		want string // "" for success
	}{
		{`{"Name":"berth-overlay","Id":"n1","Driver":"overlay","Scope":"swarm","Attachable":true}`, ""},
		// Just created and still not allocated when the wait ends: no
		// driver yet, but swarm-scoped, so Berth's (CI's failure at
		// 16627af refused it).
		{`{"Name":"berth-overlay","Id":"n1","Driver":"","Scope":"swarm","Attachable":true}`, ""},
		{`{"Name":"berth-overlay","Id":"n1","Driver":"","Scope":"local","Attachable":true}`, `driver ""`},
		{`{"Name":"berth-overlay","Id":"n1","Driver":"bridge","Scope":"local","Attachable":false}`, `driver "bridge"`},
		{`{"Name":"berth-overlay","Id":"n1","Driver":"overlay","Scope":"swarm","Attachable":false}`, "attachable false"},
	} {
		c := fakeEngine(t, func(w http.ResponseWriter, r *http.Request, path string) {
			if path == "/networks" && r.Method == http.MethodGet {
				w.Write([]byte("[" + tc.net + "]"))
				return
			}
			t.Errorf("unexpected %s %s", r.Method, path)
			http.Error(w, `{"message":"unexpected"}`, http.StatusInternalServerError)
		})
		err := c.EnsureOverlay(context.Background())
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s: %v", tc.net, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "docker network rm berth-overlay")):
			t.Errorf("%s: got %v, want an error with %q saying to remove it", tc.net, err, tc.want)
		}
	}
}

// Connect tells a container that is gone from a network that is.
func TestConnectTellsAGoneContainerFromAMissingNetwork(t *testing.T) {
	for msg, want := range map[string]string{
		"No such container: c1":           "container c1 no longer exists",
		"network berth-overlay not found": "network berth-overlay does not exist",
	} {
		c := fakeEngine(t, func(w http.ResponseWriter, r *http.Request, path string) {
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"` + msg + `"}`))
		})
		err := c.Connect(context.Background(), "c1", Attachment{Network: "berth-overlay"})
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("engine says %q: got %v, want %q", msg, err, want)
		}
	}
}

// A network that holds a Linux bridge's most containers refuses the next
// with "exchange full" (the engine's words, from the scale benchmark's
// 1,024th container): the error says the network is full and what to do,
// and keeps the engine's message. Other failures are not dressed up.
func TestConnectSaysAFullBridgeIsFull(t *testing.T) {
	for msg, full := range map[string]bool{
		"failed to create endpoint web.web.1 on network berth: adding interface veth0c8d0b2 to bridge br-b5ae0f3468ff failed: exchange full": true,
		"failed to create endpoint web.web.1 on network berth: address already in use":                                                       false,
	} {
		c := fakeEngine(t, func(w http.ResponseWriter, r *http.Request, path string) {
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"` + msg + `"}`))
		})
		err := c.Connect(context.Background(), "c1", Attachment{Network: "berth"})
		if err == nil || !strings.Contains(err.Error(), msg) {
			t.Fatalf("engine says %q: got %v, want its message kept", msg, err)
		}
		said := strings.Contains(err.Error(), "the network is full") && strings.Contains(err.Error(), "1023 containers") && strings.Contains(err.Error(), "ps:scale")
		if said != full {
			t.Errorf("engine says %q: got %v; saying the network is full: %v, want %v", msg, err, said, full)
		}
	}
}

// A deploy's container that finds Berth's network full fails to start
// with the same explanation, and is removed again.
func TestStartSaysAFullBridgeIsFull(t *testing.T) {
	const msg = "failed to create endpoint web.web.1 on network berth: adding interface veth1 to bridge br-1 failed: exchange full"
	var removed bool
	n := fakeEngine(t, func(w http.ResponseWriter, r *http.Request, path string) {
		switch {
		case path == "/containers/c1/start":
			w.WriteHeader(http.StatusInternalServerError)
			w.Write([]byte(`{"message":"` + msg + `"}`))
		case path == "/containers/c1/json":
			w.Write([]byte(`{"Id":"c1","Config":{"Labels":{}}}`))
		case path == "/containers/c1" && r.Method == http.MethodDelete:
			removed = true
			w.WriteHeader(http.StatusNoContent)
		default:
			t.Errorf("unexpected %s %s", r.Method, path)
			http.Error(w, `{"message":"unexpected"}`, http.StatusInternalServerError)
		}
	})
	c := &ContainerAPI{conn: n.conn, networks: n}
	err := c.Start(context.Background(), "c1")
	if err == nil || !strings.Contains(err.Error(), msg) || !strings.Contains(err.Error(), "the network is full") {
		t.Fatalf("got %v, want the engine's message and that the network is full", err)
	}
	if !removed {
		t.Error("the container that could not start was left behind")
	}
}

// EnsureOverlay waits for the swarm to allocate an overlay it lists with
// no driver yet (just created), so that what connects to it next meets a
// network ready for it.
func TestEnsureOverlayWaitsForTheAllocation(t *testing.T) {
	lists := 0
	c := fakeEngine(t, func(w http.ResponseWriter, r *http.Request, path string) {
		if path != "/networks" || r.Method != http.MethodGet {
			t.Errorf("unexpected %s %s", r.Method, path)
			http.Error(w, `{"message":"unexpected"}`, http.StatusInternalServerError)
			return
		}
		lists++
		driver := ""
		if lists > 3 {
			driver = "overlay"
		}
		w.Write([]byte(`[{"Name":"berth-overlay","Id":"n1","Driver":"` + driver + `","Scope":"swarm","Attachable":true}]`))
	})
	if err := c.EnsureOverlay(context.Background()); err != nil {
		t.Fatal(err)
	}
	// One list to find it exists (ensureNetwork), then until allocated.
	if lists != 4 {
		t.Errorf("listed %d times, want 4 (until the driver showed)", lists)
	}
}
