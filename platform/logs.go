package platform

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"sync"

	"github.com/berth-paas/berth/docker"
)

// LogOptions select what Logs shows.
type LogOptions struct {
	// Lines is how many lines of each container to show first; negative
	// means all.
	Lines int
	// Follow keeps streaming new lines until ctx ends.
	Follow bool
	// Process limits the output to one process type ("web") or one
	// container ("web.1").
	Process string
}

// Logs writes the output of the app's running release, each line as
// Dokku does: "TIMESTAMP app[web.1]: line". Without Follow the lines of all
// containers are merged in time order.
func (p *Platform) Logs(ctx context.Context, app string, opts LogOptions, w io.Writer) error {
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
	var mu sync.Mutex
	var collected []string
	emit := func(line string) {
		mu.Lock()
		defer mu.Unlock()
		if opts.Follow {
			io.WriteString(w, line+"\n")
		} else {
			collected = append(collected, line)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(cs))
	for _, c := range cs {
		prefix := fmt.Sprintf("%s[%s.%s]:", app, c.Labels[docker.LabelProcess], c.Labels[docker.LabelIndex])
		pr, pw := io.Pipe()
		wg.Add(2)
		go func() {
			defer wg.Done()
			sc := bufio.NewScanner(pr)
			sc.Buffer(make([]byte, 64<<10), 1<<20)
			for sc.Scan() {
				ts, text, _ := strings.Cut(sc.Text(), " ")
				emit(ts + " " + prefix + " " + text)
			}
			io.Copy(io.Discard, pr)
		}()
		go func() {
			defer wg.Done()
			err := p.docker.StreamLogs(ctx, c.ID, opts.Lines, opts.Follow, pw)
			pw.CloseWithError(err)
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	if !opts.Follow {
		// RFC 3339 timestamps of one zone sort as strings.
		slices.Sort(collected)
		for _, line := range collected {
			if _, err := io.WriteString(w, line+"\n"); err != nil {
				return err
			}
		}
	}
	return <-errs
}
