package applogs

import (
	"bytes"
	"fmt"
	"io"
	"runtime"
	"strings"
	"testing"
	"time"
)

func pipeSource(prefix string, write func(w io.Writer)) logSource {
	pr, pw := io.Pipe()
	go func() {
		write(pw)
		pw.Close()
	}()
	return logSource{r: pr, prefix: prefix}
}

func textSource(prefix, text string) logSource {
	return pipeSource(prefix, func(w io.Writer) { io.WriteString(w, text) })
}

// Lines come out in time order across containers, by time and not by
// text: Docker trims the fraction's trailing zeros, so ".1Z" is later than
// ".09Z" though it sorts before it as a string.
func TestMergeLogsOrdersByTime(t *testing.T) {
	var out bytes.Buffer
	err := mergeLogs(&out, []logSource{
		textSource("a[web.1]: ", "2026-01-01T00:00:00.1Z one\n2026-01-01T00:00:02Z three\n2026-01-01T00:00:04.5Z five"),
		textSource("a[web.2]: ", "2026-01-01T00:00:00.09Z zero\n2026-01-01T00:00:01.999999999Z two\n"),
		textSource("a[worker.1]: ", ""),
		textSource("a[web.3]: ", "2026-01-01T00:00:03Z four\n"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := `2026-01-01T00:00:00.09Z a[web.2]: zero
2026-01-01T00:00:00.1Z a[web.1]: one
2026-01-01T00:00:01.999999999Z a[web.2]: two
2026-01-01T00:00:02Z a[web.1]: three
2026-01-01T00:00:03Z a[web.3]: four
2026-01-01T00:00:04.5Z a[web.1]: five
`
	if out.String() != want {
		t.Fatalf("got\n%s\nwant\n%s", out.String(), want)
	}
}

// A line longer than maxLineBytes is cut, not kept whole and not an
// error that ends the output.
func TestMergeLogsCutsLongLines(t *testing.T) {
	long := strings.Repeat("x", 3*maxLineBytes)
	var out bytes.Buffer
	if err := mergeLogs(&out, []logSource{textSource("p: ", "2026-01-01T00:00:00Z "+long+"\n2026-01-01T00:00:01Z after\n")}); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(out.String(), "\n"), "\n")
	if len(lines) != 2 || len(lines[0]) > maxLineBytes+len("p: ")+1 || lines[1] != "2026-01-01T00:00:01Z p: after" {
		t.Fatalf("got %d lines, the first of %d bytes, the last %q", len(lines), len(lines[0]), lines[len(lines)-1])
	}
}

// genLogs writes n lines of about 100 bytes, timestamps start, start+step, ...
func genLogs(w io.Writer, start time.Time, step time.Duration, n int) {
	pad := strings.Repeat("y", 60)
	for i := range n {
		if _, err := fmt.Fprintf(w, "%s line %d %s\n", start.Add(time.Duration(i)*step).Format(time.RFC3339Nano), i, pad); err != nil {
			return
		}
	}
}

// peakWriter counts what is written and samples the heap as it goes.
type peakWriter struct {
	n, next int
	peak    uint64
}

func (w *peakWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n >= w.next {
		w.next = w.n + 1<<20
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		w.peak = max(w.peak, ms.HeapAlloc)
	}
	return len(p), nil
}

// Merging the logs of many containers holds one line per container, not
// the logs: 20 containers of 5 MB each (100 MB) go through in a heap that
// never grows by more than a few MB.
func TestMergeLogsMemoryIsBounded(t *testing.T) {
	const containers, lines = 20, 50000 // ~5 MB each
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	runtime.GC()
	var base runtime.MemStats
	runtime.ReadMemStats(&base)
	var sources []logSource
	for i := range containers {
		sources = append(sources, pipeSource(fmt.Sprintf("app[web.%d]: ", i+1), func(w io.Writer) {
			genLogs(w, start.Add(time.Duration(i)*time.Microsecond), time.Millisecond, lines)
		}))
	}
	w := &peakWriter{}
	if err := mergeLogs(w, sources); err != nil {
		t.Fatal(err)
	}
	if w.n < containers*lines*90 {
		t.Fatalf("only %d bytes came out", w.n)
	}
	grown := int64(w.peak) - int64(base.HeapAlloc)
	t.Logf("%d MB merged; the heap grew by at most %d KB", w.n>>20, grown>>10)
	if grown > 16<<20 {
		t.Fatalf("merging %d MB of logs grew the heap by %d MB: the merge holds the logs", w.n>>20, grown>>20)
	}
}

// The merge writes lines while containers are still sending theirs: the
// output does not wait for the end of the logs.
func TestMergeLogsStreams(t *testing.T) {
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	gate := make(chan struct{})
	slow := pipeSource("a[web.1]: ", func(w io.Writer) {
		genLogs(w, start, time.Second, 5000)
		<-gate // the container's last lines are not there yet
		genLogs(w, start.Add(10000*time.Second), time.Second, 1)
	})
	fast := textSource("a[web.2]: ", "")
	seen := make(chan struct{})
	done := make(chan error)
	go func() {
		done <- mergeLogs(&signalWriter{at: 100 << 10, seen: seen}, []logSource{slow, fast})
	}()
	select {
	case <-seen:
	case err := <-done:
		t.Fatalf("the merge ended before the logs did: %v", err)
	case <-time.After(time.Minute):
		t.Fatal("no output while a container's logs had not ended: the merge waits for all of them")
	}
	close(gate)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

type signalWriter struct {
	n, at int
	seen  chan struct{}
}

func (w *signalWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n >= w.at && w.seen != nil {
		close(w.seen)
		w.seen = nil
	}
	return len(p), nil
}
