package store

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

type color struct {
	Name string `json:"name,omitempty"`
}

var errNotObject = errors.New("not an object")

func testField() Field {
	return Field{
		Key:       "settings/global",
		Name:      "color",
		NotObject: func(err error) error { return errors.Join(errNotObject, err) },
		BadValue:  func(err error) error { return errors.New("bad color: " + err.Error()) },
	}
}

func fieldsOf(t *testing.T, s Store) map[string]json.RawMessage {
	t.Helper()
	raw, err := s.Get(context.Background(), "settings/global")
	if err != nil {
		t.Fatal(err)
	}
	doc := map[string]json.RawMessage{}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatalf("%s: %v", raw, err)
	}
	// The document is written indented: compare the values compacted.
	for k, v := range doc {
		var b bytes.Buffer
		if err := json.Compact(&b, v); err != nil {
			t.Fatal(err)
		}
		doc[k] = b.Bytes()
	}
	return doc
}

// An absent document is empty settings, and the first save creates it.
func TestFieldAbsentDocument(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	f := testField()
	c := color{Name: "left"}
	if err := f.Load(ctx, s, &c); err != nil || c.Name != "left" {
		t.Fatalf("Load of an absent document: %+v, %v", c, err)
	}
	if err := f.Save(ctx, s, color{Name: "red"}, false); err != nil {
		t.Fatal(err)
	}
	if got := string(fieldsOf(t, s)["color"]); got != `{"name":"red"}` {
		t.Fatalf("color = %s", got)
	}
}

// Saving a field keeps the other fields (their values, whatever their
// form), and reads back what was saved.
func TestFieldSaveKeepsOtherFields(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	if err := s.Put(ctx, "settings/global", []byte(`{"builder":"pack","hsts":{"max_age":60,"x":[1,2]},"color":{"name":"blue"}}`)); err != nil {
		t.Fatal(err)
	}
	f := testField()
	var c color
	if err := f.Load(ctx, s, &c); err != nil || c.Name != "blue" {
		t.Fatalf("Load: %+v, %v", c, err)
	}
	if err := f.Save(ctx, s, color{Name: "red"}, false); err != nil {
		t.Fatal(err)
	}
	doc := fieldsOf(t, s)
	if string(doc["builder"]) != `"pack"` || string(doc["hsts"]) != `{"max_age":60,"x":[1,2]}` || string(doc["color"]) != `{"name":"red"}` || len(doc) != 3 {
		t.Fatalf("document after Save: %s", doc)
	}
}

// Saving the owner's zero value removes the field (omitempty), and only it.
func TestFieldSaveZeroRemovesField(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	if err := s.Put(ctx, "settings/global", []byte(`{"builder":"pack","color":{"name":"blue"}}`)); err != nil {
		t.Fatal(err)
	}
	if err := testField().Save(ctx, s, color{}, true); err != nil {
		t.Fatal(err)
	}
	doc := fieldsOf(t, s)
	if _, ok := doc["color"]; ok || string(doc["builder"]) != `"pack"` || len(doc) != 1 {
		t.Fatalf("document after clearing: %s", doc)
	}
}

// A document that is not a JSON object is the owner's error on Load and
// on Save, and Save leaves it as it was: nothing is silently replaced.
func TestFieldMalformedDocumentRefused(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	bad := `{"builder": "pack",`
	if err := s.Put(ctx, "settings/global", []byte(bad)); err != nil {
		t.Fatal(err)
	}
	f := testField()
	var c color
	if err := f.Load(ctx, s, &c); !errors.Is(err, errNotObject) {
		t.Fatalf("Load of a malformed document: %v", err)
	}
	if err := f.Save(ctx, s, color{Name: "red"}, false); !errors.Is(err, errNotObject) {
		t.Fatalf("Save over a malformed document: %v", err)
	}
	if raw, err := s.Get(ctx, "settings/global"); err != nil || string(raw) != bad {
		t.Fatalf("document after a refused Save: %q, %v", raw, err)
	}
}

// A field that does not decode into the owner's type is its BadValue error.
func TestFieldBadValue(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	if err := s.Put(ctx, "settings/global", []byte(`{"color":42}`)); err != nil {
		t.Fatal(err)
	}
	var c color
	if err := testField().Load(ctx, s, &c); err == nil || !strings.HasPrefix(err.Error(), "bad color: ") {
		t.Fatalf("Load of a bad field: %v", err)
	}
}

// GetJSON: an absent document leaves v; a malformed one is "what: ...".
func TestGetJSON(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	c := color{Name: "left"}
	if err := GetJSON(ctx, s, "settings/global", &c, "global settings"); err != nil || c.Name != "left" {
		t.Fatalf("absent: %+v, %v", c, err)
	}
	if err := s.Put(ctx, "settings/global", []byte(`{"name":"red","other":1}`)); err != nil {
		t.Fatal(err)
	}
	if err := GetJSON(ctx, s, "settings/global", &c, "global settings"); err != nil || c.Name != "red" {
		t.Fatalf("present: %+v, %v", c, err)
	}
	if err := s.Put(ctx, "settings/global", []byte(`[`)); err != nil {
		t.Fatal(err)
	}
	if err := GetJSON(ctx, s, "settings/global", &c, "global settings"); err == nil || !strings.HasPrefix(err.Error(), "global settings: ") {
		t.Fatalf("malformed: %v", err)
	}
}

type pair struct {
	A string `json:"a,omitempty"`
	B int    `json:"b,omitempty"`
}

// SaveFields writes a struct's fields, removes its cleared ones, keeps the
// others, and refuses a malformed document.
func TestSaveFields(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	notObject := func(err error) error { return errors.Join(errNotObject, err) }
	if err := SaveFields(ctx, s, "settings/global", []string{"a", "b"}, pair{A: "x", B: 2}, notObject); err != nil {
		t.Fatal(err)
	}
	if err := s.Put(ctx, "settings/global", []byte(`{"a":"x","b":2,"hsts":{"max_age":60}}`)); err != nil {
		t.Fatal(err)
	}
	if err := SaveFields(ctx, s, "settings/global", []string{"a", "b"}, pair{A: "y"}, notObject); err != nil {
		t.Fatal(err)
	}
	doc := fieldsOf(t, s)
	if _, ok := doc["b"]; ok || string(doc["a"]) != `"y"` || string(doc["hsts"]) != `{"max_age":60}` || len(doc) != 2 {
		t.Fatalf("document after SaveFields: %s", doc)
	}
	if err := s.Put(ctx, "settings/global", []byte(`[1]`)); err != nil {
		t.Fatal(err)
	}
	if err := SaveFields(ctx, s, "settings/global", []string{"a", "b"}, pair{A: "z"}, notObject); !errors.Is(err, errNotObject) {
		t.Fatalf("SaveFields over a malformed document: %v", err)
	}
	if raw, _ := s.Get(ctx, "settings/global"); string(raw) != `[1]` {
		t.Fatalf("malformed document replaced: %s", raw)
	}
}

// A document of JSON null (a hand edit) reads as empty and is written
// over as an object: before, the save panicked on the nil map, taking
// the server down with it.
func TestFieldNullDocumentIsEmpty(t *testing.T) {
	ctx := context.Background()
	s := &Files{Dir: t.TempDir()}
	f := testField()
	if err := s.Put(ctx, f.Key, []byte("null")); err != nil {
		t.Fatal(err)
	}
	if err := f.Save(ctx, s, color{Name: "red"}, false); err != nil {
		t.Fatal(err)
	}
	if got := string(fieldsOf(t, s)["color"]); got != `{"name":"red"}` {
		t.Fatalf("color = %s", got)
	}
}
