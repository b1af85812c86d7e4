package platform

import (
	"bufio"
	"bytes"
	"container/heap"
	"context"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/berth-paas/berth/docker"
)

// DefaultMaxLogLines is how many lines per container `logs -n` shows at
// most unless the Caddyfile's max_log_lines says otherwise.
const DefaultMaxLogLines = 10000

// maxLogLineBytes is how much of one log line is kept; the rest of a
// longer line is cut, so one line cannot take unbounded memory.
const maxLogLineBytes = 16 << 10

// LogOptions select what Logs shows.
type LogOptions struct {
	// Lines is how many lines of each container to show first; negative
	// means all (which is capped at the maximum, see SetMaxLogLines).
	Lines int
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
	// Process limits the output to one process type ("web") or one
	// container ("web.1").
	Process string
}

// SetMaxLogLines sets how many lines per container Logs shows at most
// (the Caddyfile's max_log_lines); n <= 0 means DefaultMaxLogLines.
func (p *Platform) SetMaxLogLines(n int) {
	if n <= 0 {
		n = DefaultMaxLogLines
	}
	p.maxLogLines.Store(int64(n))
}

func (p *Platform) logLinesCap() int {
	if n := p.maxLogLines.Load(); n > 0 {
		return int(n)
	}
	return DefaultMaxLogLines
}

// Logs writes the output of the app's running release, each line as
// Dokku does: "TIMESTAMP app[web.1]: line". Without Follow the lines of all
// containers are merged in time order as they are read (a k-way merge that
// holds one line per container), so memory does not grow with the logs.
// More lines per container than the maximum (or all of them, a negative
// Lines) are capped at the maximum, with a note on notes saying so.
func (p *Platform) Logs(ctx context.Context, app string, opts LogOptions, w, notes io.Writer) error {
	a, err := p.App(ctx, app)
	if err != nil {
		return err
	}
	cs, err := p.containers(ctx, app, docker.LabelGeneration+"="+strconv.Itoa(a.Generation))
	if err != nil {
		return err
	}
	cs = slices.DeleteFunc(cs, func(c docker.Container) bool {
		dyno := c.Labels[docker.LabelProcess] + "." + c.Labels[docker.LabelIndex]
		return opts.Process != "" && opts.Process != c.Labels[docker.LabelProcess] && opts.Process != dyno
	})
	if len(cs) == 0 {
		if opts.Process != "" {
			return fmt.Errorf("%s runs no %s container", app, opts.Process)
		}
		return fmt.Errorf("%s runs no container: push to it, or ps:scale it", app)
	}
	if max := p.logLinesCap(); opts.Lines < 0 || opts.Lines > max {
		fmt.Fprintf(notes, "berth: showing the last %d lines per container, the most logs shows (the max_log_lines option of the Caddyfile's berth block sets it); use -t to follow the output instead\n", max)
		opts.Lines = max
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	sources := make([]logSource, len(cs))
	for i, c := range cs {
		prefix := fmt.Sprintf("%s[%s.%s]: ", app, c.Labels[docker.LabelProcess], c.Labels[docker.LabelIndex])
		pr, pw := io.Pipe()
		// A pipe holds nothing: the engine's stream waits until the merge
		// takes the line it wrote.
		sources[i] = logSource{r: pr, prefix: prefix}
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := p.docker.StreamLogs(ctx, c.ID, opts.Lines, opts.Follow, pw)
			pw.CloseWithError(err)
			if err != nil {
				errs <- err
			}
		}()
	}
	var werr error
	if opts.Follow {
		werr = followLogs(w, sources)
	} else {
		werr = mergeLogs(w, sources)
	}
	// A writer that failed (the client went away) leaves streams unread:
	// end them.
	cancel()
	for _, s := range sources {
		s.r.CloseWithError(errOutputClosed)
	}
	wg.Wait()
	close(errs)
	if werr != nil {
		return werr
	}
	for err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

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

// lineReader reads lines of at most maxLogLineBytes, cutting longer ones.
type lineReader struct {
	br  *bufio.Reader
	buf []byte
}

func newLineReader(r io.Reader) *lineReader {
	return &lineReader{br: bufio.NewReaderSize(r, 4<<10)}
}

// next returns the next line without its newline; the slice is valid until
// the following call.
func (lr *lineReader) next() ([]byte, error) {
	lr.buf = lr.buf[:0]
	for {
		chunk, err := lr.br.ReadSlice('\n')
		if room := maxLogLineBytes - len(lr.buf); room > 0 {
			lr.buf = append(lr.buf, chunk[:min(len(chunk), room)]...)
		}
		switch {
		case err == nil:
			return bytes.TrimSuffix(lr.buf, []byte("\n")), nil
		case errors.Is(err, bufio.ErrBufferFull):
			continue
		case err == io.EOF && len(lr.buf) > 0:
			return lr.buf, nil
		default:
			return nil, err
		}
	}
}

// read fills l with the source's next line.
func (l *logLine) read(lr *lineReader) error {
	line, err := lr.next()
	if err != nil {
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
	readers := make([]*lineReader, len(sources))
	h := make(lineHeap, 0, len(sources))
	var srcErr error
	for i, s := range sources {
		readers[i] = newLineReader(s.r)
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
			lr := newLineReader(s.r)
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
