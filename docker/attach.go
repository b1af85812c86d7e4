package docker

import (
	"context"
	"fmt"
	"io"
	"time"

	"github.com/moby/moby/api/pkg/stdcopy"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/client"
)

// Streams are what an interactive command is attached to.
type Streams struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// TTY gives the command a terminal; its output then comes on Stdout
	// only, as a terminal's does.
	TTY bool
	// Size is the terminal's initial size, and Resize its later sizes.
	Size   [2]uint // width, height
	Resize <-chan [2]uint
}

// RunAttached runs spec's command in a new one-off container, attached
// to s, removes the container afterwards and returns the command's exit
// status. Of spec, Name (empty: Docker picks one), Image, Entrypoint,
// Cmd, Env, Labels and Host are used; a one-off restarts never.
func (c *ContainerAPI) RunAttached(ctx context.Context, spec RunSpec, s Streams) (int, error) {
	h := spec.Host
	cfg := &container.Config{
		Image: spec.Image, Entrypoint: spec.Entrypoint, Cmd: spec.Cmd, Env: spec.Env, Labels: c.stamp(spec.Labels),
		Tty: s.TTY, OpenStdin: true, StdinOnce: true,
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
	}
	mode, netcfg := c.createNetworking(h)
	hc := &container.HostConfig{
		Init:        &useInit,
		NetworkMode: mode,
		ConsoleSize: [2]uint{s.Size[1], s.Size[0]},
	}
	h.apply(cfg, hc)
	// Not cancelled with the session: a create that the session's end
	// cut off on the client's side may still complete in the engine, and
	// a container whose ID never came back could not be removed (a
	// one-off left behind for good, seen on a loaded engine). The
	// deferred removal below deals with a session that ended meanwhile.
	created, err := c.api.ContainerCreate(context.WithoutCancel(ctx), client.ContainerCreateOptions{Name: spec.Name, Config: cfg, HostConfig: hc, NetworkingConfig: netcfg})
	if err != nil {
		return 1, fmt.Errorf("docker: create one-off container: %w", err)
	}
	id := created.ID
	defer c.removeRetrying(context.WithoutCancel(ctx), id)
	if err := c.connectNetworks(ctx, id, h); err != nil {
		return 1, err
	}
	att, err := c.api.ContainerAttach(ctx, id, client.ContainerAttachOptions{Stream: true, Stdin: true, Stdout: true, Stderr: true})
	if err != nil {
		return 1, fmt.Errorf("docker: attach to one-off container: %w", err)
	}
	defer att.Close()
	wait := c.api.ContainerWait(ctx, id, client.ContainerWaitOptions{Condition: container.WaitConditionNextExit})
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return 1, fmt.Errorf("docker: start one-off container: %w", explainBridgeFull(err))
	}
	resize := func(size [2]uint) {
		c.api.ContainerResize(ctx, id, client.ContainerResizeOptions{Width: size[0], Height: size[1]})
	}
	if err := pump(ctx, att.HijackedResponse, s, resize); err != nil {
		return 1, err
	}
	select {
	case res := <-wait.Result:
		return int(res.StatusCode), nil
	case err := <-wait.Error:
		return 1, fmt.Errorf("docker: waiting for one-off container: %w", err)
	}
}

// removeRetrying removes a one-off container, trying again for up to
// about 30 seconds: a removal that races the container's start (the
// session ended while Docker was starting it) is refused until the start
// is through, which on a loaded engine took longer than the 5 seconds
// this once allowed, and the one-off must not outlive its session.
func (c *ContainerAPI) removeRetrying(ctx context.Context, id string) {
	wait := 100 * time.Millisecond
	for deadline := time.Now().Add(30 * time.Second); ; {
		if c.Remove(ctx, id) == nil || time.Now().After(deadline) {
			return
		}
		time.Sleep(wait)
		wait = min(2*wait, 2*time.Second)
	}
}

// ExecAttached runs cmd inside the running container id (docker exec),
// attached to s, and returns its exit status.
func (c *ContainerAPI) ExecAttached(ctx context.Context, id string, cmd, env []string, s Streams) (int, error) {
	size := client.ConsoleSize{Height: s.Size[1], Width: s.Size[0]}
	ex, err := c.api.ExecCreate(ctx, id, client.ExecCreateOptions{
		Cmd: cmd, Env: env, TTY: s.TTY, ConsoleSize: size,
		AttachStdin: true, AttachStdout: true, AttachStderr: true,
	})
	if err != nil {
		return 1, fmt.Errorf("docker: exec in %s: %w", id, err)
	}
	att, err := c.api.ExecAttach(ctx, ex.ID, client.ExecAttachOptions{TTY: s.TTY, ConsoleSize: size})
	if err != nil {
		return 1, fmt.Errorf("docker: attach to exec in %s: %w", id, err)
	}
	defer att.Close()
	resize := func(size [2]uint) {
		c.api.ExecResize(ctx, ex.ID, client.ExecResizeOptions{Width: size[0], Height: size[1]})
	}
	if err := pump(ctx, att.HijackedResponse, s, resize); err != nil {
		return 1, err
	}
	// The exec may be reported running for a moment after its output ends.
	for i := 0; i < 50; i++ {
		res, err := c.api.ExecInspect(ctx, ex.ID, client.ExecInspectOptions{})
		if err != nil {
			return 1, fmt.Errorf("docker: inspect exec: %w", err)
		}
		if !res.Running {
			return res.ExitCode, nil
		}
		time.Sleep(20 * time.Millisecond)
	}
	return 1, fmt.Errorf("docker: the exec in %s did not report its exit status", id)
}

// pump copies s.Stdin to the attached process (closing its stdin at EOF)
// and its output to s.Stdout and s.Stderr until the output ends.
func pump(ctx context.Context, h client.HijackedResponse, s Streams, resize func([2]uint)) error {
	// The hijacked connection does not watch ctx: close it when ctx ends
	// (the SSH session closed), or the copy below would wait for output
	// that may never come, keeping a one-off (`run APP sleep 1000`)
	// running and its caller stuck.
	stop := context.AfterFunc(ctx, func() { h.Close() })
	defer stop()
	if s.Resize != nil {
		go func() {
			for {
				select {
				case size, ok := <-s.Resize:
					if !ok {
						return
					}
					resize(size)
				case <-ctx.Done():
					return
				}
			}
		}()
	}
	if s.Stdin != nil {
		go func() {
			io.Copy(h.Conn, s.Stdin)
			// Closing a terminal's input ends Docker's attach stream, and
			// with it output not yet read; a terminal sends end-of-input
			// as a byte (Ctrl-D) anyway.
			if !s.TTY {
				h.CloseWrite()
			}
		}()
	}
	var err error
	if s.TTY {
		_, err = io.Copy(s.Stdout, h.Reader)
	} else {
		_, err = stdcopy.StdCopy(s.Stdout, s.Stderr, h.Reader)
	}
	if ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}
