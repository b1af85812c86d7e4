package applogs

import (
	"context"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/berth-paas/berth/platform"
)

// fakeApps is an app core of records, builds and build logs in memory.
type fakeApps struct {
	mu     sync.Mutex
	apps   map[string]platform.App
	builds map[string][]platform.Build // newest first
	logs   map[string]string           // "APP/ID"
}

func newFakeApps(names ...string) *fakeApps {
	f := &fakeApps{apps: map[string]platform.App{}, builds: map[string][]platform.Build{}, logs: map[string]string{}}
	for _, n := range names {
		f.apps[n] = platform.App{Name: n}
	}
	return f
}

func (f *fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	a, ok := f.apps[name]
	if !ok {
		return nil, platform.Errorf(platform.ErrAppNotFound, "app %s does not exist", name)
	}
	return &a, nil
}

func (f *fakeApps) Builds(ctx context.Context, app string) ([]platform.Build, error) {
	if _, err := f.App(ctx, app); err != nil {
		return nil, err
	}
	return f.builds[app], nil
}

func (f *fakeApps) BuildOutput(ctx context.Context, app string, id int) (platform.Build, io.ReadCloser, error) {
	if _, err := f.App(ctx, app); err != nil {
		return platform.Build{}, nil, err
	}
	for _, b := range f.builds[app] {
		if b.ID == id {
			return b, io.NopCloser(strings.NewReader(f.logs[fmt.Sprintf("%s/%d", app, id)])), nil
		}
	}
	return platform.Build{}, nil, fmt.Errorf("%s has no build %d", app, id)
}

// UpdateApp changes a copy and keeps it only when change succeeds, as the
// platform's does under the app's lock.
func (f *fakeApps) UpdateApp(ctx context.Context, app string, change func(*platform.App) error) error {
	a, err := f.App(ctx, app)
	if err != nil {
		return err
	}
	if err := change(a); err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.apps[app] = *a
	return nil
}
