package main

import (
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"

	"github.com/berth-paas/berth/internal/berthtest"
	"github.com/berth-paas/berth/platform"
	"github.com/berth-paas/berth/store"
)

// Names and labels of what the benchmark makes in Docker. Every container
// it creates carries labelBench, so a run that was killed can be cleaned
// up by the next one.
const (
	labelBench   = "berth.bench"
	httpdImage   = "berth-bench/httpd"
	streamImage  = "berth-bench/streamapp"
	berthNetwork = "berth" // docker.DefaultNetwork: where Berth dials apps
	benchDomain  = "bench.test"
)

// env is what every benchmark shares: the binaries, the Docker client,
// the temporary directory, and the list of things to undo.
// benchSubnet is -subnet: the subnet of Berth's network when the bench
// creates it ("" lets the engine pick).
var benchSubnet string

type env struct {
	root     string // the module's root directory
	tmp      string // this run's temporary directory
	caddyBin string
	dc       *client.Client
	runID    string
	quick    bool
	adminKey string // private key that may push to every Berth the benchmark runs
	adminPub string
	// sshConfig is the OpenSSH client config every ssh and git push of
	// the run uses (-F): the admin key, no host key checks (every Berth
	// and sshd of a run is new, with a new host key).
	sshConfig string
	// ports hands out every port of the run, never one twice: a port
	// found free by listening and closing can come back from the kernel.
	ports berthtest.Ports

	mu       sync.Mutex
	cleanups []cleanup
}

type cleanup struct {
	what string
	fn   func()
}

// defer registers fn to run at the end of the run (or on failure, or on
// SIGINT/SIGTERM), last registered first.
func (e *env) defer_(what string, fn func()) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.cleanups = append(e.cleanups, cleanup{what, fn})
}

// cleanUp runs every registered cleanup once.
func (e *env) cleanUp() {
	e.mu.Lock()
	cs := e.cleanups
	e.cleanups = nil
	e.mu.Unlock()
	for i := len(cs) - 1; i >= 0; i-- {
		progress("cleanup: %s", cs[i].what)
		cs[i].fn()
	}
}

func progress(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "[%s] %s\n", time.Now().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func newEnv(quick bool) (*env, error) {
	root, err := berthtest.ModuleRoot()
	if err != nil {
		return nil, err
	}
	e := &env{root: root, quick: quick, runID: strconv.FormatInt(time.Now().Unix(), 36)}
	if err := e.lock(); err != nil {
		return nil, err
	}
	e.tmp, err = os.MkdirTemp("", "berth-bench-")
	if err != nil {
		return nil, err
	}
	e.defer_("remove "+e.tmp, func() { os.RemoveAll(e.tmp) })
	return e, nil
}

// lockPath is where runs of the benchmark take turns: two at once would
// measure each other, and each removes what it takes for an earlier run's
// leftovers (containers labelled berth.bench, named APP.web.1).
var lockPath = filepath.Join(os.TempDir(), "berth-bench.lock")

// lock waits (at most 40 minutes) until no other run of the benchmark
// holds the lock, then holds it until the process exits.
func (e *env) lock() error {
	f, err := os.OpenFile(lockPath, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(40 * time.Minute)
	for said := false; ; {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return fmt.Errorf("lock %s: %w", lockPath, err)
		}
		if !said {
			holder, _ := os.ReadFile(lockPath)
			progress("another run of the benchmark (PID %s) is running; waiting for it to finish (%s)", strings.TrimSpace(string(holder)), lockPath)
			said = true
		}
		if time.Now().After(deadline) {
			f.Close()
			return fmt.Errorf("another run of the benchmark held %s for 40 minutes", lockPath)
		}
		time.Sleep(2 * time.Second)
	}
	f.Truncate(0)
	f.WriteAt([]byte(strconv.Itoa(os.Getpid())+"\n"), 0)
	// f stays open, and so locked, until the process exits.
	e.defer_("release "+lockPath, func() { f.Truncate(0); f.Close() })
	return nil
}

// setUpDocker connects to the engine, removes what an earlier, killed run
// left, and makes sure Berth's network exists.
func (e *env) setUpDocker(ctx context.Context) error {
	dc, err := client.New(client.FromEnv)
	if err != nil {
		return err
	}
	if _, err := dc.Ping(ctx, client.PingOptions{NegotiateAPIVersion: true}); err != nil {
		return fmt.Errorf("no Docker engine answers (start dockerd): %w", err)
	}
	e.dc = dc
	if n := e.removeLabelled(ctx, labelBench); n > 0 {
		progress("removed %d containers an earlier benchmark run left", n)
	}
	e.defer_("remove the benchmark's containers", func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
		defer cancel()
		e.removeLabelled(ctx, labelBench+"="+e.runID)
	})
	_, err = dc.NetworkInspect(ctx, berthNetwork, client.NetworkInspectOptions{})
	if cerrdefs.IsNotFound(err) {
		// The same network Berth creates (docker.EnsureNetwork).
		opts := client.NetworkCreateOptions{
			Driver: "bridge", Labels: map[string]string{"berth.managed": "true"},
		}
		if benchSubnet != "" {
			pfx, err := netip.ParsePrefix(benchSubnet)
			if err != nil {
				return fmt.Errorf("-subnet: %w", err)
			}
			opts.IPAM = &network.IPAM{Config: []network.IPAMConfig{{Subnet: pfx}}}
		}
		if _, err := dc.NetworkCreate(ctx, berthNetwork, opts); err != nil && !cerrdefs.IsConflict(err) {
			return err
		}
		e.defer_("remove network "+berthNetwork+" (if nothing else uses it)", func() {
			dc.NetworkRemove(context.Background(), berthNetwork, client.NetworkRemoveOptions{})
		})
	} else if err != nil {
		return err
	}
	return nil
}

