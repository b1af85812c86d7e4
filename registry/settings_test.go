package registry

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/berth-paas/berth/platform"
	"github.com/moby/moby/client"
)

type fakeApps map[string]bool

func (f fakeApps) App(_ context.Context, name string) (*platform.App, error) {
	if !f[name] {
		return nil, fmt.Errorf("app %s does not exist", name)
	}
	return &platform.App{Name: name}, nil
}

// acceptingEngine accepts every login, and pushes nothing.
type acceptingEngine struct{ LoginEngine }

func (acceptingEngine) RegistryLogin(context.Context, client.RegistryLoginOptions) (client.RegistryLoginResult, error) {
	return client.RegistryLoginResult{}, nil
}

func newSettings(t *testing.T, own *Registry, engine LoginEngine) *Settings {
	t.Helper()
	return NewSettings(SettingsConfig{Dir: t.TempDir(), Apps: fakeApps{"a": true, "b": true}, Own: own, Engine: engine})
}

func TestABadServerIsRefused(t *testing.T) {
	s := newSettings(t, nil, nil)
	for _, v := range []string{"justaname", "registry.example.com/Team", "https://registry.example.com", "registry.example.com//x"} {
		if err := s.SetServer(context.Background(), "a", v); err == nil {
			t.Errorf("server %q accepted", v)
		}
	}
	if err := s.SetServer(context.Background(), "a", "registry.example.com:5000/team"); err != nil {
		t.Fatal(err)
	}
}

func TestSettingAnUnknownAppsServerFails(t *testing.T) {
	s := newSettings(t, nil, nil)
	if err := s.SetServer(context.Background(), "nope", "registry.example.com"); err == nil {
		t.Fatal("set for an app that does not exist")
	}
}

func TestWithNoRegistryTheTasksRunTheImageByID(t *testing.T) {
	s := newSettings(t, nil, nil)
	ref, auth, err := s.Publish(context.Background(), "a", 1, "sha256:x", 1, 0)
	if err != nil || ref != "" || auth != "" {
		t.Fatalf("got %q %q %v, want nothing", ref, auth, err)
	}
}

func TestAUsersRegistryGetsThePushWithItsLogin(t *testing.T) {
	// The user's registry here is a Berth registry, logged into with its
	// push credential.
	srv := newServer(t)
	s := newSettings(t, nil, srv.engine)
	ctx := context.Background()
	if err := s.SetServer(ctx, "a", srv.reg.Host()+"/berth"); err != nil {
		t.Fatal(err)
	}
	if err := s.Login(ctx, "", srv.reg.Host(), pushUser, srv.reg.pushPass); err != nil {
		t.Fatal(err)
	}
	ref, auth, err := s.Publish(ctx, "a", 3, "sha256:x", 1, 0)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(ref, srv.reg.Host()+"/berth/a@sha256:") {
		t.Fatalf("ref %q", ref)
	}
	if a := pullAuth(t, auth); a.Username != pushUser || a.Password != srv.reg.pushPass {
		t.Fatalf("the service's auth is not the login's: %+v", a.Username)
	}
	// A wrong password is refused, and the kept login stays.
	if err := s.Login(ctx, "", srv.reg.Host(), pushUser, "wrong"); err == nil || !strings.Contains(err.Error(), "not kept") {
		t.Fatalf("a wrong password: %v", err)
	}
	if _, auth, err := s.Publish(ctx, "a", 3, "sha256:x", 1, 0); err != nil || pullAuth(t, auth).Password != srv.reg.pushPass {
		t.Fatalf("after a refused login the push used another password: %v", err)
	}
	// Another app without a server of its own still goes to Berth's (none
	// here).
	if ref, _, _ := s.Publish(ctx, "b", 1, "sha256:y", 1, 0); ref != "" {
		t.Fatalf("b's image went to %q", ref)
	}
}

