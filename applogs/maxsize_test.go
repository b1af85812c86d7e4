package applogs

import (
	"context"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// Logs fill the host's disk: a deploy key may set a max-size up to the
// default, or up to what an admin key set, and never unlimited.
func TestDeployKeyLogMaxSizeIsBounded(t *testing.T) {
	ctx := context.Background()
	key := platform.AsDeployKey(ctx)
	apps := newFakeApps("app")
	p := New(Config{Apps: apps, Builds: apps})
	for _, size := range []string{"unlimited", "9999g", "11m", "10241k", "99999999999999999999999g"} {
		if err := p.SetMaxSize(key, "app", size); err == nil || !strings.Contains(err.Error(), "needs an admin key") {
			t.Errorf("a deploy key set max-size %s: %v", size, err)
		}
	}
	if a, _ := apps.App(ctx, "app"); a.LogMaxSize != "" {
		t.Fatalf("a refused max-size was kept: %q", a.LogMaxSize)
	}
	for _, size := range []string{"10m", "1m", "10240k", ""} {
		if err := p.SetMaxSize(key, "app", size); err != nil {
			t.Errorf("a deploy key set max-size %q within the default: %v", size, err)
		}
	}
	// An admin's size is the deploy key's new bound, and stays it when
	// the deploy key lowers the size.
	if err := p.SetMaxSize(ctx, "app", "1g"); err != nil {
		t.Fatal(err)
	}
	for _, size := range []string{"20m", "1g", ""} {
		if err := p.SetMaxSize(key, "app", size); err != nil {
			t.Errorf("max-size %q within the admin's 1g: %v", size, err)
		}
	}
	if err := p.SetMaxSize(key, "app", "2g"); err == nil {
		t.Error("a deploy key went past the admin's 1g")
	}
	if err := p.SetMaxSize(ctx, "app", "unlimited"); err != nil {
		t.Fatal(err)
	}
	if err := p.SetMaxSize(key, "app", "unlimited"); err != nil {
		t.Errorf("an admin allowed unlimited: %v", err)
	}
}
