package tests

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// privateEngine is a dockerd of one script, which the script stops and
// starts again (a reboot, as far as containers are concerned), beside the
// engine the rest of the suite uses. Its address ranges are its own: the
// network pool BERTH_TEST_DOCKERD_POOL (default 172.30.0.0/16) and the
// default bridge BERTH_TEST_DOCKERD_BRIDGE (default 172.31.250.1/24), so
// that it meets neither the machine's engine nor the suite's; only one
// script at a time may use it. It runs without iptables rules, as
// ../shared/fresh-dockerd.sh's does, and without live-restore: stopping it
// stops every container.
type privateEngine struct {
	dir, sock, bridge, pool, bridgeAddr string
	cmd                                 *exec.Cmd
	exited                              chan struct{}
	// networkBridges are the Linux bridges of the engine's networks,
	// listed each time it is stopped: dockerd leaves them behind, with
	// their routes, which would keep their addresses from every later
	// engine on the machine. tearDown removes them, except any that
	// was there before the engine (docker_gwbridge of the machine's own
	// engine, were it a swarm node: dockerd would take it as its own).
	networkBridges []string
	linksBefore    map[string]bool
}

type privateEngineKey struct{}

// cmdPrivateDockerd runs the script's private engine:
//
//	privdockerd start    start it (the first time: set it up, load the
//	                     suite's base image into it, and point the script's
//	                     DOCKER_HOST and PRIVATE_DOCKER_HOST at it)
//	privdockerd stop     stop it (SIGTERM: it stops its containers)
//	privdockerd restart  stop, then start with the same data
//	privdockerd swarm    make it a single-node swarm's manager, advertised
//	                     on its own bridge's address (scheduler_swarm: swarm
//	                     mode on the suite's engine would disturb every
//	                     other script)
func cmdPrivateDockerd(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: privdockerd start|stop|restart|swarm")
	}
	e, _ := ts.Value(privateEngineKey{}).(*privateEngine)
	if e == nil {
		ts.Fatalf("privdockerd: no private engine (setup makes one per script)")
	}
	switch args[0] {
	case "start":
		ts.Check(e.start(ts))
	case "stop":
		ts.Check(e.stop())
	case "restart":
		ts.Check(e.stop())
		ts.Check(e.start(ts))
	case "swarm":
		ip, _, _ := strings.Cut(e.bridgeAddr, "/")
		// Swarm mode makes a host bridge of a fixed name, which outlives
		// dockerd: it goes with the script, unless it was there before.
		if exec.Command("ip", "link", "show", "docker_gwbridge").Run() != nil {
			ts.Defer(func() { exec.Command("ip", "link", "del", "docker_gwbridge").Run() })
		}
		init := exec.Command("docker", "swarm", "init", "--advertise-addr", ip, "--listen-addr", ip+":2377")
		init.Env = e.env()
		if out, err := init.CombinedOutput(); err != nil {
			ts.Fatalf("privdockerd swarm: %v: %s", err, out)
		}
	default:
		ts.Fatalf("privdockerd: unknown subcommand %q", args[0])
	}
}