func TestALoginForAnUnknownAppIsRefused(t *testing.T) {
	s := newSettings(t, nil, acceptingEngine{})
	if err := s.Login(context.Background(), "nope", "registry.example.com", "me", "pw"); err == nil {
		t.Fatal("login kept for an app that does not exist")
	}
}

func TestTheReportShowsNoPassword(t *testing.T) {
	s := newSettings(t, nil, acceptingEngine{})
	ctx := context.Background()
	if err := s.Login(ctx, "a", "registry.example.com", "me", "s3cret-token"); err != nil {
		t.Fatal(err)
	}
	r, err := s.Report(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(r)
	if strings.Contains(string(b), "s3cret") || !strings.Contains(string(b), "me@registry.example.com") {
		t.Fatalf("report %s", b)
	}
}

func TestTheSettingsFileIsTheOwnersOnly(t *testing.T) {
	s := newSettings(t, nil, acceptingEngine{})
	if err := s.Login(context.Background(), "", "registry.example.com", "me", "pw"); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(s.path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("mode %v", fi.Mode().Perm())
	}
}

func TestADestroyedAppsSettingsGo(t *testing.T) {
	s := newSettings(t, nil, acceptingEngine{})
	ctx := context.Background()
	if err := s.Login(ctx, "a", "registry.example.com", "me", "pw"); err != nil {
		t.Fatal(err)
	}
	if err := s.forget("a"); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(filepath.Dir(s.path), "settings.json"))
	if strings.Contains(string(b), `"a"`) {
		t.Fatalf("settings after forget: %s", b)
	}
}

func TestARenamedAppKeepsItsSettings(t *testing.T) {
	s := newSettings(t, nil, nil)
	ctx := context.Background()
	if err := s.SetServer(ctx, "a", "registry.example.com/team"); err != nil {
		t.Fatal(err)
	}
	if err := s.move("a", "c"); err != nil {
		t.Fatal(err)
	}
	s.apps = fakeApps{"c": true}
	r, err := s.Report(ctx, "c")
	if err != nil || r.Server != "registry.example.com/team" {
		t.Fatalf("c's report %+v %v", r, err)
	}
}

// refusingEngine records the auth of each push, which the registry
// refuses.
type refusingEngine struct {
	acceptingEngine
	auths []string
}

func (*refusingEngine) ImageTag(context.Context, client.ImageTagOptions) (client.ImageTagResult, error) {
	return client.ImageTagResult{}, nil
}

func (*refusingEngine) ImageRemove(context.Context, string, client.ImageRemoveOptions) (client.ImageRemoveResult, error) {
	return client.ImageRemoveResult{}, nil
}

func (e *refusingEngine) ImagePush(_ context.Context, _ string, o client.ImagePushOptions) (client.ImagePushResponse, error) {
	e.auths = append(e.auths, o.RegistryAuth)
	return nil, errors.New("unauthorized: authentication required")
}

// Without a login the push still carries an auth, an empty one (the
// engine refuses a push with none, which would fail a registry that
// takes anonymous pushes), and its failure says what to run.
func TestAPushWithoutALoginCarriesAnEmptyAuth(t *testing.T) {
	e := &refusingEngine{}
	s := newSettings(t, nil, e)
	ctx := context.Background()
	if err := s.SetServer(ctx, "a", "registry.example.com/team"); err != nil {
		t.Fatal(err)
	}
	_, _, err := s.Publish(ctx, "a", 1, "sha256:x", 1, 0)
	if err == nil || !strings.Contains(err.Error(), "no registry:login for registry.example.com: registry:login a registry.example.com USER --password-stdin") {
		t.Fatalf("error %v", err)
	}
	if len(e.auths) != 1 {
		t.Fatalf("%d pushes", len(e.auths))
	}
	if a := pullAuth(t, e.auths[0]); a.ServerAddress != "registry.example.com" || a.Username != "" || a.Password != "" {
		t.Fatalf("push auth %+v", a)
	}
}
