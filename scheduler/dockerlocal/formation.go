package dockerlocal

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/routes"
)

// Formation restore and drift check (Dokku's boot-time ps:restore, and
// more). A container can stop without Berth: a dockerd restart or a
// reboot stops every container, and one whose process exits 0 on SIGTERM
// (most well-behaved servers do) is not restarted by an on-failure
// policy; an OOM kill after the policy gave up, or a `docker rm` behind
// Berth's back, leaves a hole in the formation too. So:
//
//   - at start, every deployed app that was not stopped with ps:stop gets
//     its recorded formation back: the current generation's stopped
//     containers start again, missing ones are created, each hidden until
//     it passes its checks (as ps:start does);
//   - every FormationCheckInterval the same look finds what drifted since,
//     and acts: a missing container is created again, a stopped one is
//     started, but at most MaxRevivals times per container and
//     generation, so a crash loop that keeps failing is reported (log and
//     ps:report) rather than restarted forever. The next rollout (a new
//     generation), ps:start or a restart of Berth gives it new tries.

const (
	// DefaultFormationCheckInterval is how often the drift check looks.
	DefaultFormationCheckInterval = 30 * time.Second
	// DefaultMaxRevivals is how many times the drift check starts one
	// container again before it only reports it.
	DefaultMaxRevivals = 3
	// restoreParallel bounds how many apps are restored at once at start:
	// each waits for its checks, and 500 apps must not start 500 at once.
	restoreParallel = 4
)

// formationWatch is the drift check's state.
type formationWatch struct {
	mu          sync.Mutex
	interval    time.Duration // 0: off
	maxRevivals int
	// revivals counts the drift check's starts per container slot
	// (APP|GENERATION|TYPE.INDEX).
	revivals map[string]int
	// notes are what the check last did or found per app, for ps:report.
	notes map[string]platform.FormationNote
	// checks cancels the formation check that holds an app's lock, so
	// that a user command (a push, ps:stop, config:set, apps:destroy)
	// pre-empts it instead of being refused for the length of its
	// container checks (lock).
	checks map[string]context.CancelFunc
	// kick wakes the loop when the interval changes.
	kick   chan struct{}
	cancel context.CancelFunc
	done   chan struct{}
}

// SetFormationCheck sets the drift check's interval (0 turns it off) and
// how many times it starts one container again (0: it only reports).
// Negative values take the defaults.
func (d *Scheduler) SetFormationCheck(interval time.Duration, maxRevivals int) {
	if interval < 0 {
		interval = DefaultFormationCheckInterval
	}
	if maxRevivals < 0 {
		maxRevivals = DefaultMaxRevivals
	}
	w := &d.drift
	w.mu.Lock()
	w.interval, w.maxRevivals = interval, maxRevivals
	w.mu.Unlock()
	select {
	case w.kick <- struct{}{}:
	default:
	}
}

func (w *formationWatch) settings() (time.Duration, int) {
	w.mu.Lock()
	defer w.mu.Unlock()
	return w.interval, w.maxRevivals
}

// note records what the check did to app, and logs it.
func (d *Scheduler) note(app string, gen int, text string, gaveUp bool) {
	w := &d.drift
	w.mu.Lock()
	if w.notes == nil {
		w.notes = map[string]platform.FormationNote{}
	}
	w.notes[app] = platform.FormationNote{Generation: gen, At: time.Now().UTC(), Text: text, GaveUp: gaveUp}
	w.mu.Unlock()
}

// FormationNote returns the app's note if it is about generation gen.
func (d *Scheduler) FormationNote(app string, gen int) (platform.FormationNote, bool) {
	w := &d.drift
	w.mu.Lock()
	defer w.mu.Unlock()
	n, ok := w.notes[app]
	return n, ok && n.Generation == gen
}

// registerCheck records cancel as the way to pre-empt the check of app.
func (w *formationWatch) registerCheck(app string, cancel context.CancelFunc) (unregister func()) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.checks == nil {
		w.checks = map[string]context.CancelFunc{}
	}
	w.checks[app] = cancel
	return func() {
		w.mu.Lock()
		defer w.mu.Unlock()
		delete(w.checks, app)
	}
}

// Preempt cancels the formation check of app, if one runs.
func (d *Scheduler) Preempt(app string) {
	w := &d.drift
	w.mu.Lock()
	cancel := w.checks[app]
	w.mu.Unlock()
	if cancel != nil {
		cancel()
	}
}

// forgetRevivals gives the app's containers new tries (ps:start), and
// forgets an app that is destroyed or renamed: its tries and note must
// not carry over to another app created under the name.
func (d *Scheduler) forgetRevivals(app string) {
	w := &d.drift
	w.mu.Lock()
	defer w.mu.Unlock()
	for k := range w.revivals {
		if strings.HasPrefix(k, app+"|") {
			delete(w.revivals, k)
		}
	}
	delete(w.notes, app)
}

