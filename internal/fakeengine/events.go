package fakeengine

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strconv"

	"github.com/berth-paas/berth/docker"
)

// subscription is one Events stream.
type subscription struct {
	events chan docker.Event
	errs   chan error
}

// Crash makes a running container exit with code, as a crash would:
// its listener closes and die is reported. Docker's restart policy is not
// emulated; call Restart to bring it back as the policy would.
func (e *ContainerEngine) Crash(id string, code int) {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok || !c.Running {
		e.mu.Unlock()
		return
	}
	c.halt()
	c.ExitCode = code
	ev := e.event(c, "die")
	e.mu.Unlock()
	e.publish(ev)
}

// CrashLoop makes a running container exit with code and be in Docker's
// restart back-off: its listener closes, die is reported, and it shows
// as Docker shows it, Restarting (and Running: Docker counts a
// restarting container as running), until Restart starts it.
func (e *ContainerEngine) CrashLoop(id string, code int) {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok || !c.Running {
		e.mu.Unlock()
		return
	}
	c.halt()
	c.ExitCode = code
	c.Running, c.Restarting = true, true
	ev := e.event(c, "die")
	e.mu.Unlock()
	e.publish(ev)
}

// Restart starts a crashed container again, counting the restart, as
// Docker's restart policy does.
func (e *ContainerEngine) Restart(id string) error {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return notFound("container", id)
	}
	c.RestartCount++
	if c.Restarting {
		c.Running, c.Restarting = false, false
	}
	e.mu.Unlock()
	return e.StartExisting(context.Background(), id)
}

// Events streams every later container event until ctx ends, or until
// BreakEvents breaks the stream.
func (e *ContainerEngine) Events(ctx context.Context) (<-chan docker.Event, <-chan error) {
	sub := subscription{events: make(chan docker.Event, 1024), errs: make(chan error, 1)}
	e.mu.Lock()
	e.subs = append(e.subs, sub)
	e.mu.Unlock()
	go func() {
		<-ctx.Done()
		e.unsubscribe(sub)
	}()
	return sub.events, sub.errs
}

func (e *ContainerEngine) unsubscribe(sub subscription) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.subs = slices.DeleteFunc(e.subs, func(s subscription) bool { return s.events == sub.events })
}

// BreakEvents breaks every open event stream, as a dockerd restart does:
// each yields an error, and events that follow reach only streams opened
// after it.
func (e *ContainerEngine) BreakEvents() {
	e.mu.Lock()
	subs := e.subs
	e.subs = nil
	e.mu.Unlock()
	for _, s := range subs {
		s.errs <- errors.New("fake engine: the event stream broke")
	}
}

// kill is the kill event of signal to c, which Docker reports with the
// signal's number among the attributes; e.mu is held.
func (e *ContainerEngine) kill(c *Container, signal int) docker.Event {
	ev := e.event(c, "kill")
	ev.Labels["signal"] = strconv.Itoa(signal)
	return ev
}

// Signal sends signal to a running container, as docker kill -s does,
// and reports the kill event. The fake's processes ignore signals: it
// runs on (Crash is a signal that ends it).
func (e *ContainerEngine) Signal(id string, signal int) error {
	e.mu.Lock()
	c, ok := e.containers[id]
	if !ok {
		e.mu.Unlock()
		return notFound("container", id)
	}
	if !c.Running {
		e.mu.Unlock()
		return fmt.Errorf("fake engine: container %s is not running", c.Name)
	}
	ev := e.kill(c, signal)
	e.mu.Unlock()
	e.publish(ev)
	return nil
}

// event describes what happened to c; e.mu is held. Docker reports events
// of this Berth's app containers only (docker.Client.Events filters on
// berth.app and the instance ID).
func (e *ContainerEngine) event(c *Container, action string) docker.Event {
	return docker.Event{ContainerID: c.ID, Action: action, Labels: mergeLabels(nil, c.Labels)}
}

func (e *ContainerEngine) publish(ev docker.Event) {
	if _, ok := ev.Labels[docker.LabelApp]; !ok {
		return
	}
	e.mu.Lock()
	if !docker.OwnedBy(e.instance, e.legacy, ev.ContainerID, ev.Labels) {
		e.mu.Unlock()
		return
	}
	subs := slices.Clone(e.subs)
	e.mu.Unlock()
	for _, sub := range subs {
		select {
		case sub.events <- ev:
		default: // a subscriber that does not read loses events, as with Docker
		}
	}
}
