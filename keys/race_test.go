package keys_test

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	gossh "golang.org/x/crypto/ssh"

	"github.com/berth-paas/berth/internal/fakeengine"
	"github.com/berth-paas/berth/keys"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/store"
)

// newKeysPlatform is a platform on an empty fake engine, and the keys
// following its apps in the same store: renaming or destroying an app that
// was never deployed asks no more of the engine, so the keys races below
// run with the real store and no Docker.
func newKeysPlatform(t *testing.T, engine platform.Engine) (*platform.Platform, *keys.Keys) {
	st := &store.Files{Dir: t.TempDir()}
	p := platform.New(platform.Config{
		Store:    st,
		Engine:   engine,
		Table:    routing.New(),
		ReposDir: t.TempDir(),
	})
	return p, keys.New(keys.Config{Store: st, Apps: p, Hooks: p.Hooks()})
}

func newAuthorizedKey(t *testing.T) string {
	t.Helper()
	pub, _, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := gossh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(gossh.MarshalAuthorizedKey(pk)))
}

// keyRaceIterations is how many times each race runs; the window each
// iteration hits is a few microseconds wide.
const keyRaceIterations = 60

// An apps:rename moves the app's deploy keys while ssh-keys:remove
// removes other keys: no removed key may come back (a revoked key that
// reappears would let its owner in again), and the deploy key follows the
// app to its new name.
func TestRenameLosesNoConcurrentKeyRemoval(t *testing.T) {
	ctx := context.Background()
	engine := fakeengine.New()
	const revoked = 12
	for i := range keyRaceIterations {
		p, ks := newKeysPlatform(t, engine)
		if err := p.Create(ctx, "old-name"); err != nil {
			t.Fatal(err)
		}
		if _, err := ks.Add(ctx, "deployer", "old-name", newAuthorizedKey(t)); err != nil {
			t.Fatal(err)
		}
		for k := range revoked {
			if _, err := ks.Add(ctx, fmt.Sprintf("revoked-%d", k), "", newAuthorizedKey(t)); err != nil {
				t.Fatal(err)
			}
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		var renameErr error
		go func() {
			defer wg.Done()
			<-start
			renameErr = platform.NewRenamer(p).Rename(ctx, "old-name", "new-name", nil)
		}()
		removeErrs := make([]error, revoked)
		go func() {
			defer wg.Done()
			<-start
			for k := range revoked {
				removeErrs[k] = removeRetrying(ctx, ks, fmt.Sprintf("revoked-%d", k))
			}
		}()
		close(start)
		wg.Wait()
		if renameErr != nil {
			t.Fatalf("iteration %d: rename: %v", i, renameErr)
		}
		if err := errors.Join(removeErrs...); err != nil {
			t.Fatalf("iteration %d: ssh-keys:remove: %v", i, err)
		}
		got, err := ks.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		var names []string
		for _, k := range got {
			names = append(names, k.Name+"→"+k.App)
		}
		if len(got) != 1 || got[0].Name != "deployer" || got[0].App != "new-name" {
			t.Fatalf("iteration %d: keys after the rename and the removals: %v; want only deployer→new-name", i, names)
		}
	}
}

// An apps:destroy while deploy keys of the app are being added: once the
// destroy has finished, no key of the app may remain, or it would own the
// next app created under the same name.
func TestDestroyLeavesNoDeployKeyAddedMeanwhile(t *testing.T) {
	ctx := context.Background()
	engine := fakeengine.New()
	for i := range keyRaceIterations {
		p, ks := newKeysPlatform(t, engine)
		if err := p.Create(ctx, "doomed"); err != nil {
			t.Fatal(err)
		}
		lines := make([]string, 12)
		for k := range lines {
			lines[k] = newAuthorizedKey(t)
		}
		var wg sync.WaitGroup
		start := make(chan struct{})
		wg.Add(2)
		var destroyErr error
		go func() {
			defer wg.Done()
			<-start
			destroyErr = destroyRetrying(ctx, p, "doomed")
		}()
		go func() {
			defer wg.Done()
			<-start
			// Added one after another, as a script adding a team's keys
			// would; those that come too late are refused.
			for k, line := range lines {
				ks.Add(ctx, fmt.Sprintf("dev-%d", k), "doomed", line)
			}
		}()
		close(start)
		wg.Wait()
		if destroyErr != nil {
			t.Fatalf("iteration %d: destroy: %v", i, destroyErr)
		}
		if err := p.Create(ctx, "doomed"); err != nil {
			t.Fatal(err)
		}
		left, err := ks.List(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range left {
			if k.App == "doomed" {
				t.Fatalf("iteration %d: deploy key %s of the destroyed app survived it and owns the new app of the same name", i, k.Name)
			}
		}
	}
}

// removeRetrying and destroyRetrying retry while the platform says it is
// busy: a refusal is an answer, not a race, and the races are the point.
func removeRetrying(ctx context.Context, k *keys.Keys, name string) error {
	for {
		err := k.Remove(ctx, name)
		if !errors.Is(err, platform.ErrBusy) {
			return err
		}
	}
}

func destroyRetrying(ctx context.Context, p *platform.Platform, app string) error {
	for {
		err := p.Destroy(ctx, app)
		if !errors.Is(err, platform.ErrBusy) {
			return err
		}
	}
}