// revive counts one more start of a container slot by the drift check;
// ok is false when the slot has had its tries, and n is how many.
func (d *Scheduler) revive(key string) (n int, ok bool) {
	w := &d.drift
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.revivals == nil {
		w.revivals = map[string]int{}
	}
	// The tries of the app's older generations are over: a rollout gave
	// every container new ones (keys are APP|GENERATION|SLOT).
	if app, rest, ok := strings.Cut(key, "|"); ok {
		gen, _, _ := strings.Cut(rest, "|")
		for k := range w.revivals {
			if a, r, _ := strings.Cut(k, "|"); a == app && !strings.HasPrefix(r, gen+"|") {
				delete(w.revivals, k)
			}
		}
	}
	if w.revivals[key] >= w.maxRevivals {
		return w.revivals[key], false
	}
	w.revivals[key]++
	return w.revivals[key], true
}

// refundRevivals gives back the tries counted for keys.
func (d *Scheduler) refundRevivals(keys []string) {
	w := &d.drift
	w.mu.Lock()
	defer w.mu.Unlock()
	for _, k := range keys {
		if w.revivals[k] > 0 {
			w.revivals[k]--
		}
	}
}

// Run restores every app at start, then runs the drift check until
// Close. It returns at once: apps come back in the background, so
// that Caddy serves the ones that kept running without waiting for the
// checks of those that did not.
func (d *Scheduler) Run() {
	ctx, cancel := context.WithCancel(context.Background())
	w := &d.drift
	w.cancel, w.done = cancel, make(chan struct{})
	go func() {
		defer close(w.done)
		d.checkFormations(ctx, true)
		for {
			interval, _ := w.settings()
			var tick <-chan time.Time
			var t *time.Timer
			if interval > 0 {
				t = time.NewTimer(interval)
				tick = t.C
			}
			select {
			case <-ctx.Done():
				return
			case <-w.kick:
			case <-tick:
				d.checkFormations(ctx, false)
			}
			if t != nil {
				t.Stop()
			}
		}
	}()
}

// Close ends the drift check.
func (d *Scheduler) Close() {
	w := &d.drift
	if w.cancel != nil {
		w.cancel()
		<-w.done
	}
}

// checkFormations looks at every app's formation and brings back what is
// missing or stopped. One listing of every app container finds the apps
// that need a closer look; only those are locked and inspected.
func (d *Scheduler) checkFormations(ctx context.Context, boot bool) {
	names, err := d.apps.AppNames(ctx)
	if err != nil {
		d.log.Warn("formation check: list apps", "error", err)
		return
	}
	all, err := d.engine.ListRunning(ctx, docker.LabelApp)
	if err != nil {
		d.log.Warn("formation check: list containers", "error", err)
		return
	}
	type slot struct{ running, restarting bool }
	have := map[string]slot{}
	for _, c := range all {
		if !routes.AppContainer(c) {
			continue
		}
		key := c.Labels[docker.LabelApp] + "|" + c.Labels[docker.LabelGeneration] + "|" + c.Labels[docker.LabelProcess] + "." + c.Labels[docker.LabelIndex]
		have[key] = slot{c.Running, c.Restarting}
	}
	var todo []string
	for _, name := range names {
		a, err := d.apps.App(ctx, name)
		// An app another scheduler runs (SchedulerRan: swarm) has no
		// containers here to restore.
		if err != nil || a.Stopped || a.Current == 0 || a.SchedulerRan != "" {
			continue
		}
		rel, ok := a.CurrentRelease()
		if !ok {
			continue
		}
	slots:
		// typesToRun, as formationGaps: an image without a Procfile runs
		// every type ps:scale named, not only web.
		for _, typ := range platform.TypesToRun(rel, a.Formation) {
			for i := 1; i <= a.Formation[typ]; i++ {
				s, ok := have[fmt.Sprintf("%s|%d|%s.%d", name, a.Generation, typ, i)]
				if !ok || !(s.running || s.restarting) {
					todo = append(todo, name)
					break slots
				}
			}
		}
	}
	if len(todo) == 0 {
		return
	}
	sem := make(chan struct{}, restoreParallel)
	var wg sync.WaitGroup
	for _, name := range todo {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if err := d.restoreApp(ctx, name, boot); err != nil && ctx.Err() == nil {
				d.log.Error(err.Error(), "app", name)
			}
		}()
	}
	wg.Wait()
}

