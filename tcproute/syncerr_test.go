package tcproute

import (
	"context"
	"errors"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// failingApps fails every record read with err.
type failingApps struct {
	*fakeApps
	err error
}

func (f failingApps) App(context.Context, string) (*platform.App, error) { return nil, f.err }

// A Sync whose record read fails (not with not-found) releases the ports
// Check bound for the app instead of holding them with nothing serving.
func TestSyncThatCannotReadTheRecordReleasesThePortsBeingMapped(t *testing.T) {
	e := newEnv(t)
	host := freePort(t)
	if err := e.r.Check("db", []platform.PortMapping{mapping(host, 1)}, false); err != nil {
		t.Fatal(err)
	}
	e.r.cfg.Apps = failingApps{e.apps, errors.New("the store is unreachable")}
	if err := e.r.Sync(context.Background(), "db"); err == nil {
		t.Fatal("Sync hid the record read's error")
	}
	e.r.mu.Lock()
	n := len(e.r.pending)
	e.r.mu.Unlock()
	if n != 0 {
		t.Fatalf("%d port(s) still pending after the failed Sync", n)
	}
	assertClosed(t, host)
}
