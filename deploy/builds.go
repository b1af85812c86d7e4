package deploy

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/internal/bytesize"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Builds keeps build records and logs as files: DIR/APP/ID.json and
// DIR/APP/ID.log, readable by the owner only (a build log can show
// anything the build printed). An empty dir keeps nothing.
type Builds struct{ dir string }

func (s Builds) appDir(app string) string { return filepath.Join(s.dir, app) }

func (s Builds) metaPath(app string, id int) string {
	return filepath.Join(s.appDir(app), strconv.Itoa(id)+".json")
}

func (s Builds) logPath(app string, id int) string {
	return filepath.Join(s.appDir(app), strconv.Itoa(id)+".log")
}

// ids returns the IDs of the app's builds, oldest first. A build whose
// record could not be written still holds its ID through its log.
func (s Builds) ids(app string) ([]int, error) {
	if s.dir == "" {
		return nil, nil
	}
	entries, err := os.ReadDir(s.appDir(app))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read builds of %s: %w", app, err)
	}
	var ids []int
	for _, e := range entries {
		base, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			base, ok = strings.CutSuffix(e.Name(), ".log")
		}
		if n, err := strconv.Atoi(base); ok && err == nil && n > 0 && !slices.Contains(ids, n) {
			ids = append(ids, n)
		}
	}
	slices.Sort(ids)
	return ids, nil
}

// list returns the app's builds, newest first.
func (s Builds) list(app string) ([]platform.Build, error) {
	ids, err := s.ids(app)
	if err != nil {
		return nil, err
	}
	out := make([]platform.Build, 0, len(ids))
	for _, id := range slices.Backward(ids) {
		b, err := s.get(app, id)
		if errors.Is(err, fs.ErrNotExist) {
			continue // a log without a record: its build could not record itself
		}
		if err != nil {
			return nil, err
		}
		out = append(out, b)
	}
	return out, nil
}

func (s Builds) get(app string, id int) (platform.Build, error) {
	if s.dir == "" {
		return platform.Build{}, fs.ErrNotExist
	}
	data, err := os.ReadFile(s.metaPath(app, id))
	if err != nil {
		return platform.Build{}, err
	}
	var b platform.Build
	if err := json.Unmarshal(data, &b); err != nil || b.ID != id {
		// A record a crash cut short (or anything else that is not
		// one) must not hide the app's other builds: it is listed as
		// damaged, with its log still readable.
		why := "it is empty"
		if len(data) > 0 {
			why = "it is not a build record"
		}
		return platform.Build{ID: id, App: app, Reason: "unknown", Status: platform.BuildDamaged,
			Error: fmt.Sprintf("the record of build %d is damaged (%s, perhaps from a crash or power cut while it was written); its log may still be read with builds:output %s %d", id, why, app, id)}, nil
	}
	return b, nil
}

// save writes the build's record atomically and durably: a temporary
// file, synced, renamed over the old one, and the directory synced, so a
// power cut leaves the old record or the new one, never an empty file.
func (s Builds) save(b platform.Build) error {
	data, err := json.MarshalIndent(b, "", "  ")
	if err != nil {
		return err
	}
	if err := store.ReplaceFile(s.metaPath(b.App, b.ID), data); err != nil {
		return err
	}
	return store.SyncDir(s.appDir(b.App))
}

// begin gives b the app's next build ID, records it as running and opens
// its log. The caller holds the app's lock, so no other build of the app
// takes the same ID.
func (s Builds) begin(b platform.Build) (*buildLog, error) {
	if s.dir == "" {
		return nil, nil
	}
	if err := os.MkdirAll(s.appDir(b.App), 0o700); err != nil {
		return nil, fmt.Errorf("builds directory: %w", err)
	}
	ids, err := s.ids(b.App)
	if err != nil {
		return nil, err
	}
	b.ID = 1
	if len(ids) > 0 {
		b.ID = ids[len(ids)-1] + 1
	}
	b.Status = "running"
	f, err := os.OpenFile(s.logPath(b.App, b.ID), os.O_CREATE|os.O_EXCL|os.O_WRONLY, 0o600)
	if err != nil {
		return nil, fmt.Errorf("build log: %w", err)
	}
	if err := s.save(b); err != nil {
		f.Close()
		os.Remove(f.Name())
		return nil, fmt.Errorf("build record: %w", err)
	}
	return &buildLog{store: s, b: b, f: f}, nil
}