// removeLabelled force-removes every container that has label, a few at
// a time, and says how many there were.
func (e *env) removeLabelled(ctx context.Context, label string) int {
	res, err := e.dc.ContainerList(ctx, client.ContainerListOptions{All: true, Filters: make(client.Filters).Add("label", label)})
	if err != nil {
		return 0
	}
	var ids []string
	for _, c := range res.Items {
		ids = append(ids, c.ID)
	}
	e.removeContainers(ctx, ids)
	return len(ids)
}

func (e *env) removeContainers(ctx context.Context, ids []string) {
	parallel(len(ids), 4, func(i int) error {
		if ids[i] == "" {
			return nil
		}
		_, err := e.dc.ContainerRemove(ctx, ids[i], client.ContainerRemoveOptions{Force: true})
		return err
	})
}

// parallel runs fn(0..n-1) on at most workers goroutines and returns the
// first error.
func parallel(n, workers int, fn func(i int) error) error {
	var (
		mu    sync.Mutex
		first error
		next  int
		wg    sync.WaitGroup
	)
	for w := 0; w < workers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				mu.Lock()
				i := next
				next++
				stop := first != nil
				mu.Unlock()
				if i >= n || stop {
					return
				}
				if err := fn(i); err != nil {
					mu.Lock()
					if first == nil {
						first = err
					}
					mu.Unlock()
				}
			}
		}()
	}
	wg.Wait()
	return first
}

// buildBinaries builds the caddy binary with Berth (as the end-to-end
// suite does, but without -race: the race detector would slow down what
// is measured several times over).
func (e *env) buildBinaries() error {
	e.caddyBin = filepath.Join(e.tmp, "caddy")
	progress("building caddy with Berth: go build -o %s ./cmd/caddy", e.caddyBin)
	return berthtest.BuildCaddy(e.root, e.caddyBin, false)
}

// setUpSSH makes the admin key that may push to every Berth of the run
// and the client config that offers it.
func (e *env) setUpSSH() error {
	var err error
	if e.adminKey, e.adminPub, err = berthtest.SSHKey(e.tmp, "bench_admin"); err != nil {
		return err
	}
	e.sshConfig = filepath.Join(e.tmp, "ssh_config")
	return berthtest.SSHClient{
		Identities: []berthtest.SSHIdentity{{Hosts: []string{"127.0.0.1"}, Key: e.adminKey}},
	}.Write(e.sshConfig)
}

// gitEnv is the environment of the run's git commands: a fixed identity,
// no user or system config, and ssh with the run's config.
func (e *env) gitEnv() []string {
	home := filepath.Join(e.tmp, "githome")
	os.MkdirAll(home, 0o700)
	env := append(os.Environ(), berthtest.GitEnv(home, "Berth Bench", "bench@berth.test")...)
	return append(env, "GIT_SSH_COMMAND="+berthtest.GitSSHCommand(e.sshConfig))
}

