package platform

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"time"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
)

// Deploy timings. They are variables so tests of the pipeline's logic can
// shorten them; Berth itself never changes them.
var (
	// ReadyTimeout bounds the wait for a new container to accept
	// connections on its port.
	ReadyTimeout = 60 * time.Second
	// ReadyUptime is how long a new container must stay up, without a
	// restart, after it first accepts a connection: a process that listens
	// and then crashes is caught before it takes traffic.
	ReadyUptime = time.Second
	// DrainDelay is how long an old container keeps running after the route
	// has moved away from it, so requests it is serving can finish.
	DrainDelay = time.Second
	// StopTimeout is how long a container has between SIGTERM and SIGKILL.
	StopTimeout = 10 * time.Second
)

// DefaultPort is the container port of an image that exposes none
// (Dokku's rule); the container's PORT variable says it either way.
const DefaultPort = 5000

// DeployRequest is one deploy.
type DeployRequest struct {
	App    string
	Source builder.Source
	// GitRev is the pushed commit, given to the app as GIT_REV.
	GitRev string
	// Reason says what made the release ("push", ...).
	Reason string
	// Branch, when the app has no deploy branch yet, becomes it once this
	// deploy succeeds.
	Branch string
	// Log receives the build log and progress for the person deploying.
	Log io.Writer
}

// Deploy builds the source, runs the new release beside the old one, moves
// the route to it once it accepts connections, and then retires the old
// containers. On any failure the new container and image are removed and
// the previous release keeps serving; the error says why, with the failing
// container's last log lines when there are some.
func (p *Platform) Deploy(ctx context.Context, req DeployRequest) (Release, error) {
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	unlock, err := p.lock(req.App, "a deploy")
	if err != nil {
		return Release{}, err
	}
	defer unlock()
	a, err := loadApp(ctx, p.store, req.App)
	if err != nil {
		return Release{}, err
	}
	version := a.NextVersion()
	rel := Release{
		Version:   version,
		Image:     fmt.Sprintf("berth/%s:v%d", a.Name, version),
		GitRev:    req.GitRev,
		Reason:    req.Reason,
		CreatedAt: time.Now().UTC(),
	}
	started := time.Now()
	fmt.Fprintf(log, "-----> Building %s (%s) as release v%d\n", a.Name, req.Source.Describe(), version)
	rel.ImageID, err = builder.Build(ctx, p.docker, builder.Request{
		Source: req.Source,
		Tag:    rel.Image,
		Log:    log,
	})
	if err != nil {
		p.log.Warn("build failed", "app", a.Name, "release", version, "error", err)
		return Release{}, fmt.Errorf("build of %s failed: %w", a.Name, err)
	}
	// From here on a failure must leave nothing behind.
	cleanup := context.WithoutCancel(ctx)
	keepImage := false
	defer func() {
		if !keepImage {
			p.docker.RemoveImage(cleanup, rel.Image)
		}
	}()

	port, ok, err := p.docker.ExposedPort(ctx, rel.Image)
	if err != nil {
		return Release{}, err
	}
	if !ok {
		port = DefaultPort
	}
	rel.Port = port

	fmt.Fprintf(log, "-----> Starting web.1 of v%d (PORT=%d)\n", version, port)
	finalName := a.Name + ".web.1"
	id, err := p.docker.Run(ctx, docker.RunSpec{
		// A temporary name: the old release's container holds the final one
		// until it retires.
		Name:  fmt.Sprintf("%s.v%d", finalName, version),
		Image: rel.Image,
		Env: []string{
			"PORT=" + strconv.Itoa(port),
			"DYNO=web.1",
			"GIT_REV=" + req.GitRev,
		},
		Labels: map[string]string{
			docker.LabelApp:     a.Name,
			docker.LabelProcess: "web",
			docker.LabelRelease: strconv.Itoa(version),
			docker.LabelPort:    strconv.Itoa(port),
		},
		RestartPolicy: "on-failure",
		MaxRetries:    10,
		StopTimeout:   StopTimeout,
	})
	if err != nil {
		return Release{}, err
	}
	if err := p.waitReady(ctx, id, port, log); err != nil {
		p.docker.Remove(cleanup, id)
		return Release{}, fmt.Errorf("release v%d of %s did not start: %w", version, a.Name, err)
	}

	// The new container is ready: record the release, then move the route.
	// Recording first means a crash here restarts into the new release,
	// whose container is running; the old one is cleaned up on start.
	previous := a.Current
	a.Releases = append(a.Releases, rel)
	a.Current = version
	if a.DeployBranch == "" {
		a.DeployBranch = req.Branch
	}
	if err := saveApp(cleanup, p.store, a); err != nil {
		p.docker.Remove(cleanup, id)
		return Release{}, err
	}
	keepImage = true
	if err := p.refresh(cleanup, a.Name); err != nil {
		p.log.Warn("route switch", "app", a.Name, "error", err)
	}
	fmt.Fprintf(log, "-----> v%d of %s is serving on %s\n", version, a.Name, strings.Join(p.hostsFor(a.Name), ", "))

	if previous != 0 {
		fmt.Fprintf(log, "-----> Retiring v%d\n", previous)
	}
	if err := p.retireOthers(cleanup, a.Name, version); err != nil {
		p.log.Warn("retire old containers", "app", a.Name, "error", err)
		fmt.Fprintf(log, " !     could not remove the old containers: %v\n", err)
	}
	if err := p.docker.Rename(cleanup, id, finalName); err != nil {
		p.log.Warn("rename container", "app", a.Name, "error", err)
	}
	p.log.Info("deployed", "app", a.Name, "release", version, "git_rev", req.GitRev, "duration", time.Since(started).Round(time.Millisecond))
	fmt.Fprintf(log, "=====> Deployed %s v%d in %s\n", a.Name, version, time.Since(started).Round(100*time.Millisecond))
	return rel, nil
}

