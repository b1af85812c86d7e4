package applogs

import (
	"bufio"
	"bytes"
	"container/heap"
	"errors"
	"io"
	"sync"
	"sync/atomic"
	"time"
)

var errOutputClosed = errors.New("logs: output closed")

// logSource is one container's log stream: lines "TIMESTAMP text" with
// Docker's RFC 3339 timestamps.
type logSource struct {
	r      *io.PipeReader
	prefix string
}

// logLine is a source's next line in the merge.
type logLine struct {
	at   time.Time
	ts   []byte
	text []byte
	src  int
}

type lineHeap []*logLine

func (h lineHeap) Len() int { return len(h) }
func (h lineHeap) Less(i, j int) bool {
	if c := h[i].at.Compare(h[j].at); c != 0 {
		return c < 0
	}
	return h[i].src < h[j].src
}
func (h lineHeap) Swap(i, j int) { h[i], h[j] = h[j], h[i] }
func (h *lineHeap) Push(x any)   { *h = append(*h, x.(*logLine)) }
func (h *lineHeap) Pop() any {
	old := *h
	x := old[len(old)-1]
	*h = old[:len(old)-1]
	return x
}

// read fills l with the source's next line.
func (l *logLine) read(lr *LineReader) error {
	line, err := lr.Next()
	// A last line without its newline is a line; what came before
	// another error is dropped with the source.
	if err != nil && (err != io.EOF || len(line) == 0) {
		return err
	}
	ts, text, _ := bytes.Cut(line, []byte(" "))
	// Docker trims trailing zeros of the fraction, so the timestamps do
	// not sort as strings; an unparsable one sorts first.
	l.at, _ = time.Parse(time.RFC3339Nano, string(ts))
	l.ts = append(l.ts[:0], ts...)
	l.text = append(l.text[:0], text...)
	return nil
}

func writeLogLine(w *bufio.Writer, ts []byte, prefix string, text []byte) {
	w.Write(ts)
	w.WriteByte(' ')
	w.WriteString(prefix)
	w.Write(text)
	w.WriteByte('\n')
}

// mergeLogs writes the sources' lines in time order, holding one line per
// source: the heap has each source's next line, the earliest goes out and
// its source's following line takes its place.
func mergeLogs(w io.Writer, sources []logSource) error {
	readers := make([]*LineReader, len(sources))
	h := make(lineHeap, 0, len(sources))
	var srcErr error
	for i, s := range sources {
		readers[i] = NewLineReader(s.r)
		l := &logLine{src: i}
		if err := l.read(readers[i]); err == nil {
			h = append(h, l)
		} else if err != io.EOF && srcErr == nil {
			srcErr = err
		}
	}
	heap.Init(&h)
	bw := bufio.NewWriter(w)
	for h.Len() > 0 {
		l := h[0]
		writeLogLine(bw, l.ts, sources[l.src].prefix, l.text)
		if err := l.read(readers[l.src]); err == nil {
			heap.Fix(&h, 0)
		} else {
			heap.Pop(&h)
			if err != io.EOF && srcErr == nil {
				srcErr = err
			}
		}
		// Flush while a source waits for the engine, so output streams
		// instead of waiting for the buffer to fill.
		if bw.Buffered() >= 32<<10 {
			if err := bw.Flush(); err != nil {
				return err
			}
		}
	}
	if err := bw.Flush(); err != nil {
		return err
	}
	return srcErr
}

// followLogs writes each source's lines as they come, a line at a time.
func followLogs(w io.Writer, sources []logSource) error {
	var mu sync.Mutex
	var werr atomic.Value
	var wg sync.WaitGroup
	for _, s := range sources {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lr := NewLineReader(s.r)
			l := &logLine{}
			var out bytes.Buffer
			for l.read(lr) == nil {
				out.Reset()
				bw := bufio.NewWriter(&out)
				writeLogLine(bw, l.ts, s.prefix, l.text)
				bw.Flush()
				mu.Lock()
				_, err := w.Write(out.Bytes())
				mu.Unlock()
				if err != nil {
					werr.CompareAndSwap(nil, err)
					// The other sources wait for their next lines
					// forever: end them.
					for _, s := range sources {
						s.r.CloseWithError(errOutputClosed)
					}
					return
				}
			}
		}()
	}
	wg.Wait()
	if err, _ := werr.Load().(error); err != nil {
		return err
	}
	return nil
}
