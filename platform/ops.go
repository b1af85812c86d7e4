package platform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strconv"
	"strings"
	"time"
)

// ErrNotDeployed is returned for an operation that needs a release.
var ErrNotDeployed = errors.New("app has not been deployed")

func (p *Platform) lockedApp(ctx context.Context, name, what string) (*App, func(), error) {
	if err := ValidateAppName(name); err != nil {
		return nil, nil, err
	}
	unlock, err := p.lock(name, what)
	if err != nil {
		return nil, nil, err
	}
	a, err := loadApp(ctx, p.store, name)
	if err != nil {
		unlock()
		return nil, nil, err
	}
	return a, unlock, nil
}

func currentRelease(a *App) (Release, error) {
	rel, ok := a.CurrentRelease()
	if !ok {
		return Release{}, Errorf(ErrNotDeployed, "%s has no release yet; push to it first", a.Name)
	}
	return rel, nil
}

// ParseScale reads "web=3 worker=2". How many a type may have is the
// platform's limit (max_scale), which Scale checks.
func ParseScale(args []string) (map[string]int, error) {
	if len(args) == 0 {
		return nil, errors.New("say what to scale, for example web=2 worker=1")
	}
	out := map[string]int{}
	for _, arg := range args {
		typ, n, ok := strings.Cut(arg, "=")
		q, err := strconv.Atoi(n)
		if !ok || err != nil || q < 0 {
			return nil, fmt.Errorf("%q: want TYPE=N with N a number from 0 up", arg)
		}
		if !processTypePattern.MatchString(typ) {
			return nil, fmt.Errorf("%q: %q is not a process type", arg, typ)
		}
		out[typ] = q
	}
	return out, nil
}

// UpdateApp changes the app's record under its lock ("a settings
// change"), for a package whose setting lives on the record (applogs'
// max-size, which the container spec reads); an error from change leaves
// the record as it was.
func (p *Platform) UpdateApp(ctx context.Context, app string, change func(*App) error) error {
	a, unlock, err := p.lockedApp(ctx, app, "a settings change")
	if err != nil {
		return err
	}
	defer unlock()
	if err := change(a); err != nil {
		return err
	}
	return saveApp(ctx, p.store, a)
}

// ProcessStatus is one container in a process report.
type ProcessStatus struct {
	Name     string    `json:"name"`
	Type     string    `json:"type"`
	Index    int       `json:"index"`
	Release  int       `json:"release"`
	State    string    `json:"state"` // running, restarting, exited, failed, stopped, missing
	Detail   string    `json:"detail,omitempty"`
	Restarts int       `json:"restarts"`
	Started  time.Time `json:"started_at"`
	// Node and Address are where a process of a scheduler other than
	// docker-local runs (a Swarm task: its node's hostname, the node's
	// address and the task's published port); empty for containers of
	// Berth's engine.
	Node    string `json:"node,omitempty"`
	Address string `json:"address,omitempty"`
}

// ProcessReport describes the app's processes (Dokku's ps:report).
type ProcessReport struct {
	App      string `json:"app"`
	Deployed bool   `json:"deployed"`
	Release  int    `json:"release"`
	// Status sums the processes up as Docker sees them: "not deployed",
	// "stopped" (ps:stop), "running", "restarting" (a crash loop that
	// Docker's restart policy is still answering), "failed" (a container
	// stopped for good: its restart policy gave up), or "running
	// (…)" when only part of the formation runs.
	Status        string `json:"status"`
	Running       bool   `json:"running"`
	Failed        bool   `json:"failed"`
	RestartPolicy string `json:"restart_policy"`
	// GlobalRestartPolicy is ps:set --global's ("" when not set), which
	// RestartPolicy is when the app sets none.
	GlobalRestartPolicy string `json:"global_restart_policy"`
	StopTimeout         int    `json:"stop_timeout_seconds"`
	// AppStopTimeout and GlobalStopTimeout are the stop timeouts ps:set
	// APP and ps:set --global set (0: none); StopTimeout is the one that
	// applies.
	AppStopTimeout    int             `json:"app_stop_timeout_seconds,omitempty"`
	GlobalStopTimeout int             `json:"global_stop_timeout_seconds,omitempty"`
	Formation         map[string]int  `json:"formation"`
	Processes         []ProcessStatus `json:"processes"`
	LastDeploy        *DeployAttempt  `json:"last_deploy,omitempty"`
	// FormationCheck is what the formation check (scheduler/dockerlocal/formation.go) last did
	// to this release's containers, or found it could not fix.
	FormationCheck *FormationNote `json:"formation_check,omitempty"`
	// ProcfilePath is ps:set procfile-path; "" for Procfile.
	ProcfilePath string `json:"procfile_path"`
}

// changeConfig applies a config change to *cfg (made when nil), an app's
// or the global one: set's vars, then unset's removed; with replace,
// unset is every var set lacks. It returns the removed keys.
func changeConfig(cfg *map[string]string, set map[string]string, unset []string, replace bool) []string {
	if *cfg == nil {
		*cfg = map[string]string{}
	}
	if replace {
		unset = replacedKeys(*cfg, set)
	}
	maps.Copy(*cfg, set)
	for _, k := range unset {
		delete(*cfg, k)
	}
	return unset
}

// replacedKeys are the keys of current that set lacks, sorted: what a
// replace removes.
func replacedKeys(current, set map[string]string) []string {
	var gone []string
	for k := range current {
		if _, ok := set[k]; !ok {
			gone = append(gone, k)
		}
	}
	slices.Sort(gone)
	return gone
}

func validEnvName(k string) bool {
	if k == "" || (k[0] >= '0' && k[0] <= '9') {
		return false
	}
	for _, r := range k {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9') {
			return false
		}
	}
	return true
}
