package store

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"
)

func TestFilesRoundTrip(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	if _, err := s.Get(ctx, "apps/blog"); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get of a missing key: %v, want ErrNotFound", err)
	}
	if err := s.Put(ctx, "apps/blog", []byte(`{"v":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "apps/blog", []byte(`{"v":2}`)); err != nil {
		t.Fatal(err)
	}
	got, err := s.Get(ctx, "apps/blog")
	if err != nil || string(got) != `{"v":2}` {
		t.Fatalf("Get = %q, %v", got, err)
	}
	if err := s.Put(ctx, "apps/api", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	keys, err := s.List(ctx, "apps")
	if err != nil || !slices.Equal(keys, []string{"api", "blog"}) {
		t.Fatalf("List = %v, %v", keys, err)
	}
	if err := s.Delete(ctx, "apps/blog"); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "apps/blog"); err != nil {
		t.Fatalf("second Delete: %v", err)
	}
	keys, _ = s.List(ctx, "apps")
	if !slices.Equal(keys, []string{"api"}) {
		t.Fatalf("List after delete = %v", keys)
	}
}

func TestFilesAreOwnerOnly(t *testing.T) {
	s := &Files{Dir: t.TempDir()}
	if err := s.Put(context.Background(), "apps/blog", []byte(`{}`)); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{filepath.Join(s.Dir, "apps"), filepath.Join(s.Dir, "apps", "blog.json")} {
		fi, err := os.Stat(p)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm()&0o077 != 0 {
			t.Errorf("%s has mode %v; want no group or other access", p, fi.Mode().Perm())
		}
	}
}

func TestFilesLeftoverTempFileIsNotADocument(t *testing.T) {
	// A crash between CreateTemp and Rename leaves a temporary file behind;
	// it must not show up as an app.
	s := &Files{Dir: t.TempDir()}
	os.MkdirAll(filepath.Join(s.Dir, "apps"), 0o700)
	os.WriteFile(filepath.Join(s.Dir, "apps", ".tmp-123"), []byte("{half"), 0o600)
	keys, err := s.List(context.Background(), "apps")
	if err != nil || len(keys) != 0 {
		t.Fatalf("List = %v, %v; want nothing", keys, err)
	}
}

func TestFilesRejectsEscapingKeys(t *testing.T) {
	s := &Files{Dir: t.TempDir()}
	for _, key := range []string{"../x", "/etc/passwd", "apps/../../x", ""} {
		if err := s.Put(context.Background(), key, []byte(`{}`)); err == nil {
			t.Errorf("Put(%q) succeeded", key)
		}
	}
}