// restoreApp brings app to its formation: at boot every stopped container
// of the current generation starts; later (the drift check) each at most
// MaxRevivals times. An app being changed (a deploy, ps:stop) is left to
// that change.
func (d *Scheduler) restoreApp(ctx context.Context, app string, boot bool) error {
	// A user command that finds the check holding the app cancels it
	// (platform.Platform.lock): the check's container checks can take platform.ReadyTimeout, and a
	// push or ps:stop must not be refused for that long.
	parent := ctx
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	// Only the lock's refusals are passed over (another change holds
	// the app, or it is gone); what restore says is the check's.
	var restoreErr error
	err := d.apps.ChangeApp(ctx, app, platform.FormationCheckHolder, func(a *platform.App, _ func() error) error {
		defer d.drift.registerCheck(app, cancel)()
		restoreErr = d.restore(ctx, parent, a, boot)
		return nil
	})
	if errors.Is(err, platform.ErrBusy) || errors.Is(err, platform.ErrAppNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	return restoreErr
}

// restore is restoreApp with a locked; ctx is cancelled by a user command
// that pre-empts the check, parent by Close.
func (d *Scheduler) restore(ctx, parent context.Context, a *platform.App, boot bool) error {
	app := a.Name
	if a.Stopped || a.SchedulerRan != "" {
		return nil
	}
	rel, ok := a.CurrentRelease()
	if !ok {
		return nil
	}
	cs, err := d.containers(ctx, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return err
	}
	gaps := platform.FormationGaps(a, rel, cs)
	_, maxRevivals := d.drift.settings()
	var toStart []started
	var did, gaveUp, keys []string
	for _, g := range gaps {
		slot := fmt.Sprintf("%s.%d", g.Type, g.Index)
		why := "it was missing"
		if g.ID != "" {
			why = "it was stopped"
			if c := g.Was; c.RestartCount > 0 {
				why = fmt.Sprintf("it had exited with code %d after %d restart(s)", c.ExitCode, c.RestartCount)
			} else if c.ExitCode != 0 {
				why = fmt.Sprintf("it had exited with code %d", c.ExitCode)
			}
		}
		if !boot {
			key := fmt.Sprintf("%s|%d|%s", app, a.Generation, slot)
			n, ok := d.revive(key)
			if !ok {
				if maxRevivals == 0 {
					gaveUp = append(gaveUp, fmt.Sprintf("%s (%s)", slot, why))
				} else {
					gaveUp = append(gaveUp, fmt.Sprintf("%s (%s; started again %d time(s) already)", slot, why, n))
				}
				continue
			}
			keys = append(keys, key)
			why += fmt.Sprintf("; try %d of %d", n, maxRevivals)
		}
		verb := "starting it again"
		if g.ID == "" {
			verb = "creating it again"
		}
		did = append(did, fmt.Sprintf("%s: %s (%s)", slot, verb, why))
		toStart = append(toStart, fromGap(g))
	}
	if len(gaveUp) > 0 {
		text := fmt.Sprintf("gave up on %s: it keeps failing; see ps:report %s and logs %s, fix and deploy, or ps:restart %s", strings.Join(gaveUp, ", "), app, app, app)
		if maxRevivals == 0 {
			// formation_check_revivals 0: the check only reports.
			text = fmt.Sprintf("found %s down; the check only reports (formation_check_revivals is 0): see ps:report %s and logs %s, then ps:start %s", strings.Join(gaveUp, ", "), app, app, app)
		}
		// Said once per container and generation, not at every check.
		if n, ok := d.FormationNote(app, a.Generation); !ok || n.Text != text {
			d.log.Error("formation check "+text, "app", app)
			d.note(app, a.Generation, text, true)
		}
	}
	if len(toStart) == 0 {
		return nil
	}
	what := "formation check"
	if boot {
		what = "restoring the formation at start"
	}
	d.log.Warn(what+": "+strings.Join(did, "; "), "app", app)
	err = d.bringUp(ctx, a, rel, toStart, io.Discard)
	text := strings.Join(did, "; ")
	if boot {
		text = "at start: " + text
	}
	var gone *containerGoneError
	switch {
	case err != nil && ctx.Err() != nil && parent.Err() == nil:
		// Pre-empted by a user command (platform.Platform.lock): bringUp stopped what it
		// had started and not checked; the tries go back, and the next
		// check looks again once the command is done.
		d.refundRevivals(keys)
		d.log.Info(what+": gave way to a user command", "app", app)
		return nil
	case errors.As(err, &gone):
		// Someone is removing a container as the check starts it (docker
		// rm -f kills, then removes): not the app's failure. The tries go
		// back, and the next check finds the container missing.
		d.refundRevivals(keys)
		d.log.Info(what+": a container went away while it was started; the next check sees to it", "app", app, "error", err)
		return nil
	case err != nil:
		d.note(app, a.Generation, text+"; then: "+err.Error(), false)
		return fmt.Errorf("%s: %s: %w", what, app, err)
	}
	d.note(app, a.Generation, text+"; it passed its checks", false)
	d.log.Info(what+": "+app+" runs its formation again", "app", app)
	return nil
}
