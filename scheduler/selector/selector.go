// Package selector picks the scheduler each app runs on (Dokku's
// scheduler plugin: scheduler:set APP|--global selected, scheduler:report).
//
// It owns the setting, not a document of its own: the app's choice is a
// field of its record (scheduler, changed through the core's UpdateApp
// under the app's lock, so rename and clone carry it and destroy drops it
// with no hook) and the global one a field of settings/global (scheduler,
// written under LockGlobal, as buildconfig writes builder). An app without
// either runs on docker-local, as every app did before this package, and
// its record is not touched: the default leaves no trace.
//
// Selector is the platform's Scheduler (platform.Config.Scheduler): it
// hands each call to one of the schedulers it is given by name. A rollout
// goes to the app's selected scheduler; the record its switch saves names
// the one that runs the app's current generation (scheduler_ran, empty
// for docker-local), and once it serves, the processes the other
// schedulers still ran for the app are removed. ps:scale, ps:stop and ps:start go to the scheduler
// that runs the current generation, so a scheduler:set takes effect at
// the next deploy (ps:rebuild), as in Dokku.
package selector

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"

	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routing"
	"github.com/berth-paas/berth/scheduler/health"
	"github.com/berth-paas/berth/store"
)

// The schedulers' names, as scheduler:set takes them.
const (
	DockerLocal = "docker-local"
	Swarm       = "swarm"
)

// Names are the schedulers an app may select, the default first.
var Names = []string{DockerLocal, Swarm}

// globalKey is the global settings document, shared with the core and
// the other settings packages, one field each.
const globalKey = "settings/global"

// global is this package's field of the global settings document.
type global struct {
	// Scheduler is scheduler:set --global selected: the scheduler of
	// apps that select none; "" means docker-local.
	Scheduler string `json:"scheduler,omitempty"`
}

var globalOwnKeys = []string{"scheduler"}

func loadGlobal(ctx context.Context, s store.Store) (global, error) {
	var g global
	err := store.GetJSON(ctx, s, globalKey, &g, "global settings")
	return g, err
}

// check refuses a scheduler name Berth does not have.
func check(name string) error {
	if name == "" || slices.Contains(Names, name) {
		return nil
	}
	return fmt.Errorf("unknown scheduler %q: use one of %s (or none to unset)", name, strings.Join(Names, ", "))
}

// Selector is a platform.Scheduler that runs each app on the scheduler it
// selected. Make it with New.
type Selector struct {
	store store.Store
	save  func(ctx context.Context, a *platform.App) error
	// table and apps drain the old scheduler's processes when an app
	// moves (nil in unit tests that do not drain).
	table  *routing.Table
	apps   platform.SchedulerApps
	log    *slog.Logger
	scheds map[string]platform.Scheduler
	// order is scheds' names, the default first, for the calls that go
	// to every scheduler (Run, Close, Remove).
	order []string
	// moving are the apps whose rollout moves them to another scheduler
	// now, by name: what their route served when the rollout's switch
	// saved the record (Build's Save).
	moving sync.Map // app name → *move
}

// move is what an app's route served before its rollout onto another
// scheduler switched it: the old scheduler's targets, to drain.
type move struct {
	mu       sync.Mutex
	targets  []string
	switched bool
}

func (m *move) add(targets []string) {
	for _, t := range targets {
		if !slices.Contains(m.targets, t) {
			m.targets = append(m.targets, t)
		}
	}
}

// New returns a selector over scheds (by name; DockerLocal must be
// there), reading the global setting from st and saving records with
// deps.Save.
func New(deps platform.SchedulerDeps, st store.Store, scheds map[string]platform.Scheduler) *Selector {
	if scheds[DockerLocal] == nil {
		panic("selector: no docker-local scheduler")
	}
	log := deps.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Selector{store: st, save: deps.Save, table: deps.Table, apps: deps.Apps, log: log, scheds: scheds}
	for _, n := range Names {
		if scheds[n] != nil {
			s.order = append(s.order, n)
		}
	}
	return s
}

