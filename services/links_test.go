package services

import (
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// failingConfigs is an app's config whose change fails before it is stored.
type failingConfigs struct{}

func (failingConfigs) Config(context.Context, string) (map[string]string, error) {
	return map[string]string{}, nil
}
func (failingConfigs) SetConfig(context.Context, string, map[string]string, []string, bool, io.Writer) error {
	return errors.New("rollout failed")
}

// A link whose config change failed is forgotten, and the datastore
// leaves the overlay its failed swarm rollout may have put it on. The
// engine is a fake API: the datastore's container is absent (mine), the
// overlay exists, and the test records the disconnects.
func TestFailedLinkTakesTheDatastoreOffTheOverlay(t *testing.T) {
	ctx := context.Background()
	var mu sync.Mutex
	var disconnects []string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		w.Header().Set("Api-Version", "1.44")
		p := r.URL.Path
		switch {
		case strings.HasSuffix(p, "/_ping"):
			w.Write([]byte("OK"))
		case strings.HasSuffix(p, "/networks/berth-overlay") && r.Method == http.MethodGet:
			w.Write([]byte(`{"Name":"berth-overlay","Id":"n1","Driver":"overlay","Scope":"swarm","Attachable":true}`))
		case strings.HasSuffix(p, "/networks/berth-overlay/disconnect"):
			b, _ := io.ReadAll(r.Body)
			mu.Lock()
			disconnects = append(disconnects, string(b))
			mu.Unlock()
		default:
			w.WriteHeader(http.StatusNotFound)
			w.Write([]byte(`{"message":"No such container: x"}`))
		}
	}))
	defer srv.Close()
	dc, err := docker.ConnectNode(ctx, "tcp://"+srv.Listener.Addr().String(), "")
	if err != nil {
		t.Fatal(err)
	}
	defer dc.Close()
	st := &store.Files{Dir: t.TempDir()}
	if err := st.Put(ctx, "apps/web", []byte(`{"name":"web"}`)); err != nil {
		t.Fatal(err)
	}
	m := New(platform.New(platform.Config{Store: st}), dc, failingConfigs{})
	pg := Types["postgres"]
	if err := m.save(ctx, pg, &Service{Name: "db"}); err != nil {
		t.Fatal(err)
	}
	if _, err := m.Link(ctx, pg, "db", "web", "", io.Discard); err == nil {
		t.Fatal("the link succeeded")
	}
	s, err := m.load(ctx, pg, "db")
	if err != nil || len(s.Links) != 0 {
		t.Fatalf("links after the failure: %+v, %v", s, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(disconnects) != 1 || !strings.Contains(disconnects[0], "berth-postgres-db") {
		t.Fatalf("disconnects from the overlay: %q, want berth-postgres-db's", disconnects)
	}
}
