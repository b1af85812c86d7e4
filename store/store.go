// Package store keeps Berth's persistent state: one JSON document per app.
//
// The interface is small so that a shared backend (one of Caddy's storage
// modules, say) can replace the embedded file store in a multi-node setup.
package store

import (
	"context"
	"errors"
)

// ErrNotFound is returned by Get for a key that has no document.
var ErrNotFound = errors.New("not found")

// Store holds documents by key. Keys are slash-separated paths such as
// "apps/blog". Put must be atomic: a reader, or a process that starts after a
// crash, sees the old document or the new one, never part of one.
type Store interface {
	Get(ctx context.Context, key string) ([]byte, error)
	Put(ctx context.Context, key string, doc []byte) error
	Delete(ctx context.Context, key string) error
	// List returns the keys directly under prefix (for example "apps"),
	// without the prefix, sorted.
	List(ctx context.Context, prefix string) ([]string, error)
}
