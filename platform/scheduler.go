package platform

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/routes"
	"github.com/berth-paas/berth/routing"
)

// Scheduler runs apps' formations on an engine: it turns a release and a
// formation into running processes, checks them before they take traffic,
// drains the old ones, and keeps the formation up (Dokku's scheduler
// plugins). The platform decides what runs (the release, the formation,
// the app's settings) and when (deploy, restart, rollback, ps:scale,
// ps:stop, ps:start, Start); the scheduler decides how. Package
// scheduler/dockerlocal is the one today (containers on this host's
// Docker, as Dokku's docker-local); a Swarm scheduler (services and
// tasks, Swarm's own rolling update) implements the same methods, in terms
// of its own objects, with no change here.
//
// The platform holds the app's lock around every call but Run and Close;
// a is the app's record, which the scheduler saves (SchedulerDeps.Save)
// when it changes it.
type Scheduler interface {
	// Rollout runs rel as a's formation in a new generation (a.Generation
	// + 1), with no downtime: new processes start beside the old ones,
	// pass their checks (app.json's, or the default port or uptime
	// wait), then the record (a.Current, a.Generation, a.Formation,
	// a.Stopped false, rel in a.Releases) is saved, the route moves, and
	// the old processes are drained (in-flight requests finish, up to
	// wait-to-retire) and stopped. A failure before the switch leaves the
	// old release serving and a unchanged. After the switch it runs the
	// OnRolledOut hooks (SchedulerDeps.RolledOut). Process types whose
	// checks are disabled are replaced with downtime, as in Dokku.
	Rollout(ctx context.Context, a *App, rel Release, log io.Writer) error
	// Scale sets the number of processes of each type of want in a's
	// current generation (rel is a's current release, the types were
	// checked), checking new ones before they take traffic and draining
	// surplus ones; it saves a.Formation as each type is done. A stopped
	// app (a.Stopped) starts nothing: the formation is only recorded.
	Scale(ctx context.Context, a *App, rel Release, want map[string]int, log io.Writer) error
	// Stop marks a stopped (a.Stopped, saved before any process stops,
	// so that their exits read as the app stopping, not failing), takes
	// a's processes out of the route, drains and stops them, keeping them
	// for Start (ps:stop).
	Stop(ctx context.Context, a *App, log io.Writer) error
	// Start brings a's formation of its current release back (ps:start):
	// stopped processes start, missing ones are made, each routed only
	// once it passes its checks; a.Stopped is cleared. It reports whether
	// anything had to start.
	Start(ctx context.Context, a *App, rel Release, log io.Writer) (bool, error)
	// Remove removes every process of a for good. With grace (the old
	// name of a rename or clone's undo), each is stopped first (SIGTERM,
	// the stop timeout) and failures are only logged; without (apps:
	// destroy, once the route has left the app), each goes at once,
	// and the first failure is returned.
	Remove(ctx context.Context, a *App, grace bool) error
	// Run brings every app that is not stopped back to its formation
	// (what stopped while Berth was down), in the background, and then
	// watches the formations for drift until Close.
	Run()
	// Close ends what Run started.
	Close()
	// Preempt cancels the scheduler's background work on app (a
	// formation check, which holds the app's lock as
	// FormationCheckHolder) so that a user command gets the lock.
	Preempt(app string)
	// FormationNote is what the formation check last did to app's
	// formation of generation, for ps:report.
	FormationNote(app string, generation int) (FormationNote, bool)
}

// SchedulerDeps is what the platform gives its scheduler (Config.Scheduler).
type SchedulerDeps struct {
	// Apps are the app records and settings (*Platform).
	Apps SchedulerApps
	// Hooks let the scheduler follow apps that go or change name.
	Hooks *Hooks
	// Engine runs containers.
	Engine Engine
	// Table is the routing table: its in-flight counts tell a drain when
	// an old process is idle.
	Table *routing.Table
	// Routes keeps the table following the containers: Refresh moves an
	// app's route, Hide keeps a process out of it until it passed its
	// checks.
	Routes *routes.Controller
	// Specs are the settings families' parts of every process.
	Specs Specs
	// Log receives what happens.
	Log *slog.Logger
	// Save writes a's record; the app must be locked.
	Save func(ctx context.Context, a *App) error
	// Env is the environment of process dyno (web.1) of rel.
	Env func(a *App, rel Release, dyno string) []string
	// Hosts are a's hosts (a rollout names them once it serves).
	Hosts func(a *App) []string
	// CheckHost is the Host an HTTP check sends ("": none).
	CheckHost func(a *App) string
	// CheckFormation refuses a formation above the host's limits.
	CheckFormation func(app string, formation map[string]int, what string) error
	// RolledOut runs the OnRolledOut hooks after a rollout's switch.
	RolledOut func(ctx context.Context, a *App, save func() error, log io.Writer) []error
}

