package dashboard

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"testing"

	"github.com/berth-paas/berth/commands"
)

// The datastores and keys pages against a fake command runner; the
// command table's scopes (commands.Authorize) are the real ones.

type pagesRunner struct {
	mu    sync.Mutex
	ran   []string
	stdin string // the last command's
}

func (f *pagesRunner) exec(_ context.Context, _ *commands.Backend, args []string, out commands.IO) error {
	in, _ := io.ReadAll(out.Stdin)
	f.mu.Lock()
	f.ran = append(f.ran, strings.Join(args, " "))
	f.stdin = string(in)
	f.mu.Unlock()
	switch args[0] {
	case "ssh-keys:add", "ssh-keys:remove":
	case "postgres:list":
		fmt.Fprintln(out.Stdout, `[{"type":"postgres","name":"pg1","image":"postgres:17","password":"hunter2","status":"running",
"url":"postgres://postgres:hunter2@berth-postgres-pg1:5432/pg1","links":[{"app":"blog","var":"DATABASE_URL"}]}]`)
	case "mysql:list":
		fmt.Fprintln(out.Stdout, `[]`)
	case "redis:list":
		fmt.Fprintln(out.Stdout, `[{"type":"redis","name":"cache","image":"redis:7","status":"exited","url":"redis://default:s3cret@berth-redis-cache:6379"}]`)
	case "ssh-keys:list":
		fmt.Fprintln(out.Stdout, `[{"name":"alice","key":"ssh-ed25519 AAAAC3alicekey","fingerprint":"SHA256:abc","added_at":"2026-01-01T10:00:00Z"},
{"name":"ci","key":"ssh-ed25519 BBBB","fingerprint":"SHA256:def","app":"blog","added_at":"2026-01-01T11:00:00Z"}]`)
	default:
		fmt.Fprintf(out.Stderr, " !     no fake for %s\n", args[0])
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
	d.cmds.exec = f.exec
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
	if strings.Contains(body, "AAAAC3alicekey") {
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

func (d *Dashboard) csrfOf(t *testing.T, h http.Header) string {
	t.Helper()
	c, err := (&http.Request{Header: h}).Cookie(cookieName)
	if err != nil {
		t.Fatal(err)
	}
	return d.sessions.sessionFor(c.Value, "dash.example.test").csrf
}

func TestKeysAddAndRemoveRunTheCommands(t *testing.T) {
	d, f, h := pagesTest(t, commands.LoginGrant{})
	csrf := d.csrfOf(t, h)
	w := do(d, "POST", "/keys/add", url.Values{"csrf": {csrf}, "name": {"ci"}, "key": {"ssh-ed25519 AAAA ci@host"}, "app": {"blog"}}, h)
	if w.Code != http.StatusSeeOther || w.Header().Get("Location") != "/keys" {
		t.Fatalf("add: %d %s", w.Code, w.Body)
	}
	if ran := f.commands(); len(ran) != 1 || ran[0] != "ssh-keys:add --app blog ci" || f.stdin != "ssh-ed25519 AAAA ci@host" {
		t.Errorf("add ran %v with stdin %q", ran, f.stdin)
	}
	w = do(d, "POST", "/keys/remove", url.Values{"csrf": {csrf}, "name": {"ci"}}, h)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("remove: %d %s", w.Code, w.Body)
	}
	if ran := f.commands(); len(ran) != 2 || ran[1] != "ssh-keys:remove ci" {
		t.Errorf("remove ran %v", ran)
	}
	if w := do(d, "GET", "/keys", nil, h); !strings.Contains(w.Body.String(), "ssh-keys:remove ci: done") {
		t.Error("the page does not say the key was removed")
	}
}

// A name that would read as a flag, or a key of several lines, is
// refused before any command runs.
func TestKeysActionsRefuseBadInput(t *testing.T) {
	d, f, h := pagesTest(t, commands.LoginGrant{})
	csrf := d.csrfOf(t, h)
	for _, form := range []url.Values{
		{"name": {"--app"}, "key": {"ssh-ed25519 AAAA"}},
		{"name": {"ci"}, "key": {"ssh-ed25519 AAAA\nssh-ed25519 BBBB"}},
		{"name": {"ci"}, "key": {"ssh-ed25519 AAAA"}, "app": {"--global"}},
		{"name": {""}},
	} {
		form.Set("csrf", csrf)
		if w := do(d, "POST", "/keys/add", form, h); w.Code != http.StatusBadRequest {
			t.Errorf("%v: %d", form, w.Code)
		}
	}
	if ran := f.commands(); len(ran) != 0 {
		t.Errorf("commands ran: %v", ran)
	}
}

// A deploy key's session cannot add or remove keys, even with its own
// form token: the table's scope of ssh-keys:add and :remove.
func TestKeysActionsOfADeployKeyAre403(t *testing.T) {
	d, f, h := pagesTest(t, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	csrf := d.csrfOf(t, h)
	for _, path := range []string{"/keys/add", "/keys/remove"} {
		w := do(d, "POST", path, url.Values{"csrf": {csrf}, "name": {"alice"}, "key": {"ssh-ed25519 AAAA"}}, h)
		if w.Code != http.StatusForbidden {
			t.Errorf("%s: %d, want 403", path, w.Code)
		}
	}
	if ran := f.commands(); len(ran) != 0 {
		t.Errorf("commands ran: %v", ran)
	}
}
