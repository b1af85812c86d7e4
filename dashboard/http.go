package dashboard

import (
	"bytes"
	"crypto/subtle"
	"embed"
	"errors"
	"html/template"
	"net/http"
	"strings"
	"time"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
)

//go:embed templates/*.html
var templateFS embed.FS

var pages = template.Must(template.New("").Funcs(template.FuncMap{
	"ago": func(t time.Time) string {
		if t.IsZero() {
			return "-"
		}
		return time.Since(t).Round(time.Second).String() + " ago"
	},
}).ParseFS(templateFS, "templates/*.html"))

// actionTimeout bounds an action (a rollback waits for the new
// containers' checks); it runs to the end even if the browser leaves.
const actionTimeout = 10 * time.Minute

// ServeHTTP serves the dashboard's pages. Cross-origin POSTs are refused
// by the browser's own signals (Sec-Fetch-Site, Origin:
// http.CrossOriginProtection), and every POST but the login's must carry
// the session's form token too, for clients that send neither.
func (d *Dashboard) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	// No script but the live logs'; the login token in the URL must not leak in a
	// Referer to another site; pages with secrets must not be cached.
	// The one script is the dashboard's own file (the live logs); no
	// inline script, so an injected one would not run.
	h.Set("Content-Security-Policy", "default-src 'none'; script-src 'self'; connect-src 'self'; style-src 'unsafe-inline'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	// same-origin, not no-referrer: with no-referrer a browser sends
	// "Origin: null" on the forms' POSTs, which the cross-origin check
	// must refuse (over plain HTTP there is no Sec-Fetch-Site).
	h.Set("Referrer-Policy", "same-origin")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("X-Frame-Options", "DENY")
	h.Set("Cache-Control", "no-store")
	d.handlerOnce.Do(func() { d.mux = d.handler() })
	d.mux.ServeHTTP(w, r)
}

func (d *Dashboard) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("GET /login", d.loginPage)
	mux.HandleFunc("POST /login", d.loginSubmit)
	mux.HandleFunc("POST /logout", d.withSession(d.logout))
	mux.HandleFunc("GET /{$}", d.withSession(d.appsPage))
	mux.HandleFunc("GET /apps/{app}", d.withSession(d.appPage))
	mux.HandleFunc("POST /apps/{app}/{action}", d.withSession(d.appAction))
	mux.HandleFunc("GET /apps/{app}/logs/stream", d.withSession(d.logsStream))
	mux.HandleFunc("GET /apps/{app}/logs.txt", d.withSession(d.logsDownload))
	mux.HandleFunc("GET /apps/{app}/builds/{id}/stream", d.withSession(d.buildStream))
	mux.HandleFunc("GET /apps/{app}/builds/{file}", d.withSession(d.buildLog))
	mux.HandleFunc("GET /datastores", d.withSession(d.datastoresPage))
	mux.HandleFunc("GET /keys", d.withSession(d.keysPage))
	mux.HandleFunc("POST /keys/{action}", d.withSession(d.keysAction))
	mux.HandleFunc("GET /static/logs.js", d.script)
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		d.fail(w, http.StatusNotFound, "No such page.")
	})
	cop := http.NewCrossOriginProtection()
	cop.SetDenyHandler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		d.log.Warn("dashboard: cross-origin request refused", "remote", r.RemoteAddr, "origin", r.Header.Get("Origin"), "path", r.URL.Path)
		d.fail(w, http.StatusForbidden, "Cross-site request refused: actions are taken from the dashboard's own pages only.")
	}))
	return cop.Handler(mux)
}

type pageData struct {
	Title   string
	Scope   string // "admin" or "app NAME"
	Admin   bool   // an admin session: the navigation links the keys page
	Nav     string // the navigation's current entry: apps, datastores, keys
	CSRF    string
	Flash   string
	FlashOK bool
	Body    any
}

