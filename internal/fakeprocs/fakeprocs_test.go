package fakeprocs

import (
	"bytes"
	"context"
	"testing"
)

// A stream writes the last tail lines as Docker does: nothing for tail 0.
func TestStreamWritesTheLastTailLines(t *testing.T) {
	p := &Processes{Output: map[string]string{"web.1": "one\ntwo\n"}}
	streams, err := p.LogStreams(context.Background(), nil)
	if err != nil || len(streams) != 1 {
		t.Fatalf("%d streams, %v", len(streams), err)
	}
	for tail, want := range map[int]string{0: "", 1: "two\n", -1: "one\ntwo\n", 5: "one\ntwo\n"} {
		var out bytes.Buffer
		if err := streams[0].Stream(context.Background(), tail, false, &out); err != nil || out.String() != want {
			t.Errorf("tail %d: %q, %v; want %q", tail, out.String(), err, want)
		}
	}
}
