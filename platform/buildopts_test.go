package platform

import (
	"context"
	"testing"

	"github.com/berth-paas/berth/store"
)

// settingsPlatform is a platform without an engine, with one app "app".
func settingsPlatform(t *testing.T) *Platform {
	t.Helper()
	p := New(Config{Store: &store.Files{Dir: t.TempDir()}})
	if err := saveApp(context.Background(), p.store, &App{Name: "app"}); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestDockerfilePathIsCleaned(t *testing.T) {
	ctx := context.Background()
	p := settingsPlatform(t)
	for path, want := range map[string]string{"./deploy//web.Dockerfile": "deploy/web.Dockerfile", "Dockerfile.prod": "Dockerfile.prod", "": ""} {
		if err := p.SetDockerfilePath(ctx, "app", path); err != nil {
			t.Fatal(err)
		}
		if a, _ := p.App(ctx, "app"); a.DockerfilePath != want {
			t.Errorf("dockerfile-path %q stored as %q, want %q", path, a.DockerfilePath, want)
		}
	}
	for _, bad := range []string{"/etc/passwd", "../x", "a/../../x", ".", "a\nb"} {
		if err := p.SetDockerfilePath(ctx, "app", bad); err == nil {
			t.Errorf("dockerfile-path %q accepted", bad)
		}
	}
}
