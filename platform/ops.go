package platform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
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

func index(c docker.Container) int {
	n, _ := strconv.Atoi(c.Labels[docker.LabelIndex])
	return n
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

// update changes the app's record under its lock.
func (p *Platform) update(ctx context.Context, app string, change func(*App)) error {
	return p.UpdateApp(ctx, app, func(a *App) error { change(a); return nil })
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

// reportStatus sums up an app's processes for ps:report.
func reportStatus(a *App, ps []ProcessStatus) string {
	if a.Current == 0 {
		return "not deployed"
	}
	if a.Stopped {
		return "stopped"
	}
	count := map[string]int{}
	var down []string
	for _, p := range ps {
		count[p.State]++
		if p.State != "running" {
			down = append(down, fmt.Sprintf("%s.%d %s", p.Type, p.Index, p.State))
		}
	}
	switch {
	case len(ps) == 0 && formationTotal(a.Formation) == 0:
		return "scaled to zero"
	case count["failed"] > 0:
		return "failed (" + strings.Join(down, ", ") + ")"
	case count["running"] == 0 && count["restarting"] > 0:
		return "restarting (crash loop: " + strings.Join(down, ", ") + ")"
	case count["running"] == 0:
		return "down (" + strings.Join(append(down, "no container runs"), ", ") + ")"
	case len(down) > 0:
		return "running (" + strings.Join(down, ", ") + ")"
	}
	return "running"
}

func formationTotal(f map[string]int) int {
	n := 0
	for _, v := range f {
		n += v
	}
	return n
}

// Report returns the app's process report. A container that exhausted its
// restart policy marks the app failed.
func (p *Platform) Report(ctx context.Context, app string) (ProcessReport, error) {
	a, err := p.App(ctx, app)
	if err != nil {
		return ProcessReport{}, err
	}
	g := p.ProcessGlobals()
	r := ProcessReport{
		App: app, Deployed: a.Current > 0, Release: a.Current,
		RestartPolicy: RestartPolicyOf(a, g), GlobalRestartPolicy: g.RestartPolicy,
		StopTimeout:    int(StopTimeoutOf(a, g) / time.Second),
		AppStopTimeout: a.StopTimeoutSeconds, GlobalStopTimeout: g.StopTimeoutSeconds,
		Formation: maps.Clone(a.Formation), LastDeploy: a.LastDeploy,
		ProcfilePath: a.ProcfilePath,
	}
	cs, err := p.containers(ctx, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return r, err
	}
	for _, c := range cs {
		st := ProcessStatus{
			Name: c.Name, Type: c.Labels[docker.LabelProcess], Index: index(c),
			Restarts: c.RestartCount, Started: c.StartedAt,
		}
		st.Release, _ = strconv.Atoi(c.Labels[docker.LabelRelease])
		switch failed, why := routes.Exhausted(c); {
		case a.Stopped && !c.Running && !c.Restarting:
			st.State = "stopped"
		case failed:
			st.State, st.Detail, r.Failed = "failed", why, true
		case c.Restarting:
			// Docker counts a restarting container as running too.
			st.State = "restarting"
			st.Detail = fmt.Sprintf("exited with code %d; Docker restarts it, restart %d", c.ExitCode, c.RestartCount)
			if c.RestartPolicy == "on-failure" && c.MaxRetries > 0 {
				st.Detail += fmt.Sprintf(" of %d", c.MaxRetries)
			}
		case c.Running:
			st.State = "running"
			r.Running = true
		default:
			st.State, st.Detail = "exited", fmt.Sprintf("exit code %d", c.ExitCode)
		}
		r.Processes = append(r.Processes, st)
	}
	// The formation's containers that are not there at all (removed
	// behind Berth's back) are part of the picture too.
	if rel, ok := a.CurrentRelease(); ok {
		for _, g := range FormationGaps(a, rel, cs) {
			if g.ID == "" {
				r.Processes = append(r.Processes, ProcessStatus{Name: g.Name(app), Type: g.Type, Index: g.Index, Release: a.Current, State: "missing", Detail: "no container"})
			}
		}
	}
	r.Status = reportStatus(a, r.Processes)
	if n, ok := p.sched.FormationNote(app, a.Generation); ok {
		r.FormationCheck = &n
	}
	sort.Slice(r.Processes, func(i, j int) bool {
		if r.Processes[i].Type != r.Processes[j].Type {
			return r.Processes[i].Type < r.Processes[j].Type
		}
		return r.Processes[i].Index < r.Processes[j].Index
	})
	return r, nil
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