var _ platform.Scheduler = (*Selector)(nil)

// Build is New for schedulers made by scheds from the deps it is given:
// their Save tells the selector when a rollout's switch saves the record
// (the route moves right after), so that a move to another scheduler
// drains the targets the old one served at that moment, not only those
// it served when the rollout began (which can take minutes, and the old
// scheduler replaces a crashed container meanwhile).
func Build(deps platform.SchedulerDeps, st store.Store, scheds func(deps platform.SchedulerDeps) map[string]platform.Scheduler) *Selector {
	var s *Selector
	sub := deps
	if save := deps.Save; save != nil {
		sub.Save = func(ctx context.Context, a *platform.App) error {
			s.saving(a)
			return save(ctx, a)
		}
	}
	s = New(deps, st, scheds(sub))
	return s
}

// saving notes, at the first save of a moving app's rollout (its
// switch), the targets its route serves: the old scheduler's.
func (s *Selector) saving(a *platform.App) {
	v, ok := s.moving.Load(a.Name)
	if !ok || s.table == nil {
		return
	}
	m := v.(*move)
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.switched {
		return
	}
	m.switched = true
	if r, ok := s.table.App(a.Name); ok {
		m.add(r.Targets)
	}
}

// globals are the global process settings (wait-to-retire's).
func (s *Selector) globals() platform.ProcessGlobals {
	if s.apps == nil {
		return platform.ProcessGlobals{}
	}
	return s.apps.ProcessGlobals()
}

// Selected is the scheduler a's next rollout runs on: its own, else the
// global one, else docker-local.
func (s *Selector) Selected(ctx context.Context, a *platform.App) (string, error) {
	return SelectedIn(ctx, s.store, a)
}

// SelectedIn is Selected with the settings of st, for the packages that
// ask without a Selector (a datastore asks whether a linked app is
// becoming a swarm app).
func SelectedIn(ctx context.Context, st store.Store, a *platform.App) (string, error) {
	if a.Scheduler != "" {
		return a.Scheduler, nil
	}
	g, err := loadGlobal(ctx, st)
	if err != nil {
		return "", err
	}
	if g.Scheduler != "" {
		return g.Scheduler, nil
	}
	return DockerLocal, nil
}

// running is the scheduler that runs a's current generation.
func running(a *platform.App) string {
	if a.SchedulerRan == "" {
		return DockerLocal
	}
	return a.SchedulerRan
}

func (s *Selector) get(name string) (platform.Scheduler, error) {
	if sc := s.scheds[name]; sc != nil {
		return sc, nil
	}
	return nil, fmt.Errorf("this Berth has no %s scheduler; scheduler:set the app to one of %s", name, strings.Join(s.order, ", "))
}

