package store

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
)

// Shared documents. Some documents (settings/global) hold fields of
// several packages, each writing its own under one lock. These helpers are
// the read-modify-write those packages share, so that every writer keeps
// the fields it does not know.

// GetJSON decodes the document at key into v. An absent document leaves v
// as it is (the zero settings); a document that does not decode is an
// error "what: ...", never silently replaced.
func GetJSON(ctx context.Context, s Store, key string, v any, what string) error {
	doc, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	if err := json.Unmarshal(doc, v); err != nil {
		return fmt.Errorf("%s: %w", what, err)
	}
	return nil
}

// Field is one field of a JSON-object document that one package owns; the
// document's other fields belong to others and are kept.
type Field struct {
	Key  string // the document, such as "settings/global"
	Name string // the field's name in it
	// NotObject words the error of a document that is not a JSON object
	// (err is the decoder's); BadValue that of a field whose value does
	// not decode into the caller's type. They are the owner's words: the
	// user reads them.
	NotObject func(err error) error
	BadValue  func(err error) error
}

// fields reads the document field by field; an absent one is empty.
func (f Field) fields(ctx context.Context, s Store) (map[string]json.RawMessage, error) {
	return getFields(ctx, s, f.Key, f.NotObject)
}

func getFields(ctx context.Context, s Store, key string, notObject func(error) error) (map[string]json.RawMessage, error) {
	doc := map[string]json.RawMessage{}
	raw, err := s.Get(ctx, key)
	if errors.Is(err, ErrNotFound) {
		return doc, nil
	}
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		return nil, notObject(err)
	}
	if doc == nil {
		// A document of JSON null (a hand edit) decodes to a nil map: an
		// empty one, or the next write would panic on it.
		doc = map[string]json.RawMessage{}
	}
	return doc, nil
}

func putFields(ctx context.Context, s Store, key string, doc map[string]json.RawMessage) error {
	raw, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return s.Put(ctx, key, raw)
}

// SaveFields writes v, a struct, as fields of the document at key: the
// fields named in own are v's, those v's JSON leaves out (omitempty) are
// removed, and the document's other fields keep their values. A document
// that is not a JSON object is notObject's error, not replaced. The
// caller holds the document's lock.
func SaveFields(ctx context.Context, s Store, key string, own []string, v any, notObject func(error) error) error {
	doc, err := getFields(ctx, s, key, notObject)
	if err != nil {
		return err
	}
	raw, err := json.Marshal(v)
	if err != nil {
		return err
	}
	mine := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &mine); err != nil {
		return err
	}
	for _, k := range own {
		delete(doc, k)
	}
	for k, v := range mine {
		doc[k] = v
	}
	return putFields(ctx, s, key, doc)
}

// Load decodes the field into v; an absent document or field leaves v as
// it is.
func (f Field) Load(ctx context.Context, s Store, v any) error {
	doc, err := f.fields(ctx, s)
	if err != nil {
		return err
	}
	if raw, ok := doc[f.Name]; ok {
		if err := json.Unmarshal(raw, v); err != nil {
			return f.BadValue(err)
		}
	}
	return nil
}

// Save writes v as the field, or removes the field when zero is true (the
// owner's omitempty), and keeps the document's other fields with their
// values as they were. The document is written indented, keys sorted. A
// document that is not a JSON object is refused, not replaced. The caller
// holds the document's lock.
func (f Field) Save(ctx context.Context, s Store, v any, zero bool) error {
	doc, err := f.fields(ctx, s)
	if err != nil {
		return err
	}
	if zero {
		delete(doc, f.Name)
	} else {
		raw, err := json.Marshal(v)
		if err != nil {
			return err
		}
		doc[f.Name] = raw
	}
	return putFields(ctx, s, f.Key, doc)
}
