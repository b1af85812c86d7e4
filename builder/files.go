package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"io"
	"maps"
	"slices"
)

// Files is a source held in memory: file name → content, names relative
// to the root. It is for tests of builders and of the deploy pipeline,
// which need a source without a git repository.
type Files map[string]string

var _ Source = Files{}

// Describe returns "files".
func (f Files) Describe() string { return "files" }

// ReadFile returns the named file's content.
func (f Files) ReadFile(_ context.Context, name string) ([]byte, bool, error) {
	content, ok := f[name]
	if !ok {
		return nil, false, nil
	}
	return []byte(content), true, nil
}

// Archive returns the files as a tar, in name order.
func (f Files) Archive(context.Context) (io.ReadCloser, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range slices.Sorted(maps.Keys(f)) {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(f[name]))}); err != nil {
			return nil, err
		}
		if _, err := io.WriteString(tw, f[name]); err != nil {
			return nil, err
		}
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return io.NopCloser(&buf), nil
}
