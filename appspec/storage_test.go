package appspec

import (
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
)

// A second mount at one destination is refused, naming the mount to
// remove first.
func TestMountRefusesASecondMountAtOneDestination(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.settings.Mount(ctx, "app", "/srv/a:/data"); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.Mount(ctx, "app", "vol:/data"); err == nil || !strings.Contains(err.Error(), "unmount it first (storage:unmount app /srv/a:/data)") {
		t.Errorf("second mount at /data: %v", err)
	}
	if err := f.settings.Mount(ctx, "app", "/srv/a:/data"); err == nil || !strings.Contains(err.Error(), "already mounts /srv/a:/data") {
		t.Errorf("the same mount again: %v", err)
	}
	if got := f.app(t, "app").Storage; !reflect.DeepEqual(got, []string{"/srv/a:/data"}) {
		t.Fatalf("storage %v", got)
	}
}

// Unmount takes a mount the app has, and leaves nothing once the last
// goes.
func TestUnmount(t *testing.T) {
	ctx := context.Background()
	f := newFixture(t)
	if err := f.settings.Unmount(ctx, "app", "/srv/a:/data"); err == nil || !strings.Contains(err.Error(), "it has none") {
		t.Errorf("unmount of nothing: %v", err)
	}
	if err := f.settings.Mount(ctx, "app", "/srv/a:/data"); err != nil {
		t.Fatal(err)
	}
	if err := f.settings.Unmount(ctx, "app", "/srv/a:/data"); err != nil {
		t.Fatal(err)
	}
	if got := f.app(t, "app"); !reflect.DeepEqual(got, &platform.App{Name: "app"}) {
		t.Fatalf("record = %+v", got)
	}
}

// storage:ensure-directory makes a directory under the storage
// directory, once, and refuses names and owners it does not know.
func TestEnsureStorageDirectory(t *testing.T) {
	f := newFixture(t)
	dir, err := f.settings.EnsureStorageDirectory("data", "false")
	if err != nil || filepath.Dir(dir) != f.settings.storageDir {
		t.Fatalf("dir %q, %v", dir, err)
	}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		t.Fatalf("stat %v", err)
	}
	if again, err := f.settings.EnsureStorageDirectory("data", ""); err != nil || again != dir {
		t.Fatalf("again %q, %v", again, err)
	}
	for name, chown := range map[string]string{"../x": "", ".hidden": "", "ok": "nobody"} {
		if _, err := f.settings.EnsureStorageDirectory(name, chown); err == nil {
			t.Errorf("%q --chown %q accepted", name, chown)
		}
	}
}