// retireOthers stops and removes every container of app that is not of
// release keep, after DrainDelay.
func (p *Platform) retireOthers(ctx context.Context, app string, keep int) error {
	old, err := p.containersExcept(ctx, app, keep)
	if err != nil || len(old) == 0 {
		return err
	}
	time.Sleep(DrainDelay)
	var errs []error
	for _, id := range old {
		if err := p.docker.Stop(ctx, id, StopTimeout); err != nil {
			errs = append(errs, err)
		}
		if err := p.docker.Remove(ctx, id); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// removeContainersExcept removes, at once, every container of app that is
// not of release keep.
func (p *Platform) removeContainersExcept(ctx context.Context, app string, keep int) error {
	ids, err := p.containersExcept(ctx, app, keep)
	if err != nil {
		return err
	}
	for _, id := range ids {
		p.log.Info("removing a container of a release that is not current", "app", app, "container", id)
		if err := p.docker.Remove(ctx, id); err != nil {
			return err
		}
	}
	return nil
}

// containersExcept lists app's containers whose release is not keep.
func (p *Platform) containersExcept(ctx context.Context, app string, keep int) ([]string, error) {
	ids, err := p.docker.List(ctx, docker.LabelApp+"="+app)
	if err != nil {
		return nil, err
	}
	var out []string
	for _, id := range ids {
		c, err := p.docker.Inspect(ctx, id)
		if docker.IsNotFound(err) {
			continue
		}
		if err != nil {
			return nil, err
		}
		if c.Labels[docker.LabelRelease] != strconv.Itoa(keep) {
			out = append(out, id)
		}
	}
	return out, nil
}

// waitReady waits until the container accepts TCP connections on port and
// then stays up for ReadyUptime without restarting.
func (p *Platform) waitReady(ctx context.Context, id string, port int, log io.Writer) error {
	ctx, cancel := context.WithTimeout(ctx, ReadyTimeout)
	defer cancel()
	var listeningSince time.Time
	for {
		c, err := p.docker.Inspect(ctx, id)
		if err != nil {
			return err
		}
		if !c.Running || c.Restarting || c.RestartCount > 0 {
			return p.exitError(id, c)
		}
		if listeningSince.IsZero() && c.IP.IsValid() {
			addr := net.JoinHostPort(c.IP.String(), strconv.Itoa(port))
			if conn, err := (&net.Dialer{Timeout: 500 * time.Millisecond}).DialContext(ctx, "tcp", addr); err == nil {
				conn.Close()
				listeningSince = time.Now()
				fmt.Fprintf(log, "       web.1 accepts connections on port %d\n", port)
			}
		}
		if !listeningSince.IsZero() && time.Since(listeningSince) >= ReadyUptime {
			return nil
		}
		select {
		case <-ctx.Done():
			if errors.Is(ctx.Err(), context.DeadlineExceeded) {
				return fmt.Errorf("the container did not accept connections on port %d within %s: make the app listen on $PORT (or EXPOSE the port it uses)%s",
					port, ReadyTimeout, p.lastLogs(id))
			}
			return ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
	}
}

func (p *Platform) exitError(id string, c docker.Container) error {
	state := fmt.Sprintf("exited with code %d", c.ExitCode)
	if c.Running || c.Restarting {
		state = fmt.Sprintf("exited with code %d and is being restarted", c.ExitCode)
	}
	return fmt.Errorf("the container %s%s", state, p.lastLogs(id))
}

// lastLogs returns the container's last output lines for an error message.
func (p *Platform) lastLogs(id string) string {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	out, err := p.docker.Logs(ctx, id, 20)
	out = strings.TrimRight(out, "\n")
	if err != nil || out == "" {
		return "; it wrote no output"
	}
	return "; its last output:\n" + out
}