// makeImages imports the two app images. No registry is reachable, so,
// like the end-to-end suite, they are made from Debian's static busybox
// with `docker import`:
//
//   - httpd: busybox httpd on $PORT, serving $BODY (the app's name).
//     busybox httpd closes the connection after every response.
//   - streamapp: the Go program in bench/streamapp, with keep-alive.
func (e *env) makeImages(ctx context.Context) error {
	if err := berthtest.ImportBusybox(e.tmp, httpdImage,
		`ENV PATH=/bin`,
		`CMD ["/bin/sh", "-c", "mkdir -p /www && echo \"$BODY\" > /www/index.html && exec httpd -f -p $PORT -h /www"]`,
	); err != nil {
		return err
	}
	e.defer_("remove image "+httpdImage, func() { exec.Command("docker", "rmi", "-f", httpdImage).Run() })

	sroot := filepath.Join(e.tmp, "rootfs-stream")
	if err := os.MkdirAll(sroot, 0o755); err != nil {
		return err
	}
	progress("building bench/streamapp (static)")
	if err := berthtest.GoBuild(e.root, filepath.Join(sroot, "streamapp"), "./bench/streamapp", nil, "CGO_ENABLED=0"); err != nil {
		return err
	}
	if err := berthtest.DockerImport(sroot, streamImage, `CMD ["/streamapp"]`); err != nil {
		return err
	}
	e.defer_("remove image "+streamImage, func() { exec.Command("docker", "rmi", "-f", streamImage).Run() })
	return nil
}

// appSpec is an app the benchmark runs the way Berth runs a release.
type appSpec struct {
	Name  string
	Image string
	Port  int
}

var useInit = true

// runApp creates and starts app's web container as Berth's deploy does
// (platform.Deploy and docker.Run): name APP.web.1, Berth's labels, Docker's
// init, Berth's network, the same restart and log settings. The body the
// app serves is its name.
func (e *env) runApp(ctx context.Context, app appSpec) (string, error) {
	stop := 10
	created, err := e.dc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: app.Name + ".web.1",
		Config: &container.Config{
			Image: app.Image,
			Env:   []string{"PORT=" + strconv.Itoa(app.Port), "DYNO=web.1", "GIT_REV=bench", "BODY=" + app.Name},
			Labels: map[string]string{
				"berth.app":        app.Name,
				"berth.process":    "web",
				"berth.release":    "1",
				"berth.port":       strconv.Itoa(app.Port),
				"berth.generation": "1",
				"berth.index":      "1",
				// The benchmark's state directories name the run as
				// Berth's instance (writeInstance).
				"berth.instance": e.runID,
				labelBench:       e.runID,
			},
			StopTimeout: &stop,
		},
		HostConfig: &container.HostConfig{
			Init:          &useInit,
			NetworkMode:   container.NetworkMode(berthNetwork),
			RestartPolicy: container.RestartPolicy{Name: "on-failure", MaximumRetryCount: 10},
			LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
		},
		NetworkingConfig: &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{berthNetwork: {}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("create %s: %w", app.Name, err)
	}
	if _, err := e.dc.ContainerStart(ctx, created.ID, client.ContainerStartOptions{}); err != nil {
		return created.ID, fmt.Errorf("start %s: %w", app.Name, err)
	}
	return created.ID, nil
}

// runFiller starts a container on Berth's network that is not an app of
// any Berth: it takes the address a stopped app container had. With an
// empty body it only sleeps; otherwise it serves body with busybox httpd
// on port 5000, the port the benchmark's apps use.
func (e *env) runFiller(ctx context.Context, name, body string) (string, error) {
	cfg := &container.Config{
		Image:  httpdImage,
		Cmd:    []string{"sleep", "600"},
		Labels: map[string]string{labelBench: e.runID},
	}
	if body != "" {
		cfg.Cmd = nil
		cfg.Env = []string{"PORT=5000", "BODY=" + body}
	}
	created, err := e.dc.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name:       name,
		Config:     cfg,
		HostConfig: &container.HostConfig{NetworkMode: container.NetworkMode(berthNetwork), AutoRemove: false},
		NetworkingConfig: &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{berthNetwork: {}},
		},
	})
	if err != nil {
		return "", err
	}
	_, err = e.dc.ContainerStart(ctx, created.ID, client.ContainerStartOptions{})
	return created.ID, err
}