// SchedulerApps is what a scheduler needs of the app core (*Platform).
type SchedulerApps interface {
	App(ctx context.Context, name string) (*App, error)
	AppNames(ctx context.Context) ([]string, error)
	ProcessGlobals() ProcessGlobals
	// ChangeApp locks app (busy with what) and runs change on its record.
	ChangeApp(ctx context.Context, app, what string, change func(a *App, save func() error) error) error
}

// FormationCheckHolder is what the formation check holds an app's lock
// with: a user command pre-empts it (Scheduler.Preempt) rather than being
// refused.
const FormationCheckHolder = "a formation check"

// FormationNote is what the formation check last did to (or found in) an
// app's formation.
type FormationNote struct {
	Generation int       `json:"-"`
	At         time.Time `json:"at"`
	Text       string    `json:"text"`
	// GaveUp is set when a container kept failing and the check stopped
	// starting it.
	GaveUp bool `json:"gave_up,omitempty"`
}

// Gap is a process of a formation that is not running: missing (ID
// empty) or stopped (Was is its container).
type Gap struct {
	Type  string
	Index int
	ID    string
	Was   docker.Container
}

// Name is the gap's container name, APP.TYPE.INDEX.
func (g Gap) Name(app string) string { return fmt.Sprintf("%s.%s.%d", app, g.Type, g.Index) }

// FormationGaps lists the processes of a's formation (of its current
// generation, among its containers cs) that neither run nor are being
// restarted by Docker.
func FormationGaps(a *App, rel Release, cs []docker.Container) []Gap {
	have := map[string]docker.Container{}
	for _, c := range cs {
		have[c.Labels[docker.LabelProcess]+"."+c.Labels[docker.LabelIndex]] = c
	}
	var out []Gap
	for _, typ := range TypesToRun(rel, a.Formation) {
		for i := 1; i <= a.Formation[typ]; i++ {
			g := Gap{Type: typ, Index: i}
			c, ok := have[fmt.Sprintf("%s.%d", typ, i)]
			switch {
			case !ok:
				// Missing: the scheduler creates it.
			case c.Running || c.Restarting:
				continue
			default:
				g.ID, g.Was = c.ID, c
			}
			out = append(out, g)
		}
	}
	return out
}

// PlanRollout is the process types a rollout of rel runs for a and the
// formation it leaves, refused when a spec contributor cannot run one of
// the types (specs) or the formation is above the host's limits
// (checkFormation, SchedulerDeps.CheckFormation). Every scheduler's
// Rollout starts with it: every way to run a release (deploy, restart,
// rollback, clone) comes through a rollout, so no formation above the
// host's limits starts on any scheduler.
func PlanRollout(specs Specs, checkFormation func(app string, formation map[string]int, what string) error, a *App, rel Release) (types []string, formation map[string]int, err error) {
	types = TypesToRun(rel, a.Formation)
	formation = NextFormation(a.Formation, types, rel.AppJSON)
	if err := specs.CheckTypes(a, types); err != nil {
		return nil, nil, err
	}
	if err := checkFormation(a.Name, formation, fmt.Sprintf("the formation of v%d", rel.Version)); err != nil {
		return nil, nil, err
	}
	return types, formation, nil
}

// noScheduler is the scheduler of a platform made without one (unit
// tests of what runs nothing): every change of what runs is refused.
type noScheduler struct{}

var errNoScheduler = fmt.Errorf("this Berth has no scheduler (platform.Config.Scheduler); nothing can run")

func (noScheduler) Rollout(context.Context, *App, Release, io.Writer) error { return errNoScheduler }
func (noScheduler) Scale(context.Context, *App, Release, map[string]int, io.Writer) error {
	return errNoScheduler
}
func (noScheduler) Stop(context.Context, *App, io.Writer) error { return errNoScheduler }
func (noScheduler) Start(context.Context, *App, Release, io.Writer) (bool, error) {
	return false, errNoScheduler
}
func (noScheduler) Remove(context.Context, *App, bool) error        { return nil }
func (noScheduler) Run()                                            {}
func (noScheduler) Close()                                          {}
func (noScheduler) Preempt(string)                                  {}
func (noScheduler) FormationNote(string, int) (FormationNote, bool) { return FormationNote{}, false }

// rollout runs rel as a's formation (Scheduler.Rollout) and ends the log
// with the app's URLs. a must be locked.
func (p *Platform) rollout(ctx context.Context, a *App, rel Release, log io.Writer) error {
	if err := p.sched.Rollout(ctx, a, rel, log); err != nil {
		return err
	}
	p.reportDeployed(a, a.Formation, log)
	return nil
}

// containers returns the app's containers: those this Berth made for it
// (the Docker client lists only this instance's), never a one-off.
func (p *Platform) containers(ctx context.Context, app string, labels ...string) ([]docker.Container, error) {
	return routes.AppContainers(ctx, p.docker, app, labels...)
}
