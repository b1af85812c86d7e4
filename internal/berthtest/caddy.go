package berthtest

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"time"
)

// Caddy is one caddy process under test or under measure. Its files live
// in Dir: the log (caddy.log, appended across restarts) and HOME, so
// Caddy's data (certificates, its local CA) and config stay per instance
// and a restart finds what the previous run left, as on a real host.
type Caddy struct {
	Bin    string // the caddy binary (BuildCaddy)
	Dir    string
	Config string // the config file
	// Adapter is passed as --adapter when set; "" lets caddy choose from
	// the file name (a file named Caddyfile is a Caddyfile).
	Adapter string
	// Env is more of the process's environment, NAME=VALUE: what a
	// config reads with {$NAME} (the shipped default Caddyfile's ports).
	Env []string
	// Ports must all accept connections before Start returns: the HTTP
	// port alone is not enough for Berth, whose SSH server starts beside.
	Ports []int
	// StartLimit bounds the wait for Ports (default 60s); PollEvery is
	// how often Start tries them (default 50ms). The benchmark polls
	// every few milliseconds, because it measures how long start takes.
	StartLimit, PollEvery time.Duration

	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time
}

// LogPath is the file caddy's stdout and stderr go to.
func (c *Caddy) LogPath() string { return filepath.Join(c.Dir, "caddy.log") }

// LogTail returns the last n lines of caddy's log.
func (c *Caddy) LogTail(n int) string { return LogTail(c.LogPath(), n) }

// Running reports whether Start started the process and Stop has not
// reaped it (it may have exited by itself).
func (c *Caddy) Running() bool { return c.cmd != nil }

// Pid is the process's ID, or 0 when it does not run.
func (c *Caddy) Pid() int {
	if c.cmd == nil {
		return 0
	}
	return c.cmd.Process.Pid
}

// Started is the time just before the process was last started: start-up
// times are measured from it.
func (c *Caddy) Started() time.Time { return c.started }

// Exited is closed when the process exits.
func (c *Caddy) Exited() <-chan struct{} { return c.exited }

// Start runs `caddy run` and waits until every port in Ports accepts a
// connection. It returns how long that took from just before the process
// started. If caddy exits or the ports stay closed, the error carries the
// end of its log, which says why.
func (c *Caddy) Start() (time.Duration, error) {
	if c.cmd != nil {
		return 0, errors.New("caddy already runs")
	}
	if err := os.MkdirAll(c.Dir, 0o700); err != nil {
		return 0, err
	}
	logFile, err := os.OpenFile(c.LogPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	args := []string{"run", "--config", c.Config}
	if c.Adapter != "" {
		args = append(args, "--adapter", c.Adapter)
	}
	cmd := exec.Command(c.Bin, args...)
	cmd.Dir = c.Dir
	home := filepath.Join(c.Dir, "home")
	cmd.Env = append(os.Environ(),
		"HOME="+home,
		"XDG_DATA_HOME="+filepath.Join(home, "data"),
		"XDG_CONFIG_HOME="+filepath.Join(home, "config"),
	)
	cmd.Env = append(cmd.Env, c.Env...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test or benchmark dies before its clean-up runs, caddy dies
	// with it rather than watching Docker on behalf of a finished run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	c.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return 0, err
	}
	c.cmd = cmd
	exited := make(chan struct{})
	c.exited = exited
	go func() {
		cmd.Wait()
		logFile.Close()
		close(exited)
	}()
	limit, every := c.StartLimit, c.PollEvery
	if limit == 0 {
		limit = 60 * time.Second
	}
	if every == 0 {
		every = 50 * time.Millisecond
	}
	deadline := c.started.Add(limit)
	for _, port := range c.Ports {
		for {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-exited:
				c.cmd = nil // reaped: a new Start may try again
				return 0, fmt.Errorf("caddy exited during start; its log:\n%s", c.LogTail(40))
			case <-time.After(every):
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("caddy did not listen on port %d within %s; its log:\n%s", port, limit, c.LogTail(40))
			}
		}
	}
	return time.Since(c.started), nil
}

// Stop sends sig (SIGTERM to stop gracefully, SIGKILL to crash it) and
// waits for the process to exit. After limit it kills it and says so: a
// Berth that does not stop on SIGTERM is a bug the caller should see.
// Stop on a process that does not run does nothing.
func (c *Caddy) Stop(sig os.Signal, limit time.Duration) error {
	if c.cmd == nil {
		return nil
	}
	defer func() { c.cmd = nil }()
	c.cmd.Process.Signal(sig)
	select {
	case <-c.exited:
		return nil
	case <-time.After(limit):
		c.cmd.Process.Kill()
		<-c.exited
		return fmt.Errorf("caddy did not stop within %s of %v", limit, sig)
	}
}

// Reload runs `caddy reload --force` with the config file against the
// admin endpoint at admin (host:port): --force, because a reload of an
// unchanged file is what tests of a reload want. With admin "", caddy
// finds the endpoint in the config file, as a user's `caddy reload` does
// (the only way to reach an admin unix socket, whose mode is part of
// the address).
func (c *Caddy) Reload(admin string) error {
	args := []string{"reload", "--config", c.Config}
	if c.Adapter != "" {
		args = append(args, "--adapter", c.Adapter)
	}
	if admin != "" {
		args = append(args, "--address", admin)
	}
	args = append(args, "--force")
	var out bytes.Buffer
	cmd := exec.Command(c.Bin, args...)
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("caddy reload: %v\n%s", err, out.String())
	}
	return nil
}
