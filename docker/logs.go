package docker

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/events"
	"github.com/moby/moby/client"
)

// Logs returns the last lines of the container's output (stdout and stderr
// interleaved as Docker stored them).
func (c *ContainerAPI) Logs(ctx context.Context, id string, lines int) (string, error) {
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Tail: strconv.Itoa(lines),
	})
	if err != nil {
		return "", fmt.Errorf("docker: logs of %s: %w", id, err)
	}
	defer rc.Close()
	var buf strings.Builder
	lw := &limitedWriter{w: &buf, n: 64 << 10}
	if _, err := stdcopy.StdCopy(lw, lw, rc); err != nil && !errors.Is(err, errLimit) {
		return buf.String(), err
	}
	return buf.String(), nil
}

// StreamLogs writes the container's output to w with Docker's timestamps
// ("2006-01-02T15:04:05.999999999Z07:00 line"): the last tail lines (all
// when tail < 0), then, when follow, new lines until ctx ends.
func (c *ContainerAPI) StreamLogs(ctx context.Context, id string, tail int, follow bool, w io.Writer) error {
	t := "all"
	if tail >= 0 {
		t = strconv.Itoa(tail)
	}
	rc, err := c.api.ContainerLogs(ctx, id, client.ContainerLogsOptions{
		ShowStdout: true, ShowStderr: true, Timestamps: true, Follow: follow, Tail: t,
	})
	if err != nil {
		return fmt.Errorf("docker: logs of %s: %w", id, err)
	}
	defer rc.Close()
	_, err = stdcopy.StdCopy(w, w, rc)
	if ctx.Err() != nil {
		return nil
	}
	return err
}

var errLimit = errors.New("limit reached")

type limitedWriter struct {
	w io.Writer
	n int
}

func (l *limitedWriter) Write(p []byte) (int, error) {
	if len(p) > l.n {
		p = p[:l.n]
	}
	n, err := l.w.Write(p)
	l.n -= n
	if err == nil && l.n <= 0 {
		err = errLimit
	}
	return n, err
}

// Event is a container event of interest to Berth.
type Event struct {
	ContainerID string
	Action      string
	Labels      map[string]string
}

// Events streams events of this Berth's containers (see Owns) that carry
// LabelApp until ctx ends. The error channel yields one error when the
// stream breaks; the caller reconnects (and should reconcile, since
// events may have been missed).
func (c *ContainerAPI) Events(ctx context.Context) (<-chan Event, <-chan error) {
	f := client.Filters{}
	f.Add("type", string(events.ContainerEventType))
	if len(c.legacy) == 0 {
		f.Add("label", LabelInstance+"="+c.instance)
	} else {
		f.Add("label", LabelApp)
	}
	res := c.api.Events(ctx, client.EventsListOptions{Filters: f})
	out := make(chan Event)
	errc := make(chan error, 1)
	go func() {
		defer close(out)
		for {
			select {
			case m := <-res.Messages:
				// An event's attributes are the container's labels (with
				// its name and image).
				if _, ok := m.Actor.Attributes[LabelApp]; !ok || !c.Owns(m.Actor.ID, m.Actor.Attributes) {
					continue
				}
				ev := Event{ContainerID: m.Actor.ID, Action: string(m.Action), Labels: m.Actor.Attributes}
				select {
				case out <- ev:
				case <-ctx.Done():
					return
				}
			case err := <-res.Err:
				if err == nil {
					err = io.EOF
				}
				errc <- err
				return
			case <-ctx.Done():
				return
			}
		}
	}()
	return out, errc
}
