package dashboard

// The apps pages: the list (every app the session may see, what is
// broken first), one app's page, and the actions its forms post. Each
// reads and acts through the command runner, with the session's scope.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
)

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
	if err := d.cmds.runJSON(ctx, s, &rep, "ps:report", name, "--format", "json"); err != nil {
		sum.Broken = err.Error()
		return sum
	}
	var dom platform.DomainsReport
	if err := d.cmds.runJSON(ctx, s, &dom, "domains:report", name, "--format", "json"); err == nil {
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
		if err := d.cmds.runJSON(ctx, s, &list, "apps:list", "--format", "detailed"); err != nil {
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
	if err := d.cmds.runJSON(ctx, s, &rep, "ps:report", app, "--format", "json"); err != nil {
		d.commandFailed(w, err)
		return
	}
	data := appPageData{appSummary: d.summary(ctx, s, app), Formation: rep.Formation, Revealed: r.URL.Query().Get("reveal") == "1"}
	// ps:report above ran with the session's scope: the app is one it may see.
	data.Traffic = appTraffic(d.metrics, app, time.Now())
	if err := d.cmds.runJSON(ctx, s, &data.Releases, "releases", app, "--format", "json"); err != nil {
		d.commandFailed(w, err)
		return
	}
	slices.Reverse(data.Releases) // newest first
	var dom platform.DomainsReport
	if err := d.cmds.runJSON(ctx, s, &dom, "domains:report", app, "--format", "json"); err == nil {
		data.Domains = dom.Own
	}
	data.Admin = s.app == ""
	if err := d.cmds.runJSON(ctx, s, &data.Builds, "builds:list", app, "--format", "json"); err == nil && len(data.Builds) > shownBuilds {
		data.Builds = data.Builds[:shownBuilds]
	}
	var cfg map[string]string
	if err := d.cmds.runJSON(ctx, s, &cfg, "config:show", app, "--format", "json"); err != nil {
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
	_, err := d.cmds.runInput(ctx, s, stdin, args...)
	if errors.Is(err, commands.ErrForbidden) {
		d.log.Warn("dashboard command refused", "remote", r.RemoteAddr, "scope", scopeName(s), "command", a.shown, "reason", err.Error())
		d.commandFailed(w, err)
		return
	}
	if err != nil {
		d.sessions.setFlash(s, a.shown+" failed: "+err.Error(), false)
	} else {
		d.sessions.setFlash(s, a.shown+": done", true)
	}
	http.Redirect(w, r, a.back, http.StatusSeeOther)
}
