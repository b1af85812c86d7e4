package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/services"
)

// The datastores and keys pages. Like every page they read through the
// command table with the session's scope: a datastore is shared by the
// apps linked to it, so the table keeps the datastore commands for admin
// keys, and a deploy key's session sees none (the page says why); the
// keys are Berth's own, so a deploy key's session gets 403 for them.

// datastore is one service on the datastores page.
type datastore struct {
	Type    string          `json:"type"`
	Name    string          `json:"name"`
	Image   string          `json:"image"`
	Status  string          `json:"status"`
	URL     string          `json:"url"` // holds the password: masked until revealed
	Exposed string          `json:"exposed"`
	Created time.Time       `json:"created_at"`
	Links   []services.Link `json:"links"`
}

type datastoresPageData struct {
	Stores   []datastore
	Revealed bool
	// Refused is why the session's key may not read datastores ("" when
	// it may); Unavailable is a type's failure to list (its message).
	Refused     string
	Unavailable []string
}

// datastoresPage is GET /datastores: each type's services (TYPE:list), or
// for a session of one app the ones linked to it (TYPE:app-links APP,
// then TYPE:info NAME), as far as the command table lets its key.
func (d *Dashboard) datastoresPage(w http.ResponseWriter, r *http.Request, s *session) {
	ctx := r.Context()
	data := datastoresPageData{Revealed: r.URL.Query().Get("reveal") == "1"}
	for _, tn := range services.TypeNames {
		stores, err := d.datastores(ctx, s, tn)
		if errors.Is(err, commands.ErrForbidden) {
			d.log.Info("dashboard: datastores refused by the command table", "remote", r.RemoteAddr, "scope", scopeName(s), "type", tn)
			data.Refused, data.Stores = err.Error(), nil
			break
		}
		if err != nil {
			data.Unavailable = append(data.Unavailable, tn+": "+err.Error())
			continue
		}
		data.Stores = append(data.Stores, stores...)
	}
	for i := range data.Stores {
		if !data.Revealed {
			data.Stores[i].URL = maskPassword(data.Stores[i].URL)
		}
	}
	d.page(w, s, "datastores.html", "Datastores", data)
}

// datastores are the services of type tn the session may see.
func (d *Dashboard) datastores(ctx context.Context, s *session, tn string) ([]datastore, error) {
	var list []datastore
	if s.app == "" {
		if err := d.cmds.runJSON(ctx, s, &list, tn+":list", "--format", "json"); err != nil {
			return nil, err
		}
		return list, nil
	}
	out, err := d.cmds.run(ctx, s, tn+":app-links", s.app)
	if err != nil {
		return nil, err
	}
	for _, name := range strings.Fields(out) {
		var one datastore
		if err := d.cmds.runJSON(ctx, s, &one, tn+":info", name, "--format", "json"); err != nil {
			return nil, err
		}
		list = append(list, one)
	}
	// Only what is linked to the session's app, whatever a command
	// answered.
	return slices.DeleteFunc(list, func(ds datastore) bool {
		return !slices.ContainsFunc(ds.Links, func(l services.Link) bool { return l.App == s.app })
	}), nil
}

// maskPassword hides the password of a service URL
// (postgres://user:secret@host/db).
func maskPassword(u string) string {
	scheme, rest, ok := strings.Cut(u, "://")
	if !ok {
		return u
	}
	userinfo, host, ok := strings.Cut(rest, "@")
	if !ok {
		return u
	}
	user, _, hasPassword := strings.Cut(userinfo, ":")
	if !hasPassword {
		return u
	}
	return scheme + "://" + user + ":••••••••@" + host
}

type keyRow struct {
	Name        string    `json:"name"`
	Fingerprint string    `json:"fingerprint"`
	App         string    `json:"app"`
	AddedAt     time.Time `json:"added_at"`
}

// keysPage is GET /keys: the keys added with ssh-keys:add. ssh-keys:list
// is for admin keys: a deploy key's session is refused by the command
// table (403), as it would be over ssh.
func (d *Dashboard) keysPage(w http.ResponseWriter, r *http.Request, s *session) {
	var list []keyRow
	if err := d.cmds.runJSON(r.Context(), s, &list, "ssh-keys:list", "--format", "json"); err != nil {
		if errors.Is(err, commands.ErrForbidden) {
			d.log.Warn("dashboard: keys page refused", "remote", r.RemoteAddr, "scope", scopeName(s))
		}
		d.commandFailed(w, err)
		return
	}
	d.page(w, s, "keys.html", "Keys", list)
}

// keyName keeps what reaches ssh-keys:add and :remove a name, never a
// flag: the same rule as package keys' names, so the page's error says
// what the command would have said.
var keyName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$`)

// keysAction is POST /keys/add (name, key, app: empty for an admin key)
// and POST /keys/remove (name): ssh-keys:add and ssh-keys:remove with the
// session's scope, which the table keeps for admin keys (403 for a
// deploy key's session, forged or not).
func (d *Dashboard) keysAction(w http.ResponseWriter, r *http.Request, s *session) {
	name := strings.TrimSpace(r.PostFormValue("name"))
	if !keyName.MatchString(name) {
		d.fail(w, http.StatusBadRequest, "Give the key a name: letters, digits, and . _ @ - after the first (alice, ci-deploy).")
		return
	}
	var args []string
	stdin := ""
	switch r.PathValue("action") {
	case "add":
		stdin = strings.TrimSpace(r.PostFormValue("key"))
		if stdin == "" || strings.ContainsAny(stdin, "\r\n") {
			d.fail(w, http.StatusBadRequest, "Paste one public key, on one line, as in a .pub file (ssh-ed25519 AAAA... comment).")
			return
		}
		args = []string{"ssh-keys:add", name}
		if app := strings.TrimSpace(r.PostFormValue("app")); app != "" {
			if err := platform.ValidateAppName(app); err != nil {
				d.fail(w, http.StatusBadRequest, err.Error())
				return
			}
			args = []string{"ssh-keys:add", "--app", app, name}
		}
	case "remove":
		args = []string{"ssh-keys:remove", name}
	default:
		d.fail(w, http.StatusNotFound, fmt.Sprintf("No action %q.", r.PathValue("action")))
		return
	}
	d.act(w, r, s, postAction{shown: strings.Join(args, " "), timeout: time.Minute, back: "/keys"}, stdin, args...)
}
