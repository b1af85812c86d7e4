// A service's data out and in: export (dump) and import (restore, checked
// against a snapshot first), with the progress the import reports.

package services

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"sync"
	"time"

	"github.com/berth-paas/berth/docker"
)

// Export writes a dump of the service's data to w (pg_dump's custom
// format, mysqldump's SQL, Redis's RDB file); the program's messages go to
// errw.
func (m *Manager) Export(ctx context.Context, t *Type, name string, w, errw io.Writer) error {
	s, err := m.load(ctx, t, name)
	if err != nil {
		return err
	}
	code, err := m.exec(ctx, t, s, t.dump(s), docker.Streams{Stdout: w, Stderr: errw})
	if err != nil {
		return err
	}
	if code != 0 {
		return fmt.Errorf("the export of %s service %s failed (exit status %d)", t.Name, name, code)
	}
	return nil
}

// Import restores a dump read from r into the service. Redis restores by
// replacing its snapshot file while it is stopped, then starting again.
func (m *Manager) Import(ctx context.Context, t *Type, name string, r io.Reader, errw io.Writer) error {
	s, unlock, err := m.locked(ctx, t, name, "an import")
	if err != nil {
		return err
	}
	defer unlock()
	// A large dump takes a while: say every few seconds how much of it
	// has been read.
	errw = &lockedWriter{w: errw}
	progress := &progressReader{r: r, w: errw, next: time.Now().Add(progressInterval)}
	defer progress.done()
	r = progress
	if t.restore != nil {
		code, err := m.exec(ctx, t, s, t.restore(s), docker.Streams{Stdin: r, Stdout: errw, Stderr: errw})
		if err != nil {
			return err
		}
		if code != 0 {
			return fmt.Errorf("the import into %s service %s failed (exit status %d)", t.Name, name, code)
		}
		return nil
	}
	if t.snapshot == nil {
		return fmt.Errorf("%s services cannot import", t.Name)
	}
	if s.Stopped {
		return fmt.Errorf("%s service %s is stopped; start it with %s:start %s, then import", t.Name, name, t.Name, name)
	}
	// The whole dump is read before the service stops, so a cut upload
	// leaves the data as it was.
	f, size, err := docker.SpoolFile(r)
	if err != nil {
		return fmt.Errorf("reading the dump: %w", err)
	}
	defer f.Close()
	if size == 0 {
		return errors.New("the dump on stdin is empty; nothing was imported")
	}
	cname := ContainerName(t, name)
	if err := m.checkSnapshot(ctx, t, s, f, size, errw); err != nil {
		return err
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return err
	}
	// The server may write its snapshot when it stops (Redis does); the
	// imported file must replace it afterwards, not before. The one it
	// wrote is kept, and put back if the server does not start with the
	// new one.
	if err := m.docker.Stop(ctx, cname, 30*time.Second); err != nil {
		return err
	}
	cleanup := context.WithoutCancel(ctx)
	snapshotPath := t.DataDir + "/" + t.snapshot.Name
	old, oldSize, err := m.docker.CopyFileFrom(ctx, cname, snapshotPath)
	if err != nil && !docker.IsNotFound(err) {
		m.ensureRunning(cleanup, t, s)
		return fmt.Errorf("keeping the current snapshot before the import: %w; nothing was imported", err)
	}
	if old != nil {
		defer old.Close()
	}
	err = m.docker.CopyFileTo(ctx, cname, snapshotPath, f, size, 0o600)
	if err == nil {
		err = m.startChecked(ctx, t, s)
	}
	if err == nil {
		return nil
	}
	m.docker.Stop(cleanup, cname, 30*time.Second)
	if old != nil {
		if rerr := m.docker.CopyFileTo(cleanup, cname, snapshotPath, old, oldSize, 0o600); rerr != nil {
			return fmt.Errorf("the import into %s service %s failed (%v), and putting back the previous snapshot failed too: %w", t.Name, name, err, rerr)
		}
	}
	if rerr := m.ensureRunning(cleanup, t, s); rerr != nil {
		return fmt.Errorf("the import into %s service %s failed (%v); the previous snapshot is back but the service did not start: %w", t.Name, name, err, rerr)
	}
	return fmt.Errorf("the import into %s service %s failed, the previous data is back: %w", t.Name, name, err)
}

// startChecked starts the stopped container and waits until it accepts
// connections, failing at once if it exits (not after waitReady's limit,
// while Docker restarts it).
func (m *Manager) startChecked(ctx context.Context, t *Type, s *Service) error {
	name := ContainerName(t, s.Name)
	c, err := m.docker.Inspect(ctx, name)
	if err != nil {
		return err
	}
	if err := m.docker.StartExisting(ctx, name); err != nil {
		return err
	}
	return m.waitUp(ctx, t, s, 2*time.Minute, c.RestartCount)
}

// checkSnapshot runs the type's check on the dump (snapshotFile.Check)
// before the server is stopped for it: a server that cannot load its
// snapshot does not start.
func (m *Manager) checkSnapshot(ctx context.Context, t *Type, s *Service, f io.Reader, size int64, errw io.Writer) error {
	cname := ContainerName(t, s.Name)
	tmp := t.DataDir + "/berth-import-" + t.snapshot.Name
	if err := m.docker.CopyFileTo(ctx, cname, tmp, f, size, 0o600); err != nil {
		return err
	}
	var out bytes.Buffer
	code, err := m.exec(ctx, t, s, []string{"sh", "-c", t.snapshot.Check, "sh", tmp}, docker.Streams{Stdout: &out, Stderr: &out})
	if err != nil {
		return err
	}
	if code != 0 {
		errw.Write(out.Bytes())
		return errors.New(t.snapshot.Refusal)
	}
	return nil
}

// progressInterval is how often a long wait or import says how far it
// is.
const progressInterval = 5 * time.Second

// progressReader passes r on and says on w, every progressInterval, how
// much has been read.
type progressReader struct {
	r    io.Reader
	w    io.Writer
	mu   sync.Mutex // the stdin copier may still read when done runs
	n    int64
	next time.Time
	said bool
}

func (p *progressReader) Read(b []byte) (int, error) {
	n, err := p.r.Read(b)
	p.mu.Lock()
	defer p.mu.Unlock()
	p.n += int64(n)
	if time.Now().After(p.next) {
		fmt.Fprintf(p.w, "-----> Import: %s read so far\n", mib(p.n))
		p.next = time.Now().Add(progressInterval)
		p.said = true
	}
	return n, err
}

// done says the total, when progress was shown at all.
func (p *progressReader) done() {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.said {
		fmt.Fprintf(p.w, "-----> Import: %s read in all\n", mib(p.n))
	}
}

func mib(n int64) string { return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20)) }

// lockedWriter serialises writes: an import's progress and the restore
// tool's output go to the same stream from two goroutines.
type lockedWriter struct {
	mu sync.Mutex
	w  io.Writer
}

func (l *lockedWriter) Write(b []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(b)
}