// Rollout runs rel on a's selected scheduler. When that is not the one
// that ran a before, the old one's processes are removed once the new
// ones serve (the route has moved: they take no new request).
func (s *Selector) Rollout(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) error {
	name, err := s.Selected(ctx, a)
	if err != nil {
		return err
	}
	sc, err := s.get(name)
	if err != nil {
		return err
	}
	prev, prevRan, ranBefore := running(a), a.SchedulerRan, a.Current != 0
	// What the old scheduler's processes serve before the route moves:
	// the targets to drain before they are removed. Read now, and again
	// when the rollout's switch saves the record (saving), for the
	// targets that appeared in between.
	var m *move
	if s.table != nil && prev != name {
		m = &move{}
		if r, ok := s.table.App(a.Name); ok {
			m.add(r.Targets)
		}
		s.moving.Store(a.Name, m)
		defer s.moving.CompareAndDelete(a.Name, m)
	}
	// Noted before the rollout, so that the record its switch saves says
	// which scheduler runs the new generation: from that moment on, the
	// other's background work (docker-local's formation check) must
	// leave the app alone. Undone if the rollout fails before the switch.
	a.SchedulerRan = name
	if name == DockerLocal {
		a.SchedulerRan = "" // the default leaves no trace on the record
	}
	if err := sc.Rollout(ctx, a, rel, log); err != nil {
		a.SchedulerRan = prevRan
		return err
	}
	// A first deploy leaves nothing on the other scheduler.
	if prev == name || !ranBefore {
		return nil
	}
	cleanup := context.WithoutCancel(ctx)
	if old := s.scheds[prev]; old != nil {
		fmt.Fprintf(log, "-----> %s now runs on %s: removing what ran on %s\n", a.Name, name, prev)
		// Requests the old processes were serving when the route moved
		// finish first, as a rollout drains its own old processes: the
		// routing table's in-flight counts, up to wait-to-retire.
		if m != nil {
			s.moving.CompareAndDelete(a.Name, m)
			m.mu.Lock()
			oldTargets := slices.Clone(m.targets)
			m.mu.Unlock()
			limit := platform.WaitToRetireOf(a, s.globals())
			if !health.Drain(cleanup, &s.table.InFlight, oldTargets, limit, log) {
				fmt.Fprintf(log, " !     requests still in flight after wait-to-retire (%s); removing anyway\n", limit)
			}
		}
		if err := old.Remove(cleanup, a, true); err != nil {
			s.log.Warn("removing an app's processes from its previous scheduler", "app", a.Name, "scheduler", prev, "error", err)
		}
	}
	return nil
}

// Scale goes to the scheduler that runs a's current generation.
func (s *Selector) Scale(ctx context.Context, a *platform.App, rel platform.Release, want map[string]int, log io.Writer) error {
	sc, err := s.get(running(a))
	if err != nil {
		return err
	}
	return sc.Scale(ctx, a, rel, want, log)
}

// Stop goes to the scheduler that runs a's current generation.
func (s *Selector) Stop(ctx context.Context, a *platform.App, log io.Writer) error {
	sc, err := s.get(running(a))
	if err != nil {
		return err
	}
	return sc.Stop(ctx, a, log)
}

// Start goes to the scheduler that runs a's current generation.
func (s *Selector) Start(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) (bool, error) {
	sc, err := s.get(running(a))
	if err != nil {
		return false, err
	}
	return sc.Start(ctx, a, rel, log)
}

// Remove removes a's processes from every scheduler: a crash between a
// rollout onto a new scheduler and the old one's clean-up leaves some on
// both.
func (s *Selector) Remove(ctx context.Context, a *platform.App, grace bool) error {
	var errs []error
	for _, n := range s.order {
		if err := s.scheds[n].Remove(ctx, a, grace); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", n, err))
		}
	}
	return errors.Join(errs...)
}

// Run runs every scheduler's background work.
func (s *Selector) Run() {
	for _, n := range s.order {
		s.scheds[n].Run()
	}
}

// Close ends every scheduler's background work.
func (s *Selector) Close() {
	for _, n := range s.order {
		s.scheds[n].Close()
	}
}

// Preempt pre-empts every scheduler's background work on app.
func (s *Selector) Preempt(app string) {
	for _, n := range s.order {
		s.scheds[n].Preempt(app)
	}
}

// FormationNote is the first note a scheduler has of app's generation.
func (s *Selector) FormationNote(app string, generation int) (platform.FormationNote, bool) {
	for _, n := range s.order {
		if note, ok := s.scheds[n].FormationNote(app, generation); ok {
			return note, true
		}
	}
	return platform.FormationNote{}, false
}

// ProcessesOf is the platform.Processes of the scheduler that runs a's
// current generation, nil when its processes are containers of Berth's
// engine (docker-local), which ps:report, logs and enter read
// themselves.
func (s *Selector) ProcessesOf(a *platform.App) platform.Processes {
	if p, ok := s.scheds[running(a)].(platform.Processes); ok {
		return p
	}
	return nil
}
