package keys

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"strings"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// fakeApps is an app core of named apps, some leaving, that hands the
// hooks the keys register to the test.
type fakeApps struct {
	apps       map[string]bool
	leaving    map[string]bool
	destroying func(ctx context.Context, app string) error
	renaming   func(ctx context.Context, from, to string) error
}

func (f *fakeApps) Exists(_ context.Context, app string) (bool, error) { return f.apps[app], nil }
func (f *fakeApps) Leaving(app string) bool                            { return f.leaving[app] }
func (f *fakeApps) OnAppDestroying(fn func(ctx context.Context, app string) error) {
	f.destroying = fn
}
func (f *fakeApps) OnAppRenaming(fn func(ctx context.Context, from, to string) error) {
	f.renaming = fn
}

func newKeys(t *testing.T, apps ...string) (*Keys, *fakeApps) {
	f := &fakeApps{apps: map[string]bool{}, leaving: map[string]bool{}}
	for _, a := range apps {
		f.apps[a] = true
	}
	return New(Config{Store: &store.Files{Dir: t.TempDir()}, Apps: f, Hooks: f}), f
}

func authorizedKey(t *testing.T) (gossh.PublicKey, string) {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return pk, strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))
}

func names(t *testing.T, k *Keys) string {
	t.Helper()
	list, err := k.List(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, key := range list {
		out = append(out, key.Name+"→"+key.App)
	}
	return strings.Join(out, " ")
}

func TestAddKeepsTheKeyWithItsFingerprintAndScope(t *testing.T) {
	k, _ := newKeys(t, "web")
	pk, line := authorizedKey(t)
	key, err := k.Add(context.Background(), "dev@laptop", "web", "  "+line+" dev@laptop\n")
	if err != nil {
		t.Fatal(err)
	}
	if key.Fingerprint != gossh.FingerprintSHA256(pk) || key.App != "web" || key.Key != line+" dev@laptop" {
		t.Fatalf("added %+v", key)
	}
	stored, err := key.PublicKey()
	if err != nil || gossh.FingerprintSHA256(stored) != key.Fingerprint {
		t.Fatalf("stored key parses to %v, %v", stored, err)
	}
}

func TestListIsSortedByName(t *testing.T) {
	k, _ := newKeys(t)
	ctx := context.Background()
	for _, name := range []string{"zed", "amy", "mia"} {
		_, line := authorizedKey(t)
		if _, err := k.Add(ctx, name, "", line); err != nil {
			t.Fatal(err)
		}
	}
	if got := names(t, k); got != "amy→ mia→ zed→" {
		t.Fatalf("keys listed as %q, want sorted by name", got)
	}
}

func TestAddRefusesBadNamesAndLines(t *testing.T) {
	k, _ := newKeys(t)
	ctx := context.Background()
	_, line := authorizedKey(t)
	for _, c := range []struct{ name, line, want string }{
		{"-dash", line, "key name"},
		{strings.Repeat("a", 65), line, "key name"},
		{"ok", "not a key", "no public key on stdin"},
		{"ok", `command="echo hi" ` + line, "not supported"},
		{"ok", `from="10.0.0.1" ` + line, "not supported"},
		{"ok", "cert-authority " + line, "cert-authority"},
		{"ok", "no-touch-required " + line, "no-touch-required"},
	} {
		if _, err := k.Add(ctx, c.name, "", c.line); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("Add(%q, %q) = %v; want an error saying %q", c.name, c.line, err, c.want)
		}
	}
	if got := names(t, k); got != "" {
		t.Fatalf("refused keys were kept: %s", got)
	}
	if _, err := k.Add(ctx, "ok", "", "no-port-forwarding,no-agent-forwarding "+line); err != nil {
		t.Fatalf("options Berth never grants anyway were refused: %v", err)
	}
}

func TestCheckKindRefusesCertificates(t *testing.T) {
	pk, _ := authorizedKey(t)
	cert := &gossh.Certificate{Key: pk, CertType: gossh.UserCert}
	if err := CheckKind(cert, nil); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Fatalf("CheckKind(certificate) = %v", err)
	}
	if err := CheckKind(pk, []string{"No-User-RC"}); err != nil {
		t.Fatalf("CheckKind(plain key, no-user-rc) = %v", err)
	}
}

func TestAddRefusesASecondKeyOfTheSameNameOrFingerprint(t *testing.T) {
	k, _ := newKeys(t)
	ctx := context.Background()
	_, line := authorizedKey(t)
	_, other := authorizedKey(t)
	if _, err := k.Add(ctx, "amy", "", line); err != nil {
		t.Fatal(err)
	}
	if _, err := k.Add(ctx, "amy", "", other); err == nil || !strings.Contains(err.Error(), "a key named amy exists") {
		t.Errorf("same name: %v", err)
	}
	if _, err := k.Add(ctx, "bob", "", line+" other-comment"); err == nil || !strings.Contains(err.Error(), "already added as amy") {
		t.Errorf("same key: %v", err)
	}
}

func TestDeployKeyNeedsAnAppThatStays(t *testing.T) {
	k, apps := newKeys(t, "web", "old")
	apps.leaving["old"] = true
	ctx := context.Background()
	_, line := authorizedKey(t)
	if _, err := k.Add(ctx, "dev", "nope", line); !errors.Is(err, platform.ErrAppNotFound) {
		t.Errorf("deploy key of a missing app: %v; want ErrAppNotFound", err)
	}
	if _, err := k.Add(ctx, "dev", "old", line); err == nil || !strings.Contains(err.Error(), "is being destroyed or renamed") {
		t.Errorf("deploy key of a leaving app: %v", err)
	}
	if got := names(t, k); got != "" {
		t.Fatalf("refused keys were kept: %s", got)
	}
}

func TestRemove(t *testing.T) {
	k, _ := newKeys(t)
	ctx := context.Background()
	_, line := authorizedKey(t)
	if _, err := k.Add(ctx, "amy", "", line); err != nil {
		t.Fatal(err)
	}
	if err := k.Remove(ctx, "bob"); err == nil || !strings.Contains(err.Error(), "no key named bob") {
		t.Errorf("Remove(bob) = %v", err)
	}
	if err := k.Remove(ctx, "amy"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, k); got != "" {
		t.Fatalf("left after the removal: %s", got)
	}
}

// The deploy keys follow their app: a destroyed app's go (and only
// theirs), a renamed app's move to the new name.
func TestDeployKeysFollowTheirApp(t *testing.T) {
	k, apps := newKeys(t, "web", "api")
	ctx := context.Background()
	for _, key := range []struct{ name, app string }{{"admin", ""}, {"w1", "web"}, {"w2", "web"}, {"a1", "api"}} {
		_, line := authorizedKey(t)
		if _, err := k.Add(ctx, key.name, key.app, line); err != nil {
			t.Fatal(err)
		}
	}
	if apps.destroying == nil || apps.renaming == nil {
		t.Fatal("New registered no destroy or rename hook")
	}
	if err := apps.renaming(ctx, "web", "www"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, k); got != "a1→api admin→ w1→www w2→www" {
		t.Fatalf("after the rename: %s", got)
	}
	if err := apps.destroying(ctx, "www"); err != nil {
		t.Fatal(err)
	}
	if got := names(t, k); got != "a1→api admin→" {
		t.Fatalf("after the destroy: %s", got)
	}
}
