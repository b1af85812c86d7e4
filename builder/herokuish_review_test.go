package builder

import (
	"context"
	"io"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-paas/berth/docker"
)

// slowArchive is a source whose archive is read slowly, and which notes
// a read that goes on after Close (git archive's pipe would be gone).
type slowArchive struct {
	Files
	closed, readAfterClose atomic.Bool
}

func (s *slowArchive) Archive(ctx context.Context) (io.ReadCloser, error) {
	inner, err := s.Files.Archive(ctx)
	if err != nil {
		return nil, err
	}
	return &slowReader{s: s, r: inner}, nil
}

type slowReader struct {
	s *slowArchive
	r io.ReadCloser
}

func (r *slowReader) Read(p []byte) (int, error) {
	time.Sleep(20 * time.Millisecond)
	if r.s.closed.Load() {
		r.s.readAfterClose.Store(true)
	}
	return r.r.Read(p)
}

func (r *slowReader) Close() error {
	r.s.closed.Store(true)
	return r.r.Close()
}

// failingRunEngine fails RunBuild before it reads the source, as a failed
// CopyToContainer does.
type failingRunEngine struct{ fakeHerokuishEngine }

func (f *failingRunEngine) RunBuild(ctx context.Context, spec docker.BuildRun) (int, string, error) {
	f.spec = spec
	return 0, "c1", io.ErrUnexpectedEOF
}

// The goroutine that rewrites .buildpacks reads the git archive: Build
// must not close the archive under it.
func TestHerokuishClosesTheArchiveAfterItsReaders(t *testing.T) {
	src := &slowArchive{Files: Files{".buildpacks": "x", "a": strings.Repeat("a", 1<<16)}}
	eng := &failingRunEngine{fakeHerokuishEngine{hasImage: true}}
	_, err := Herokuish{Engine: eng}.Build(context.Background(), Request{Source: src, Tag: "t", App: "blog", Buildpacks: []string{"https://example.test/a.git"}})
	if err == nil {
		t.Fatal("the build did not fail")
	}
	time.Sleep(100 * time.Millisecond) // a reader left behind reads now
	if src.readAfterClose.Load() {
		t.Fatal("the archive was read after Build closed it")
	}
}

// A herokuish build runs with a pids limit, the default unless the
// request sets one.
func TestHerokuishBuildHasAPidsLimit(t *testing.T) {
	eng := &fakeHerokuishEngine{hasImage: true}
	if _, err := (Herokuish{Engine: eng}).Build(context.Background(), Request{Source: Files{".buildpacks": "x"}, Tag: "t", App: "blog"}); err != nil {
		t.Fatal(err)
	}
	if eng.spec.PidsLimit != DefaultBuildPidsLimit {
		t.Fatalf("pids limit %d, want %d", eng.spec.PidsLimit, DefaultBuildPidsLimit)
	}
	if _, err := (Herokuish{Engine: eng}).Build(context.Background(), Request{Source: Files{".buildpacks": "x"}, Tag: "t", App: "blog", PidsLimit: 100}); err != nil {
		t.Fatal(err)
	}
	if eng.spec.PidsLimit != 100 {
		t.Fatalf("pids limit %d, want the request's 100", eng.spec.PidsLimit)
	}
}

// A bad name from the global config is unset with --global.
func TestHerokuishBadGlobalEnvNameSaysGlobal(t *testing.T) {
	eng := &fakeHerokuishEngine{hasImage: true}
	_, err := Herokuish{Engine: eng}.Build(context.Background(), Request{Source: Files{}, Tag: "t", App: "blog",
		Env: map[string]string{"A-B": "1"}, GlobalEnv: map[string]bool{"A-B": true}})
	if err == nil || !strings.Contains(err.Error(), "config:unset --global A-B") {
		t.Fatalf("err = %v", err)
	}
	_, err = Herokuish{Engine: eng}.Build(context.Background(), Request{Source: Files{}, Tag: "t", App: "blog", Env: map[string]string{"A-B": "1"}})
	if err == nil || !strings.Contains(err.Error(), "config:unset blog A-B") {
		t.Fatalf("err = %v", err)
	}
}
