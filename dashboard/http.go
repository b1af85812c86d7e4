package dashboard

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"slices"
	"strconv"
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
	d.log.Info("dashboard: login page opened", "remote", r.RemoteAddr, "valid", d.validLogin(token))
	if !d.validLogin(token) {
		d.fail(w, http.StatusForbidden, "This login URL was used already, has expired, or is not one: run `dashboard:login APP` (or --admin) over ssh again.")
		return
	}
	d.render(w, http.StatusOK, "login.html", pageData{Title: "Sign in", Body: token})
}

func (d *Dashboard) loginSubmit(w http.ResponseWriter, r *http.Request) {
	cookie, s, ok := d.redeem(r.PostFormValue("token"), r.Host)
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
		d.endSession(c.Value)
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
			s = d.sessionFor(c.Value, r.Host)
		}
		if s != nil {
			// The key may have been removed, the app destroyed or
			// recreated since the session began: the session holds only
			// while what made it does.
			if err := d.granted(r.Context(), s.grant); err != nil {
				d.log.Warn("dashboard: session ended: what it was made for is gone", "remote", r.RemoteAddr, "scope", scopeName(s), "reason", err.Error())
				d.endSession(c.Value)
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

// cmdError is a command's failure, with what it wrote for people.
type cmdError struct {
	err error
	msg string
}

func (e *cmdError) Error() string { return e.msg }
func (e *cmdError) Unwrap() error { return e.err }

var bangPrefix = regexp.MustCompile(`(?m)^ !\s+`)

// run runs a command line with the session's scope: a session made by a
// deploy key (or for one app) is held to exactly what that key may run
// over SSH (commands.Authorize, then the deploy key's limits).
func (d *Dashboard) run(ctx context.Context, s *session, args ...string) (string, error) {
	return d.runInput(ctx, s, "", args...)
}

// runInput is run with stdin (ssh-keys:add reads the key there).
func (d *Dashboard) runInput(ctx context.Context, s *session, stdin string, args ...string) (string, error) {
	if s.app != "" {
		if err := commands.Authorize(s.app, args); err != nil {
			return "", &cmdError{err, "Permission denied: " + err.Error()}
		}
		ctx = platform.AsDeployKey(ctx)
	}
	d.mu.Lock()
	b := d.backend
	d.mu.Unlock()
	var out, errb bytes.Buffer
	err := d.exec(ctx, b, args, commands.IO{Stdin: strings.NewReader(stdin), Stdout: &out, Stderr: &errb})
	if err != nil {
		msg := strings.TrimSpace(bangPrefix.ReplaceAllString(errb.String(), ""))
		if msg == "" {
			msg = err.Error()
		}
		return out.String(), &cmdError{err, msg}
	}
	return out.String(), nil
}

// runJSON runs a command that prints JSON and decodes it into v.
func (d *Dashboard) runJSON(ctx context.Context, s *session, v any, args ...string) error {
	out, err := d.run(ctx, s, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
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

// appSummary is one row of the apps page.
type appSummary struct {
	Name       string
	Release    int
	URLs       []string
	State      string // running, failed, stopped, not deployed
	Broken     string // what is wrong, "" when nothing is
	LastDeploy *platform.DeployAttempt
	Processes  string
	Traffic    traffic
}

func (d *Dashboard) summary(ctx context.Context, s *session, name string) appSummary {
	sum := appSummary{Name: name, State: "unknown"}
	var rep platform.ProcessReport
	if err := d.runJSON(ctx, s, &rep, "ps:report", name, "--format", "json"); err != nil {
		sum.Broken = err.Error()
		return sum
	}
	var dom platform.DomainsReport
	if err := d.runJSON(ctx, s, &dom, "domains:report", name, "--format", "json"); err == nil {
		sum.URLs = dom.URLs
	}
	sum.Release, sum.LastDeploy = rep.Release, rep.LastDeploy
	// The traffic only now: ps:report ran with the session's scope, so
	// this is an app the session may see.
	var failing string
	sum.Traffic, failing = glance(d.metrics, name)
	switch {
	case rep.Failed:
		sum.State = "failed"
	case rep.Running:
		sum.State = "running"
	case rep.Deployed:
		sum.State = "stopped"
	default:
		sum.State = "not deployed"
	}
	counts := map[string]int{}
	var bad []string
	for _, p := range rep.Processes {
		if p.State == "running" {
			counts[p.Type]++
		} else {
			bad = append(bad, fmt.Sprintf("%s %s", p.Name, p.State))
		}
	}
	sum.Processes = platform.FormatProcesses(counts)
	switch {
	case rep.LastDeploy != nil && rep.LastDeploy.Status == "failed":
		sum.Broken = fmt.Sprintf("deploy of v%d failed: %s", rep.LastDeploy.Release, firstLine(rep.LastDeploy.Error))
	case rep.Failed:
		sum.Broken = "the app failed"
	case len(bad) > 0:
		sum.Broken = strings.Join(bad, ", ")
	case rep.Deployed && !rep.Running:
		sum.Broken = "stopped"
	case failing != "":
		sum.Broken = failing
	}
	return sum
}

func firstLine(s string) string { return strings.SplitN(s, "\n", 2)[0] }

func (d *Dashboard) appsPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	names := []string{s.app}
	if s.app == "" {
		var list []platform.AppInfo
		if err := d.runJSON(ctx, s, &list, "apps:list", "--format", "detailed"); err != nil {
			d.commandFailed(w, err)
			return
		}
		names = names[:0]
		for _, a := range list {
			names = append(names, a.Name)
		}
	}
	apps := make([]appSummary, 0, len(names))
	for _, n := range names {
		apps = append(apps, d.summary(ctx, s, n))
	}
	// What is broken comes first, then by name.
	slices.SortStableFunc(apps, func(a, b appSummary) int {
		if (a.Broken != "") != (b.Broken != "") {
			if a.Broken != "" {
				return -1
			}
			return 1
		}
		return strings.Compare(a.Name, b.Name)
	})
	d.page(w, s, "apps.html", "Apps", apps)
}

func (d *Dashboard) page(w http.ResponseWriter, s *session, name, title string, body any) {
	flash, ok := d.takeFlash(s)
	nav := strings.TrimSuffix(name, ".html")
	if nav == "app" {
		nav = "apps"
	}
	d.render(w, http.StatusOK, name, pageData{Title: title, Scope: scopeName(s), Admin: s.app == "", Nav: nav, CSRF: s.csrf, Flash: flash, FlashOK: ok, Body: body})
}

type releaseRow struct {
	Version   int       `json:"version"`
	Current   bool      `json:"current"`
	Reason    string    `json:"reason"`
	GitRev    string    `json:"git_rev"`
	Image     string    `json:"image"`
	CreatedAt time.Time `json:"created_at"`
}

type configRow struct {
	Key, Value string
}

type appPageData struct {
	appSummary
	Formation map[string]int
	Releases  []releaseRow
	Config    []configRow
	Revealed  bool
	Builds    []platform.Build // newest first, at most shownBuilds
	Domains   []string         // the app's own (domains:add)
	Admin     bool             // an admin session: it may add and remove domains
}

// shownBuilds is how many builds the app page lists.
const shownBuilds = 5

func (d *Dashboard) appPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	app := r.PathValue("app")
	var rep platform.ProcessReport
	if err := d.runJSON(ctx, s, &rep, "ps:report", app, "--format", "json"); err != nil {
		d.commandFailed(w, err)
		return
	}
	data := appPageData{appSummary: d.summary(ctx, s, app), Formation: rep.Formation, Revealed: r.URL.Query().Get("reveal") == "1"}
	// ps:report above ran with the session's scope: the app is one it may see.
	data.Traffic = appTraffic(d.metrics, app, time.Now())
	if err := d.runJSON(ctx, s, &data.Releases, "releases", app, "--format", "json"); err != nil {
		d.commandFailed(w, err)
		return
	}
	slices.Reverse(data.Releases) // newest first
	var dom platform.DomainsReport
	if err := d.runJSON(ctx, s, &dom, "domains:report", app, "--format", "json"); err == nil {
		data.Domains = dom.Own
	}
	data.Admin = s.app == ""
	if err := d.runJSON(ctx, s, &data.Builds, "builds:list", app, "--format", "json"); err == nil && len(data.Builds) > shownBuilds {
		data.Builds = data.Builds[:shownBuilds]
	}
	var cfg map[string]string
	if err := d.runJSON(ctx, s, &cfg, "config:show", app, "--format", "json"); err != nil {
		d.commandFailed(w, err)
		return
	}
	for k, v := range cfg {
		if !data.Revealed {
			v = "••••••••"
		}
		data.Config = append(data.Config, configRow{k, v})
	}
	slices.SortFunc(data.Config, func(a, b configRow) int { return strings.Compare(a.Key, b.Key) })
	d.page(w, s, "app.html", app, data)
}

var (
	processType = regexp.MustCompile(`^[a-zA-Z0-9][a-zA-Z0-9_-]*$`)
	configKey   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	// domainName keeps what reaches the command a name, never a flag
	// (--global); the command checks the rest.
	domainName = regexp.MustCompile(`^[A-Za-z0-9*]([A-Za-z0-9.*-]{0,251}[A-Za-z0-9])?$`)
)

// appAction runs one action of the app page and sends the browser back
// to it, with the result shown once.
func (d *Dashboard) appAction(w http.ResponseWriter, r *http.Request, s *session) {
	app := r.PathValue("app")
	var args []string
	shown := "" // the command as the page and the log show it
	switch action := r.PathValue("action"); action {
	case "rollback":
		v, err := strconv.Atoi(strings.TrimPrefix(r.PostFormValue("version"), "v"))
		if err != nil || v < 1 {
			d.fail(w, http.StatusBadRequest, "Pick a release to roll back to.")
			return
		}
		args = []string{"rollback", app, "v" + strconv.Itoa(v)}
	case "restart":
		args = []string{"ps:restart", app}
	case "scale":
		typ, n := r.PostFormValue("type"), r.PostFormValue("count")
		if !processType.MatchString(typ) {
			d.fail(w, http.StatusBadRequest, "Name a process type to scale.")
			return
		}
		if c, err := strconv.Atoi(n); err != nil || c < 0 {
			d.fail(w, http.StatusBadRequest, "The number of containers must be a whole number, 0 or more.")
			return
		}
		args = []string{"ps:scale", app, typ + "=" + n}
	case "config-set", "config-unset":
		key := r.PostFormValue("key")
		if !configKey.MatchString(key) {
			d.fail(w, http.StatusBadRequest, "A config var's name is letters, digits and _, and does not start with a digit (DATABASE_URL).")
			return
		}
		if action == "config-set" {
			// The value stays out of the page's message and the log.
			args, shown = []string{"config:set", app, key + "=" + r.PostFormValue("value")}, "config:set "+app+" "+key
		} else {
			args = []string{"config:unset", app, key}
		}
	case "domain-add", "domain-remove":
		domain := strings.TrimSpace(r.PostFormValue("domain"))
		if !domainName.MatchString(domain) {
			d.fail(w, http.StatusBadRequest, "Give a domain name, such as www.example.com.")
			return
		}
		args = []string{"domains:" + strings.TrimPrefix(action, "domain-"), app, domain}
	default:
		d.fail(w, http.StatusNotFound, fmt.Sprintf("No action %q.", action))
		return
	}
	if shown == "" {
		shown = strings.Join(args, " ")
	}
	d.act(w, r, s, postAction{shown: shown, timeout: actionTimeout, back: "/apps/" + app}, "", args...)
}

// postAction is how a POST runs its command: shown is what the log and the
// flash say of it (never a secret), timeout bounds it, back is the page
// the browser goes back to.
type postAction struct {
	shown   string
	timeout time.Duration
	back    string
}

// act runs a POST's command with stdin in the session's scope, logs it,
// and goes back to the page with a flash saying how it went; a refusal
// by the command table is the 403 page, as a forged request gets.
func (d *Dashboard) act(w http.ResponseWriter, r *http.Request, s *session, a postAction, stdin string, args ...string) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(r.Context()), a.timeout)
	defer cancel()
	d.log.Info("dashboard command", "remote", r.RemoteAddr, "scope", scopeName(s), "command", a.shown)
	_, err := d.runInput(ctx, s, stdin, args...)
	if errors.Is(err, commands.ErrForbidden) {
		d.log.Warn("dashboard command refused", "remote", r.RemoteAddr, "scope", scopeName(s), "command", a.shown, "reason", err.Error())
		d.commandFailed(w, err)
		return
	}
	if err != nil {
		d.setFlash(s, a.shown+" failed: "+err.Error(), false)
	} else {
		d.setFlash(s, a.shown+": done", true)
	}
	http.Redirect(w, r, a.back, http.StatusSeeOther)
}
