package dashboard

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"regexp"
	"strings"
	"sync"

	"github.com/berth-paas/berth/commands"
	"github.com/berth-paas/berth/platform"
)

// runner runs the command lines every page and action is made of, with a
// session's scope: a session made by a deploy key (or for one app) is
// held to exactly what that key may run over SSH (commands.Authorize,
// then the deploy key's limits).
type runner struct {
	mu      sync.Mutex
	backend *commands.Backend
	// exec runs a command line (commands.Exec; a fake in unit tests).
	exec func(ctx context.Context, b *commands.Backend, args []string, streams commands.IO) error
}

// setBackend sets the backend commands run on.
func (c *runner) setBackend(b *commands.Backend) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.backend = b
}

// cmdError is a command's failure, with what it wrote for people.
type cmdError struct {
	err error
	msg string
}

func (e *cmdError) Error() string { return e.msg }
func (e *cmdError) Unwrap() error { return e.err }

var bangPrefix = regexp.MustCompile(`(?m)^ !\s+`)

// run runs a command line with the session's scope and returns its
// output.
func (c *runner) run(ctx context.Context, s *session, args ...string) (string, error) {
	return c.runInput(ctx, s, "", args...)
}

// runInput is run with stdin (ssh-keys:add reads the key there).
func (c *runner) runInput(ctx context.Context, s *session, stdin string, args ...string) (string, error) {
	var out, errb bytes.Buffer
	err := c.stream(ctx, s, strings.NewReader(stdin), &out, &errb, args...)
	var refused *cmdError
	if err != nil && !errors.As(err, &refused) {
		msg := strings.TrimSpace(bangPrefix.ReplaceAllString(errb.String(), ""))
		if msg == "" {
			msg = err.Error()
		}
		err = &cmdError{err, msg}
	}
	return out.String(), err
}

// runJSON runs a command that prints JSON and decodes it into v.
func (c *runner) runJSON(ctx context.Context, s *session, v any, args ...string) error {
	out, err := c.run(ctx, s, args...)
	if err != nil {
		return err
	}
	return json.Unmarshal([]byte(out), v)
}

// stream runs a command with the session's scope, its output to stdout
// and stderr as it comes. It returns a *cmdError before the command runs
// if the scope forbids it, else the command's own error.
func (c *runner) stream(ctx context.Context, s *session, stdin io.Reader, stdout, stderr io.Writer, args ...string) error {
	if s.app != "" {
		if err := commands.Authorize(s.app, args); err != nil {
			return &cmdError{err, "Permission denied: " + err.Error()}
		}
		ctx = platform.AsDeployKey(ctx)
	}
	c.mu.Lock()
	b := c.backend
	c.mu.Unlock()
	return c.exec(ctx, b, args, commands.IO{Stdin: stdin, Stdout: stdout, Stderr: stderr})
}