func envOr(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func (e *privateEngine) env() []string {
	return append(os.Environ(), "DOCKER_HOST=unix://"+e.sock)
}

func (e *privateEngine) start(ts *testscript.TestScript) error {
	if e.cmd != nil {
		return fmt.Errorf("privdockerd: already running")
	}
	first := e.dir == ""
	if first {
		if err := e.setUp(ts); err != nil {
			return err
		}
	}
	cmd := exec.Command("dockerd", "--data-root", filepath.Join(e.dir, "data"), "--exec-root", filepath.Join(e.dir, "exec"),
		"--pidfile", filepath.Join(e.dir, "dockerd.pid"), "-H", "unix://"+e.sock, "--bridge", e.bridge,
		"--iptables=false", "--ip-masq=false", "--default-address-pool", "base="+e.pool+",size=24")
	logf, err := os.OpenFile(filepath.Join(e.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("privdockerd: %w", err)
	}
	e.cmd, e.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(e.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info := exec.Command("docker", "info")
		info.Env = e.env()
		if info.Run() == nil {
			break
		}
		select {
		case <-e.exited:
			return fmt.Errorf("privdockerd: dockerd exited; its log:\n%s", e.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("privdockerd: dockerd did not answer within 60s; its log:\n%s", e.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}
	if first {
		// The suite's base image, from the suite's engine.
		load := exec.Command("docker", "load")
		load.Env = e.env()
		if err := berthtest.Pipe(exec.Command("docker", "save", BaseImage), load); err != nil {
			return fmt.Errorf("privdockerd: copy %s from the suite's engine: %w", BaseImage, err)
		}
		ts.Setenv("DOCKER_HOST", "unix://"+e.sock)
		ts.Setenv("PRIVATE_DOCKER_HOST", "unix://"+e.sock)
	}
	return nil
}

// setUp makes the engine's directory, default bridge and forwarding rules;
// tearDown undoes them.
func (e *privateEngine) setUp(ts *testscript.TestScript) error {
	if _, err := exec.LookPath("dockerd"); err != nil {
		return fmt.Errorf("privdockerd: dockerd is required (apt-get install docker.io): %w", err)
	}
	// Short: the socket's path must fit a unix socket address.
	dir, err := os.MkdirTemp("", "berth-pd-")
	if err != nil {
		return err
	}
	e.dir, e.sock = dir, filepath.Join(dir, "docker.sock")
	e.pool = envOr("BERTH_TEST_DOCKERD_POOL", "172.30.0.0/16")
	e.bridgeAddr = envOr("BERTH_TEST_DOCKERD_BRIDGE", "172.31.250.1/24")
	e.bridge = fmt.Sprintf("brtpd%d", os.Getpid()%1000000)
	links, err := net.Interfaces()
	if err != nil {
		return fmt.Errorf("privdockerd: listing the network interfaces: %w", err)
	}
	e.linksBefore = map[string]bool{}
	for _, l := range links {
		e.linksBefore[l.Name] = true
	}
	ts.Defer(e.tearDown)
	for _, args := range [][]string{
		// A MAC address of its own, as Docker gives the bridges it makes:
		// left to the kernel, a bridge takes its lowest port's, which
		// changes as containers come and go, and the containers' cached
		// address of their gateway goes stale (replies to the host stall
		// for up to 30 s: scheduler_swarm's tasks are on this bridge).
		{"link", "add", e.bridge, "address", "02:42:ac:1f:fa:01", "type", "bridge"},
		{"addr", "add", e.bridgeAddr, "dev", e.bridge},
		{"link", "set", e.bridge, "up"},
	} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			return fmt.Errorf("privdockerd: ip %s: %v: %s (the suite runs as root)", strings.Join(args, " "), err, out)
		}
	}
	e.firewall("-I")
	return nil
}

// firewall lets the engine's networks forward (the machine's engine may
// have set the FORWARD policy to DROP), as pdockerd.sh does.
func (e *privateEngine) firewall(op string) {
	for _, net := range []string{e.pool, e.bridgeAddr} {
		exec.Command("iptables", op, "FORWARD", "-s", net, "-j", "ACCEPT").Run()
		exec.Command("iptables", op, "FORWARD", "-d", net, "-j", "ACCEPT").Run()
	}
}

func (e *privateEngine) stop() error {
	if e.cmd == nil {
		return fmt.Errorf("privdockerd: not running")
	}
	e.listNetworkBridges()
	e.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-e.exited:
	case <-time.After(90 * time.Second):
		syscall.Kill(-e.cmd.Process.Pid, syscall.SIGKILL)
		<-e.exited
		e.cmd = nil
		return fmt.Errorf("privdockerd: dockerd did not stop within 90s; killed")
	}
	e.cmd = nil
	return nil
}

func (e *privateEngine) tearDown() {
	if e.cmd != nil {
		e.stop()
	}
	exec.Command("ip", "link", "del", e.bridge).Run()
	for _, br := range e.networkBridges {
		if !e.linksBefore[br] {
			exec.Command("ip", "link", "del", br).Run()
		}
	}
	e.firewall("-D")
	exec.Command("umount", "-R", filepath.Join(e.dir, "data"), filepath.Join(e.dir, "exec")).Run()
	os.RemoveAll(e.dir)
}

// listNetworkBridges adds the bridges of the running engine's bridge
// networks (docker_gwbridge included) to networkBridges: a network's
// bridge is named by its com.docker.network.bridge.name option, or else
// br- and the first 12 characters of its ID.
func (e *privateEngine) listNetworkBridges() {
	ls := exec.Command("docker", "network", "ls", "-q", "--no-trunc", "--filter", "driver=bridge")
	ls.Env = e.env()
	ids, err := ls.Output()
	if err != nil || len(strings.Fields(string(ids))) == 0 {
		return
	}
	inspect := exec.Command("docker", append([]string{"network", "inspect", "--format",
		`{{.Id}} {{with index .Options "com.docker.network.bridge.name"}}{{.}}{{end}}`}, strings.Fields(string(ids))...)...)
	inspect.Env = e.env()
	out, err := inspect.Output()
	if err != nil {
		return
	}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		switch {
		case len(f) == 2:
			e.networkBridges = append(e.networkBridges, f[1])
		case len(f) == 1 && len(f[0]) >= 12:
			e.networkBridges = append(e.networkBridges, "br-"+f[0][:12])
		}
	}
	slices.Sort(e.networkBridges)
	e.networkBridges = slices.Compact(e.networkBridges)
}

func (e *privateEngine) logTail() string {
	data, _ := os.ReadFile(filepath.Join(e.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}