func (d *Dashboard) render(w http.ResponseWriter, status int, name string, data pageData) {
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, data); err != nil {
		d.log.Error("dashboard: rendering a page", "page", name, "error", err)
		http.Error(w, "the page could not be rendered; see Caddy's log", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func (d *Dashboard) fail(w http.ResponseWriter, status int, msg string) {
	d.render(w, status, "message.html", pageData{Title: http.StatusText(status), Body: msg})
}

// loginPage shows a button that signs in: the token is used by the POST
// it sends, not by this GET, so that a link preview or a prefetch does
// not use the URL up, and the session cookie is set by a same-site
// request (a SameSite=Strict cookie set while following a link from
// elsewhere would not be sent on the redirect after it).
func (d *Dashboard) loginPage(w http.ResponseWriter, r *http.Request) {
	token := r.URL.Query().Get("token")
	// Caddy's access log skips this request (its URL holds the token):
	// this line, without the token, is its record.
	d.log.Info("dashboard: login page opened", "remote", r.RemoteAddr, "valid", d.sessions.validLogin(token))
	if !d.sessions.validLogin(token) {
		d.fail(w, http.StatusForbidden, "This login URL was used already, has expired, or is not one: run `dashboard:login APP` (or --admin) over ssh again.")
		return
	}
	d.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", Body: token})
}

func (d *Dashboard) loginSubmit(w http.ResponseWriter, r *http.Request) {
	cookie, s, ok := d.sessions.redeem(r.PostFormValue("token"), r.Host)
	if !ok {
		d.log.Warn("dashboard: login refused (used, expired or unknown URL)", "remote", r.RemoteAddr)
		d.fail(w, http.StatusForbidden, "This login URL was used already, has expired, or is not one: run `dashboard:login APP` (or --admin) over ssh again.")
		return
	}
	d.log.Info("dashboard: signed in", "remote", r.RemoteAddr, "scope", scopeName(s))
	http.SetCookie(w, &http.Cookie{
		Name: cookieName, Value: cookie, Path: "/",
		MaxAge: int(time.Until(s.expires).Seconds()), HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode,
	})
	http.Redirect(w, r, "/", http.StatusSeeOther)
}

func (d *Dashboard) logout(w http.ResponseWriter, r *http.Request, s *session) {
	if c, err := r.Cookie(cookieName); err == nil {
		d.sessions.end(c.Value)
	}
	http.SetCookie(w, &http.Cookie{Name: cookieName, Value: "", Path: "/", MaxAge: -1, HttpOnly: true,
		Secure: r.TLS != nil, SameSite: http.SameSiteStrictMode})
	d.render(w, http.StatusOK, "message.html", pageData{Title: "Signed out", Body: "Signed out. Run `dashboard:login` over ssh to sign in again."})
}

// withSession passes the request's session on, or answers 401; a POST
// must also carry the session's form token.
func (d *Dashboard) withSession(next func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		c, err := r.Cookie(cookieName)
		var s *session
		if err == nil {
			s = d.sessions.sessionFor(c.Value, r.Host)
		}
		if s != nil {
			// The key may have been removed, the app destroyed or
			// recreated since the session began: the session holds only
			// while what made it does.
			if err := d.sessions.granted(r.Context(), s.grant); err != nil {
				d.log.Warn("dashboard: session ended: what it was made for is gone", "remote", r.RemoteAddr, "scope", scopeName(s), "reason", err.Error())
				d.sessions.end(c.Value)
				s = nil
			}
		}
		if s == nil {
			d.fail(w, http.StatusUnauthorized, "Not signed in, or the session has ended: run `ssh berth@SERVER dashboard:login APP` (or --admin) and open the URL it prints.")
			return
		}
		if r.Method == http.MethodPost && subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf")), []byte(s.csrf)) != 1 {
			d.log.Warn("dashboard: POST without the session's form token refused", "remote", r.RemoteAddr, "path", r.URL.Path)
			d.fail(w, http.StatusForbidden, "This form is stale or did not come from the dashboard: reload the page and try again.")
			return
		}
		next(w, r, s)
	}
}

func scopeName(s *session) string {
	if s.app == "" {
		return "admin"
	}
	return "app " + s.app
}

func (d *Dashboard) commandFailed(w http.ResponseWriter, err error) {
	status := http.StatusBadGateway
	switch {
	case errors.Is(err, commands.ErrForbidden):
		status = http.StatusForbidden
	case errors.Is(err, platform.ErrAppNotFound):
		status = http.StatusNotFound
	}
	d.fail(w, status, err.Error())
}

func (d *Dashboard) page(w http.ResponseWriter, s *session, name, title string, body any) {
	flash, ok := d.sessions.takeFlash(s)
	nav := strings.TrimSuffix(name, ".html")
	if nav == "app" {
		nav = "apps"
	}
	d.render(w, http.StatusOK, name, pageData{Title: title, Scope: scopeName(s), Admin: s.app == "", Nav: nav, CSRF: s.csrf, Flash: flash, FlashOK: ok, Body: body})
}
