package oneoff

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"

	"github.com/berth-paas/berth/applogs"
)

// LogOptions select what Logs shows (Dokku's run:logs).
type LogOptions struct {
	// Container is one run container's name (APP.run.NNNN); "" for all
	// of the app's.
	Container string
	// Lines per container to show first; negative means the most logs
	// shows (Config.MaxLines).
	Lines int
	// Follow keeps streaming until ctx ends.
	Follow bool
	// Raw prints the lines as the program wrote them, without the
	// timestamp and name (Dokku's -q).
	Raw bool
}

// Logs writes the output of the app's running one-off containers
// (run:detached, run), each line "TIMESTAMP APP[run.NNNN]: text" as logs
// writes a process's. As in Dokku, the containers' streams are written as
// they come, one whole line at a time, not merged by time. A one-off is
// removed when it exits, so only running ones have logs to show. More
// lines per container than Config.MaxLines (or all of them, a negative
// Lines) are capped at it, with a note on notes saying so.
func (r *Runner) Logs(ctx context.Context, app string, opts LogOptions, w, notes io.Writer) error {
	cs, err := r.List(ctx, app)
	if err != nil {
		return err
	}
	if opts.Container != "" {
		var one []Container
		for _, c := range cs {
			if c.Name == opts.Container {
				one = append(one, c)
			}
		}
		if len(one) == 0 {
			return notNamed(app, opts.Container)
		}
		cs = one
	}
	if len(cs) == 0 {
		return fmt.Errorf("%s has no running run container (one-offs are removed when they exit); run:detached %s CMD starts one", app, app)
	}
	if max := r.maxLogLines(); max > 0 && (opts.Lines < 0 || opts.Lines > max) {
		fmt.Fprintf(notes, "berth: showing the last %d lines per container, the most logs shows (the max_log_lines option of the Caddyfile's berth block sets it); use -t to follow the output instead\n", max)
		opts.Lines = max
	}
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	var (
		mu   sync.Mutex
		werr error
		wg   sync.WaitGroup
	)
	errs := make([]error, len(cs))
	for i, c := range cs {
		dyno := strings.TrimPrefix(c.Name, c.App+".")
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() {
			defer wg.Done()
			err := r.engine.StreamLogs(ctx, c.ID, opts.Lines, opts.Follow, pw)
			pw.CloseWithError(err)
			errs[i] = err
		}()
		go func() {
			defer wg.Done()
			defer pr.Close()
			lines := applogs.NewLineReader(pr)
			for {
				line, err := lines.Next()
				if len(line) > 0 {
					ts, text, ok := bytes.Cut(line, []byte(" "))
					if !ok {
						ts, text = nil, line
					}
					var out []byte
					if opts.Raw {
						out = append(append(out, text...), '\n')
					} else {
						out = fmt.Appendf(out, "%s %s[%s]: %s\n", ts, c.App, dyno, text)
					}
					mu.Lock()
					if werr == nil {
						if _, werr = w.Write(out); werr != nil {
							cancel() // the client went away: end every stream
						}
					}
					mu.Unlock()
				}
				if err != nil {
					return
				}
			}
		}()
	}
	wg.Wait()
	if werr != nil {
		return werr
	}
	for _, err := range errs {
		if err != nil && !errors.Is(err, context.Canceled) {
			return err
		}
	}
	return nil
}

// maxLogLines is Config.MaxLines' answer now (a reload may change it); 0
// for no cap.
func (r *Runner) maxLogLines() int {
	if r.maxLines == nil {
		return 0
	}
	return r.maxLines()
}
