package dashboard

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/berth-paas/berth/commands"
)

// The sign-in's own logic, without a backend: only requests that are
// refused before any command runs are sent. tests/testdata/dashboard*.txtar
// drive the whole through the real Caddy, ssh and a browser.

func newTest(t *testing.T) (*Dashboard, *time.Time) {
	t.Helper()
	d := New(Config{StillGranted: func(context.Context, commands.LoginGrant) error { return nil }})
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	d.sessions.now = func() time.Time { return now }
	d.SetHost("Dash.Example.test", 0, nil)
	return d, &now
}

func do(d *Dashboard, method, target string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	var body *strings.Reader
	if form != nil {
		body = strings.NewReader(form.Encode())
	} else {
		body = strings.NewReader("")
	}
	r := httptest.NewRequest(method, "http://dash.example.test"+target, body)
	if form != nil {
		r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	}
	for k, v := range header {
		r.Header[k] = v
	}
	w := httptest.NewRecorder()
	d.ServeHTTP(w, r)
	return w
}

func token(t *testing.T, u string) string {
	t.Helper()
	p, err := url.Parse(u)
	if err != nil || p.Host != "dash.example.test" || p.Path != "/login" {
		t.Fatalf("login URL %q", u)
	}
	return p.Query().Get("token")
}