func (e *env) containerIP(ctx context.Context, id string) (netip.Addr, error) {
	res, err := e.dc.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return netip.Addr{}, err
	}
	if ns := res.Container.NetworkSettings; ns != nil {
		if ep, ok := ns.Networks[berthNetwork]; ok && ep != nil && ep.IPAddress.IsValid() {
			return ep.IPAddress, nil
		}
	}
	return netip.Addr{}, fmt.Errorf("container %s has no address on network %s", id, berthNetwork)
}

// listenOverflows reads TcpExt's ListenOverflows in the network namespace
// of container id's process: the connections its kernel dropped because
// the app's accept queue was full (busybox httpd listens with a backlog
// of 9). Counted since the container last started: each start gets a new
// namespace.
func (e *env) listenOverflows(ctx context.Context, id string) (int64, error) {
	res, err := e.dc.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return 0, err
	}
	if res.Container.State == nil || res.Container.State.Pid == 0 {
		return 0, fmt.Errorf("container %s is not running", id)
	}
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/netstat", res.Container.State.Pid))
	if err != nil {
		return 0, err
	}
	// Pairs of lines: "TcpExt: names..." then "TcpExt: values...".
	lines := strings.Split(string(data), "\n")
	for i := 0; i+1 < len(lines); i++ {
		names, values := strings.Fields(lines[i]), strings.Fields(lines[i+1])
		if len(names) == 0 || names[0] != "TcpExt:" || len(values) != len(names) || values[0] != "TcpExt:" {
			continue
		}
		for k, name := range names {
			if name == "ListenOverflows" {
				return strconv.ParseInt(values[k], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no TcpExt ListenOverflows in /proc/%d/net/netstat", res.Container.State.Pid)
}

// record is app's record (platform.App, the type Berth itself reads, so
// the two cannot drift) with one current release, as a first deploy
// leaves it: generation 1, formation web=1. Berth removes containers
// whose berth.generation label differs from the record's, so runApp
// labels them to match. An app with no image is registered only: it has
// no release and runs nothing.
func record(app appSpec) (*platform.App, error) {
	now := time.Now().UTC()
	rec := &platform.App{Name: app.Name, CreatedAt: now}
	if app.Image != "" {
		id, err := berthtest.ImageID(app.Image)
		if err != nil {
			return nil, err
		}
		rec.DeployBranch = "main"
		rec.Current, rec.Generation, rec.Formation = 1, 1, map[string]int{"web": 1}
		rec.Releases = []platform.Release{{
			Version: 1, Image: app.Image, ImageID: id, Port: app.Port,
			GitRev: "bench", Reason: "bench", CreatedAt: now,
		}}
	}
	return rec, nil
}

// writeRecord saves app's record into stateDir through Berth's store,
// before Berth starts on it.
func writeRecord(ctx context.Context, stateDir string, app appSpec) error {
	rec, err := record(app)
	if err != nil {
		return err
	}
	return berthtest.SeedApps(ctx, stateDir, rec)
}

// writeInstance makes the run's ID the instance ID of the Berth of
// stateDir (platform.Instance), so that Berth takes runApp's containers
// for its own, as it does the containers it makes.
func (e *env) writeInstance(ctx context.Context, stateDir string) error {
	return platform.SaveInstance(ctx, &store.Files{Dir: stateDir}, platform.Instance{ID: e.runID, Created: time.Now().UTC()})
}

// runApps writes the records of apps and starts their containers, a few
// at a time. It returns the container IDs in the order of apps.
func (e *env) runApps(ctx context.Context, stateDir string, apps []appSpec) ([]string, error) {
	if err := e.writeInstance(ctx, stateDir); err != nil {
		return nil, err
	}
	ids := make([]string, len(apps))
	err := parallel(len(apps), 4, func(i int) error {
		if err := writeRecord(ctx, stateDir, apps[i]); err != nil {
			return err
		}
		id, err := e.runApp(ctx, apps[i])
		ids[i] = id
		return err
	})
	return ids, err
}
