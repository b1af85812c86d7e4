package dashboard

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"

	"github.com/berth-paas/berth/commands"
)

// doOn is do for a request to host instead of the dashboard's.
func doOn(d *Dashboard, host, method, target string, form url.Values, header http.Header) *httptest.ResponseRecorder {
	body := strings.NewReader("")
	if form != nil {
		body = strings.NewReader(form.Encode())
	}
	r := httptest.NewRequest(method, "http://"+host+target, body)
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

// A reload that moves the dashboard from d1 to d2 frees d1: an app's
// wildcard domain may route it now and receive the admin's session cookie
// from a bookmark. That cookie must not open the dashboard at d2.
func TestAHostChangeEndsEverySession(t *testing.T) {
	d, _ := newTest(t)
	c, _ := signIn(t, d)
	d.SetHost("dash2.example.test", 0, nil)
	if w := doOn(d, "dash2.example.test", "GET", "/", nil, http.Header{"Cookie": {c.String()}}); w.Code != http.StatusUnauthorized {
		t.Errorf("a session made on the old host, replayed on the new one: %d, want 401", w.Code)
	}
	// And back: the session is gone, not just refused on the new host.
	d.SetHost("dash.example.test", 0, nil)
	if w := do(d, "GET", "/", nil, http.Header{"Cookie": {c.String()}}); w.Code != http.StatusUnauthorized {
		t.Errorf("a session survived a host change and back: %d, want 401", w.Code)
	}
}

func TestAHostChangeVoidsLoginURLs(t *testing.T) {
	d, _ := newTest(t)
	u, _, _ := d.NewLogin(commands.LoginGrant{})
	tok := token(t, u)
	d.SetHost("dash2.example.test", 0, nil)
	if w := doOn(d, "dash2.example.test", "POST", "/login", url.Values{"token": {tok}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("a login URL of the old host used on the new one: %d, want 403", w.Code)
	}
}

func TestTurningTheDashboardOffEndsEverySession(t *testing.T) {
	d, _ := newTest(t)
	c, _ := signIn(t, d)
	d.SetHost("", 0, nil)
	d.SetHost("dash.example.test", 0, nil)
	if w := do(d, "GET", "/", nil, http.Header{"Cookie": {c.String()}}); w.Code != http.StatusUnauthorized {
		t.Errorf("a session survived the dashboard turned off and on: %d, want 401", w.Code)
	}
}

// The same reload keeps sessions: only a host change ends them.
func TestAReloadWithTheSameHostKeepsSessions(t *testing.T) {
	d, _ := newTest(t)
	c, _ := signIn(t, d)
	d.SetHost("DASH.example.test", 0, nil)
	if d.sessions.sessionFor(c.Value, "dash.example.test") == nil {
		t.Errorf("a reload with the same host ended the session")
	}
}

// A session is bound to the host it was made on: its cookie presented on
// another host (whatever routed the request there) is refused.
func TestASessionCookieOnAnotherHostIsRefused(t *testing.T) {
	d, _ := newTest(t)
	c, _ := signIn(t, d)
	if w := doOn(d, "other.example.test", "GET", "/", nil, http.Header{"Cookie": {c.String()}}); w.Code != http.StatusUnauthorized {
		t.Errorf("a session cookie on another host: %d, want 401", w.Code)
	}
	if d.sessions.sessionFor(c.Value, "DASH.example.test:8443") == nil {
		t.Errorf("a session cookie on its own host with a port was refused")
	}
}

func TestALoginURLOnAnotherHostIsRefused(t *testing.T) {
	d, _ := newTest(t)
	u, _, _ := d.NewLogin(commands.LoginGrant{})
	if w := doOn(d, "other.example.test", "POST", "/login", url.Values{"token": {token(t, u)}}, nil); w.Code != http.StatusForbidden {
		t.Errorf("a login URL used on another host: %d, want 403", w.Code)
	}
}