func signIn(t *testing.T, d *Dashboard) (*http.Cookie, *session) {
	t.Helper()
	u, _, err := d.NewLogin(commands.LoginGrant{})
	if err != nil {
		t.Fatal(err)
	}
	tok := token(t, u)
	if w := do(d, "GET", "/login?token="+tok, nil, nil); w.Code != 200 {
		t.Fatalf("login page: %d", w.Code)
	}
	w := do(d, "POST", "/login", url.Values{"token": {tok}}, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	c := w.Result().Cookies()[0]
	if !c.HttpOnly || c.SameSite != http.SameSiteStrictMode || c.Secure || c.Name != cookieName {
		t.Errorf("cookie %+v: want HttpOnly, SameSite=Strict, not Secure over plain HTTP", c)
	}
	return c, d.sessions.sessionFor(c.Value, "dash.example.test")
}

func TestOffUntilAHostIsSet(t *testing.T) {
	d := New(Config{})
	if _, _, err := d.NewLogin(commands.LoginGrant{}); !errors.Is(err, ErrOff) {
		t.Fatalf("NewLogin with no host: %v", err)
	}
	d.SetHost("dash.example.test", 0, nil)
	if !d.Serves("DASH.example.test:8443") || d.Serves("app.example.test") {
		t.Error("Serves does not match the host alone")
	}
}

func TestALoginURLWorksOnce(t *testing.T) {
	d, _ := newTest(t)
	u, _, _ := d.NewLogin(commands.LoginGrant{App: "blog"})
	tok := token(t, u)
	if w := do(d, "POST", "/login", url.Values{"token": {tok}}, nil); w.Code != http.StatusSeeOther {
		t.Fatalf("first use: %d", w.Code)
	}
	if w := do(d, "GET", "/login?token="+tok, nil, nil); w.Code != http.StatusForbidden {
		t.Errorf("page of a used URL: %d", w.Code)
	}
	if w := do(d, "POST", "/login", url.Values{"token": {tok}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("second use: %d", w.Code)
	}
}

func TestALoginURLExpiresAfterTenMinutes(t *testing.T) {
	d, now := newTest(t)
	u, exp, _ := d.NewLogin(commands.LoginGrant{})
	if exp.Sub(*now) != LoginTTL || LoginTTL != 10*time.Minute {
		t.Fatalf("expires %v", exp)
	}
	*now = now.Add(LoginTTL)
	if w := do(d, "POST", "/login", url.Values{"token": {token(t, u)}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("expired URL: %d", w.Code)
	}
}

func TestSessionsExpireAndLogoutAllEndsThem(t *testing.T) {
	d, now := newTest(t)
	c, _ := signIn(t, d)
	if d.sessions.sessionFor(c.Value, "dash.example.test") == nil {
		t.Fatal("no session")
	}
	*now = now.Add(DefaultSessionTTL)
	if w := do(d, "GET", "/", nil, http.Header{"Cookie": {c.String()}}); w.Code != http.StatusUnauthorized {
		t.Errorf("expired session: %d", w.Code)
	}
	c, _ = signIn(t, d)
	if n := d.LogoutAll(); n != 1 {
		t.Errorf("LogoutAll ended %d sessions", n)
	}
	if d.sessions.sessionFor(c.Value, "dash.example.test") != nil {
		t.Error("a session outlived LogoutAll")
	}
}

func TestCrossSitePostsAreRefused(t *testing.T) {
	d, _ := newTest(t)
	c, s := signIn(t, d)
	cookie := c.String()
	for _, tc := range []struct {
		name   string
		form   url.Values
		header http.Header
	}{
		{"no form token", url.Values{"version": {"1"}}, http.Header{}},
		{"wrong form token", url.Values{"csrf": {"x" + s.csrf}}, http.Header{}},
		{"another origin", url.Values{"csrf": {s.csrf}}, http.Header{"Origin": {"http://evil.example"}}},
		{"cross-site fetch", url.Values{"csrf": {s.csrf}}, http.Header{"Sec-Fetch-Site": {"cross-site"}}},
	} {
		tc.header.Set("Cookie", cookie)
		if w := do(d, "POST", "/apps/blog/rollback", tc.form, tc.header); w.Code != http.StatusForbidden {
			t.Errorf("%s: %d", tc.name, w.Code)
		}
	}
	// A login from another site (login CSRF) is refused too, and does
	// not use the URL up.
	u, _, _ := d.NewLogin(commands.LoginGrant{})
	if w := do(d, "POST", "/login", url.Values{"token": {token(t, u)}}, http.Header{"Origin": {"http://evil.example"}}); w.Code != http.StatusForbidden {
		t.Errorf("cross-site login: %d", w.Code)
	}
	if !d.sessions.validLogin(token(t, u)) {
		t.Error("a refused cross-site login used the URL up")
	}
}

func TestPagesCarryNoScriptNorReferrer(t *testing.T) {
	d, _ := newTest(t)
	w := do(d, "GET", "/", nil, nil)
	if csp := w.Header().Get("Content-Security-Policy"); !strings.Contains(csp, "default-src 'none'") {
		t.Errorf("CSP %q", csp)
	}
	if w.Header().Get("Referrer-Policy") != "same-origin" {
		t.Error("the login token could leak in a Referer")
	}
}

// world is a fake of what sessions are made from: the keys (fingerprint
// to app, "" for an admin key) and the apps (name to creation time).
type world struct {
	keys map[string]string
	apps map[string]time.Time
}

func (w *world) granted(_ context.Context, g commands.LoginGrant) error {
	app, ok := w.keys[g.Key]
	if !ok || (app != "" && app != g.App) {
		return errors.New("key gone")
	}
	if g.App != "" {
		if created, ok := w.apps[g.App]; !ok || !created.Equal(g.AppCreated) {
			return errors.New("app gone")
		}
	}
	return nil
}

// alive says whether the session of c still holds: a POST with a wrong
// form token is refused as stale (403) while it does, as signed out (401)
// once it has ended, and no command runs either way.
func alive(t *testing.T, d *Dashboard, c *http.Cookie) bool {
	t.Helper()
	w := do(d, "POST", "/apps/blog/rollback", url.Values{"csrf": {"stale"}}, http.Header{"Cookie": {c.String()}})
	switch w.Code {
	case http.StatusForbidden:
		return true
	case http.StatusUnauthorized:
		return false
	}
	t.Fatalf("probe: %d %s", w.Code, w.Body)
	return false
}

func signInAs(t *testing.T, d *Dashboard, g commands.LoginGrant) *http.Cookie {
	t.Helper()
	u, _, err := d.NewLogin(g)
	if err != nil {
		t.Fatal(err)
	}
	w := do(d, "POST", "/login", url.Values{"token": {token(t, u)}}, nil)
	if w.Code != http.StatusSeeOther {
		t.Fatalf("login: %d %s", w.Code, w.Body)
	}
	return w.Result().Cookies()[0]
}

// A session lasts only while the key that made it is still authorized
// for its scope and its app is the same app: ssh-keys:remove,
// apps:destroy and apps:rename end it, and a new app under the old name
// is not the one the session was for.
func TestSessionsEndWithTheirKeyAndApp(t *testing.T) {
	d, _ := newTest(t)
	created := time.Date(2025, 5, 1, 0, 0, 0, 0, time.UTC)
	w := &world{keys: map[string]string{"SHA256:contractor": "blog", "SHA256:admin": ""},
		apps: map[string]time.Time{"blog": created}}
	d.sessions.granted = w.granted
	blog := commands.LoginGrant{App: "blog", AppCreated: created, Key: "SHA256:contractor"}

	// The contractor's key is removed: its session ends.
	c := signInAs(t, d, blog)
	if !alive(t, d, c) {
		t.Fatal("a fresh session is not alive")
	}
	delete(w.keys, "SHA256:contractor")
	if alive(t, d, c) {
		t.Error("a session outlived ssh-keys:remove of its key")
	}
	if d.sessions.sessionFor(c.Value, "dash.example.test") != nil {
		t.Error("the refused session was kept")
	}

	// blog is destroyed and recreated: the old session is not the new
	// blog's.
	w.keys["SHA256:contractor"] = "blog"
	c = signInAs(t, d, blog)
	w.apps["blog"] = created.Add(time.Hour)
	if alive(t, d, c) {
		t.Error("a session of the old blog reaches a new app named blog")
	}

	// apps:destroy and apps:rename end an app's sessions at once (the
	// platform's hooks call EndAppSessions), the admin's stay.
	w.apps["blog"] = created
	c = signInAs(t, d, blog)
	admin := signInAs(t, d, commands.LoginGrant{Key: "SHA256:admin"})
	if n := d.EndAppSessions("blog"); n != 1 {
		t.Errorf("EndAppSessions ended %d sessions, want 1", n)
	}
	if alive(t, d, c) || !alive(t, d, admin) {
		t.Error("EndAppSessions ended the wrong sessions")
	}
}