// prune removes all but the newest keep builds of the app.
func (s Builds) prune(app string, keep int) error {
	ids, err := s.ids(app)
	if err != nil || len(ids) <= keep {
		return err
	}
	var errs []error
	for _, id := range ids[:len(ids)-keep] {
		for _, p := range []string{s.metaPath(app, id), s.logPath(app, id)} {
			if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// failRunning marks the app's builds that are still running failed: at
// start, they are what a Berth that stopped mid-deploy left.
func (s Builds) FailRunning(app string) error {
	builds, err := s.list(app)
	if err != nil {
		return err
	}
	for _, b := range builds {
		if b.Status != "running" {
			continue
		}
		b.Status, b.Error = "failed", "interrupted: Berth stopped during the deploy"
		b.Finished = time.Now().UTC()
		if f, err := os.OpenFile(s.logPath(app, b.ID), os.O_WRONLY|os.O_APPEND, 0o600); err == nil {
			fmt.Fprintf(f, " !     %s\n", b.Error)
			f.Close()
		}
		if err := s.save(b); err != nil {
			return err
		}
	}
	return nil
}

// remove deletes every build of the app.
func (s Builds) Remove(app string) error {
	if s.dir == "" {
		return nil
	}
	return os.RemoveAll(s.appDir(app))
}

// move gives the builds of from to to (a rename): the history goes with
// the app, and nothing of it stays under the old name for an app created
// later under that name (whose deploy keys would read it).
func (s Builds) Move(from, to string) error {
	if s.dir == "" {
		return nil
	}
	if err := os.RemoveAll(s.appDir(to)); err != nil {
		return err
	}
	if err := os.Rename(s.appDir(from), s.appDir(to)); err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil
		}
		return err
	}
	bs, err := s.list(to)
	if err != nil {
		return err
	}
	for _, b := range bs {
		b.App = to
		if err := s.save(b); err != nil {
			return err
		}
	}
	return nil
}

// buildLog is a running build: its log file and its record.
type buildLog struct {
	store Builds
	b     platform.Build

	mu     sync.Mutex
	f      *os.File
	failed error // the first write error; later writes are dropped
}

// Write appends to the build's log file. A log that cannot be written
// never fails the deploy; finish reports it.
func (l *buildLog) Write(p []byte) (int, error) {
	if l == nil {
		return len(p), nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.failed == nil {
		_, l.failed = l.f.Write(p)
	}
	return len(p), nil
}

// setBuilder records which builder runs the build.
func (l *buildLog) setBuilder(name string) {
	if l == nil {
		return
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Builder = name
}

// finish records how the build ended: the release it made (0 for none)
// and its error, which is also appended to the log as the deployer saw it.
func (l *buildLog) finish(release int, deployErr error, keep int) error {
	if l == nil {
		return nil
	}
	l.mu.Lock()
	defer l.mu.Unlock()
	l.b.Finished = time.Now().UTC()
	l.b.Release = release
	l.b.Status = "succeeded"
	if deployErr != nil {
		l.b.Status, l.b.Error = "failed", deployErr.Error()
		if errors.Is(deployErr, platform.ErrBuildCanceled) {
			l.b.Status = platform.BuildCanceled // Dokku's word
		}
		if l.failed == nil {
			_, l.failed = fmt.Fprintf(l.f, " !     %s\n", strings.ReplaceAll(deployErr.Error(), "\n", "\n !     "))
		}
	}
	errs := []error{l.failed, l.f.Sync(), l.f.Close(), l.store.save(l.b), l.store.prune(l.b.App, keep)}
	return errors.Join(errs...)
}

// teeLog writes a deploy's log to the person deploying and to the build's
// log file; the deployer's writer decides the result, as before builds
// were kept. Both get at most left bytes (build_log_max): a build that
// prints without end would otherwise fill the state disk, and with it
// every app's records. Past the cap both get a note, then nothing more
// of the log; the deploy goes on, and its outcome is still told (final).
type teeLog struct {
	client io.Writer
	file   *buildLog
	max    int64

	mu   sync.Mutex
	left int64
	cut  bool
}

func newTeeLog(client io.Writer, file *buildLog, limit, shown int64) *teeLog {
	return &teeLog{client: client, file: file, max: limit, left: max(0, limit-shown)}
}

func (t *teeLog) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.cut {
		return len(p), nil
	}
	if int64(len(p)) <= t.left {
		t.left -= int64(len(p))
		t.file.Write(p)
		return t.client.Write(p)
	}
	head := p[:t.left]
	t.left, t.cut = 0, true
	note := fmt.Appendf(slices.Clone(head), "\n !     The build's output passed build_log_max (%s): the rest is neither shown nor kept, and the deploy goes on. Make the build print less, or have the admin raise build_log_max in the Caddyfile's berth block.\n", bytesize.Format(t.max))
	t.file.Write(note)
	if _, err := t.client.Write(note); err != nil {
		return 0, err
	}
	return len(p), nil
}

// final writes the deploy's closing line past the cap: it is short and
// one, and says how the deploy ended.
func (t *teeLog) final(p []byte) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.file.Write(p)
	t.client.Write(p)
}

// Builds returns the app's builds, newest first (the last its retention
// keeps, see builds:set).
func (d *Deployer) Builds(ctx context.Context, app string) ([]platform.Build, error) {
	if _, err := d.apps.App(ctx, app); err != nil {
		return nil, err
	}
	return d.builds.list(app)
}

// BuildOutput returns a build's record and its log: build id, or the
// latest for 0. The log of a running build holds what it has written so
// far.
func (d *Deployer) BuildOutput(ctx context.Context, app string, id int) (platform.Build, io.ReadCloser, error) {
	a, err := d.apps.App(ctx, app)
	if err != nil {
		return platform.Build{}, nil, err
	}
	if id == 0 {
		builds, err := d.builds.list(app)
		if err != nil {
			return platform.Build{}, nil, err
		}
		if len(builds) == 0 {
			return platform.Build{}, nil, fmt.Errorf("%s has no builds yet: push to it, or run ps:rebuild %s", app, app)
		}
		id = builds[0].ID
	}
	b, err := d.builds.get(app, id)
	if errors.Is(err, fs.ErrNotExist) {
		return platform.Build{}, nil, fmt.Errorf("%s has no build %d (Berth keeps the last %d); see builds:list %s", app, id, d.retentionOf(ctx, a), app)
	}
	if err != nil {
		return platform.Build{}, nil, err
	}
	f, err := os.Open(d.builds.logPath(app, id))
	if err != nil {
		return platform.Build{}, nil, fmt.Errorf("the log of build %d of %s: %w", id, app, err)
	}
	return b, f, nil
}
