package store

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// Files is a Store on the local file system: key "apps/blog" is the file
// DIR/apps/blog.json. Files and directories are readable by the owner only,
// because documents hold config vars, which are often secrets.
type Files struct {
	Dir string
}

var _ Store = (*Files)(nil)

const docSuffix = ".json"

func (f *Files) path(key string) (string, error) {
	if key == "" || strings.Contains(key, "..") || strings.HasPrefix(key, "/") {
		return "", fmt.Errorf("store: invalid key %q", key)
	}
	return filepath.Join(f.Dir, filepath.FromSlash(key)+docSuffix), nil
}

// Get reads the document at key.
func (f *Files) Get(_ context.Context, key string) ([]byte, error) {
	p, err := f.path(key)
	if err != nil {
		return nil, err
	}
	doc, err := os.ReadFile(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, ErrNotFound
	}
	return doc, err
}

// Put writes doc to a temporary file in the same directory, syncs it and
// renames it over the old document, so a crash at any point leaves either
// document whole.
func (f *Files) Put(_ context.Context, key string, doc []byte) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	dir := filepath.Dir(p)
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	if err := ReplaceFile(p, doc); err != nil {
		return err
	}
	// Sync the directory so the rename itself survives a power cut (best
	// effort: the document is whole either way).
	SyncDir(dir)
	return nil
}

// ReplaceFile writes data to a temporary file beside path, syncs it and
// renames it over path, so a crash at any point leaves the old file or
// the new one whole, never a torn one. The directory must exist; SyncDir
// makes the rename itself durable.
func ReplaceFile(path string, data []byte) error {
	tmp, err := os.CreateTemp(filepath.Dir(path), ".tmp-*")
	if err != nil {
		return err
	}
	defer os.Remove(tmp.Name()) // a no-op once renamed
	if _, err := tmp.Write(data); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Sync(); err != nil {
		tmp.Close()
		return err
	}
	if err := tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// SyncDir makes a rename or a new file in dir durable: without it a power
// cut can lose the entry even though the file's data reached the disk.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	return d.Sync()
}

// Delete removes the document at key; a missing document is not an error.
func (f *Files) Delete(_ context.Context, key string) error {
	p, err := f.path(key)
	if err != nil {
		return err
	}
	if err := os.Remove(p); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	return nil
}

// List returns the keys of the documents directly under prefix.
func (f *Files) List(_ context.Context, prefix string) ([]string, error) {
	entries, err := os.ReadDir(filepath.Join(f.Dir, filepath.FromSlash(prefix)))
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var keys []string
	for _, e := range entries {
		name := e.Name()
		if e.Type().IsRegular() && strings.HasSuffix(name, docSuffix) && !strings.HasPrefix(name, ".") {
			keys = append(keys, strings.TrimSuffix(name, docSuffix))
		}
	}
	slices.Sort(keys)
	return keys, nil
}
