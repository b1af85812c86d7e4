package dashboard

import (
	"context"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"testing"

	"github.com/berth-paas/berth/commands"
)

// The datastores and keys pages against a fake command runner; the
// command table's scopes (commands.Authorize) are the real ones.

type pagesRunner struct {
	mu  sync.Mutex
	ran []string
}

func (f *pagesRunner) exec(_ context.Context, _ *commands.Backend, args []string, io commands.IO) error {
	f.mu.Lock()
	f.ran = append(f.ran, strings.Join(args, " "))
	f.mu.Unlock()
	switch args[0] {
	case "postgres:list":
		fmt.Fprintln(io.Stdout, `[{"type":"postgres","name":"pg1","image":"postgres:17","password":"hunter2","status":"running",
"url":"postgres://postgres:hunter2@berth-postgres-pg1:5432/pg1","links":[{"app":"blog","var":"DATABASE_URL"}]}]`)
	case "mysql:list":
		fmt.Fprintln(io.Stdout, `[]`)
	case "redis:list":
		fmt.Fprintln(io.Stdout, `[{"type":"redis","name":"cache","image":"redis:7","status":"exited","url":"redis://default:s3cret@berth-redis-cache:6379"}]`)
	case "ssh-keys:list":
		fmt.Fprintln(io.Stdout, `[{"name":"alice","key":"ssh-ed25519 AAAA","fingerprint":"SHA256:abc","added_at":"2026-01-01T10:00:00Z"},
{"name":"ci","key":"ssh-ed25519 BBBB","fingerprint":"SHA256:def","app":"blog","added_at":"2026-01-01T11:00:00Z"}]`)
	default:
		fmt.Fprintf(io.Stderr, " !     no fake for %s\n", args[0])
		return fmt.Errorf("no fake for %s", args[0])
	}
	return nil
}

func (f *pagesRunner) commands() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.ran...)
}

func pagesTest(t *testing.T, g commands.LoginGrant) (*Dashboard, *pagesRunner, http.Header) {
	t.Helper()
	d, _ := newTest(t)
	f := &pagesRunner{}
	d.exec = f.exec
	c := signInAs(t, d, g)
	return d, f, http.Header{"Cookie": {c.String()}}
}

func TestDatastoresPageListsEveryTypeWithPasswordsMasked(t *testing.T) {
	d, _, h := pagesTest(t, commands.LoginGrant{})
	w := do(d, "GET", "/datastores", nil, h)
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	for _, want := range []string{`data-datastore="postgres/pg1"`, `data-datastore="redis/cache"`, `href="/apps/blog"`, "as DATABASE_URL",
		"postgres://postgres:••••••••@berth-postgres-pg1:5432/pg1", `id="nav-keys"`} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	if strings.Contains(body, "hunter2") || strings.Contains(body, "s3cret") {
		t.Error("a password shows before it is revealed")
	}
	if w := do(d, "GET", "/datastores?reveal=1", nil, h); !strings.Contains(w.Body.String(), "postgres://postgres:hunter2@") {
		t.Error("reveal does not show the URL")
	}
}

// A deploy key's session runs no datastore command the table keeps for
// admin keys, sees none, and the page says why.
func TestDatastoresPageOfADeployKeyFollowsTheTable(t *testing.T) {
	d, f, h := pagesTest(t, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	w := do(d, "GET", "/datastores", nil, h)
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	if ran := f.commands(); len(ran) != 0 {
		t.Errorf("commands ran: %v", ran)
	}
	if !strings.Contains(body, `id="datastores-refused"`) || !strings.Contains(body, "is for admin keys") {
		t.Errorf("the page does not say why there is none:\n%s", body)
	}
	if strings.Contains(body, "pg1") || strings.Contains(body, "data-datastore") {
		t.Error("a datastore shows")
	}
	if strings.Contains(body, `id="nav-keys"`) || !strings.Contains(body, `id="nav-datastores"`) {
		t.Error("the navigation of a deploy key's session links the keys page, or not the datastores")
	}
}

func TestKeysPageListsTheKeys(t *testing.T) {
	d, _, h := pagesTest(t, commands.LoginGrant{})
	w := do(d, "GET", "/keys", nil, h)
	body := w.Body.String()
	if w.Code != 200 {
		t.Fatalf("%d %s", w.Code, body)
	}
	for _, want := range []string{`data-key="alice"`, `data-key="ci"`, "SHA256:abc", `app <a href="/apps/blog">blog</a>`, "deploy key"} {
		if !strings.Contains(body, want) {
			t.Errorf("the page has no %s", want)
		}
	}
	if strings.Contains(body, "AAAA") {
		t.Error("the page shows the public keys themselves, not their fingerprints")
	}
}

// A deploy key's session is refused the keys page (the table's scope of
// ssh-keys:list), and nothing runs.
func TestKeysPageOfADeployKeyIs403(t *testing.T) {
	d, f, h := pagesTest(t, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	w := do(d, "GET", "/keys", nil, h)
	if w.Code != http.StatusForbidden {
		t.Fatalf("%d, want 403", w.Code)
	}
	if strings.Contains(w.Body.String(), "alice") || len(f.commands()) != 0 {
		t.Errorf("keys leaked or a command ran: %v", f.commands())
	}
	if !strings.Contains(w.Body.String(), "ssh-keys:list is for admin keys") {
		t.Errorf("the refusal does not say why: %s", w.Body)
	}
}

func TestMaskPassword(t *testing.T) {
	for in, want := range map[string]string{
		"postgres://postgres:pw@h:5432/db": "postgres://postgres:••••••••@h:5432/db",
		"redis://default:p%40ss@h:6379":    "redis://default:••••••••@h:6379",
		"redis://h:6379":                   "redis://h:6379",
		"":                                 "",
	} {
		if got := maskPassword(in); got != want {
			t.Errorf("maskPassword(%q) = %q, want %q", in, got, want)
		}
	}
}
