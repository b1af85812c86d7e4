package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
	"github.com/rogpeppe/go-internal/testscript"
)

// swarmWorker is a second Docker engine of one script, joined to the
// script's private engine (privdockerd, a swarm manager) as a swarm
// worker: a second node on the same machine (issue 18's multi-node test).
// It runs in a network namespace of the harness's own making, with its
// own address on a veth pair whose other end is on the host, so that its
// tasks' host-mode ports are reached at that address, as a second server's
// would be. The namespace has a route to the manager's address and to
// nothing else: the worker contacts only addresses the test made (no
// default route, no DNS; a pull from anywhere but Berth's registry at the
// manager's address, swarmworker registry, fails at once).
//
// The engine and everything it starts (containerd, shims, the tasks) run
// in a cgroup of the harness's own (--cgroup-parent for the tasks), so
// that "swarmworker kill" can take the whole node down at once, as a
// server that dies would go, and clean-up leaves nothing behind.
type swarmWorker struct {
	id                 string // names the namespace, veth and cgroup
	dir, sock          string
	ns, hostIf, nsIf   string
	hostIP, workerIP   string
	cgroup             string // relative to each hierarchy: /berth-sw-ID
	cmd                *exec.Cmd
	exited             chan struct{}
	nodeID             string
	managerEnv         []string
	managerIP          string
	bridgeAddr         string // the worker's default bridge, inside its namespace
	registry           string // HOST:PORT of Berth's registry (swarmworker registry)
	cut                bool   // the partition's rules are in place
	cleanedUp, created bool
}

type swarmWorkerKey struct{}

// cmdSwarmWorker runs the script's swarm worker:
//
//	swarmworker start            make the namespace, the veth pair and the
//	                             worker's engine, and join it to the
//	                             private engine's swarm (privdockerd start
//	                             and privdockerd swarm first). Sets
//	                             WORKER_DOCKER_HOST, WORKER_ADDR (its
//	                             address, where its tasks' ports are
//	                             reached), WORKER_NODE (its node ID),
//	                             WORKER_ENGINE (its engine's TCP endpoint,
//	                             TLS with client certificates) and
//	                             WORKER_TLS_DIR (the client's ca.pem,
//	                             cert.pem, key.pem),
//	                             MANAGER_TASKS and WORKER_TASKS: regular
//	                             expressions of the addresses of each
//	                             node's tasks (its engine's bridge).
//	swarmworker registry         before berth start: Berth's registry at an
//	                             address both engines reach, the host's
//	                             on the manager's bridge (the only one the
//	                             worker's namespace has a route to), on a
//	                             port of the script's: a Caddy site of its
//	                             own bound there, with a certificate of
//	                             Caddy's local CA (tls internal), and the
//	                             berth option registry HOST:PORT. Sets
//	                             REGISTRY (HOST:PORT).
//	swarmworker trust            after berth start: both engines trust the
//	                             registry's certificate as a user's would,
//	                             Caddy's local CA root in
//	                             /etc/docker/certs.d/HOST:PORT/ca.crt (read
//	                             at each push and pull; removed at the
//	                             script's end).
//	swarmworker cut              drop every packet between the host and
//	                             the worker (iptables on the host's end of
//	                             the veth pair): the server is gone from
//	                             the network as a powered-off one is; a
//	                             connection to it hangs rather than being
//	                             refused.
//	swarmworker kill             SIGKILL the worker's engine and everything
//	                             it started (containerd, shims, tasks): the
//	                             node is lost as a server that dies is.
//	                             Its namespace stays (its kernel, as it
//	                             were, still answers: a closed port refuses).
//
// Clean-up (always, at the script's end): every process of the cgroup
// killed, the engine's mounts and directory removed, its cgroups, the veth
// pair and the namespace deleted.
func cmdSwarmWorker(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: swarmworker start|registry|trust|cut|kill")
	}
	w, _ := ts.Value(swarmWorkerKey{}).(*swarmWorker)
	if w == nil {
		ts.Fatalf("swarmworker: no worker state (setup makes one per script)")
	}
	switch args[0] {
	case "start":
		if w.created {
			ts.Fatalf("swarmworker: already started (one worker per script)")
		}
		e, _ := ts.Value(privateEngineKey{}).(*privateEngine)
		if e == nil || e.cmd == nil {
			ts.Fatalf("swarmworker: privdockerd start and privdockerd swarm first: the worker joins the private engine's swarm")
		}
		w.created = true
		ts.Defer(w.cleanUp)
		ts.Check(w.start(ts, e))
	case "registry":
		if !w.created || w.cmd == nil {
			ts.Fatalf("swarmworker registry: no running worker (swarmworker start)")
		}
		inst := ts.Value(instanceKey{}).(*instance)
		c := &inst.config
		if c.TLS != berthtest.PlainHTTP {
			ts.Fatalf("swarmworker registry: the script's Caddyfile serves HTTPS already (tls-internal or pebble start); the registry's own site is added to a plain-HTTP one")
		}
		var port int
		ts.Check(inst.ports.Take(&port))
		w.registry = net.JoinHostPort(w.managerIP, strconv.Itoa(port))
		// No redirects: Caddy would listen on port 80 for them. No trust
		// store: the machine's is not the test's (trust writes certs.d).
		c.Global = append(c.Global, "skip_install_trust", "auto_https disable_redirects")
		c.Extra += fmt.Sprintf("https://%s {\n\tbind %s\n\ttls internal\n\tberth\n}\n", w.registry, w.managerIP)
		c.Options = append(c.Options, "registry "+w.registry)
		ts.Check(inst.writeCaddyfile())
		ts.Setenv("REGISTRY", w.registry)
	case "trust":
		if w.registry == "" {
			ts.Fatalf("swarmworker trust: swarmworker registry and berth start first")
		}
		inst := ts.Value(instanceKey{}).(*instance)
		root, err := os.ReadFile(filepath.Join(inst.caddy.Dir, "home", "data", "caddy", "pki", "authorities", "local", "root.crt"))
		if err != nil {
			ts.Fatalf("swarmworker trust: Caddy's local CA root (berth start first): %v", err)
		}
		ts.Check(trustRegistry(ts, w.registry, root))
	case "cut":
		if !w.created || w.cmd == nil {
			ts.Fatalf("swarmworker cut: no running worker")
		}
		if w.cut {
			ts.Fatalf("swarmworker cut: the worker is cut off already")
		}
		// Marked first: clean-up deletes whichever rule went in, even
		// when the second insert fails.
		w.cut = true
		ts.Check(w.partition("-I"))
	case "kill":
		if !w.created || w.cmd == nil {
			ts.Fatalf("swarmworker kill: no running worker")
		}
		start := time.Now()
		ts.Check(w.killAll())
		<-w.exited
		w.cmd = nil
		ts.Logf("swarmworker: the worker's engine and tasks were killed in %s", time.Since(start).Round(time.Millisecond))
	default:
		ts.Fatalf("swarmworker: unknown subcommand %q", args[0])
	}
}

func (w *swarmWorker) env() []string {
	return append(os.Environ(), "DOCKER_HOST=unix://"+w.sock)
}

// workerNet is the /30 of the veth pair: the host's end takes the first
// address, the worker the second. BERTH_TEST_SWARM_WORKER_NET overrides
// it (a private range no other engine of the machine uses).
func workerNet() (host, worker string, err error) {
	n := envOr("BERTH_TEST_SWARM_WORKER_NET", "10.250.0.0/30")
	ip, ipnet, err := net.ParseCIDR(n)
	if err != nil || ip.To4() == nil {
		return "", "", fmt.Errorf("BERTH_TEST_SWARM_WORKER_NET %q: want an IPv4 /30 such as 10.250.0.0/30", n)
	}
	if ones, _ := ipnet.Mask.Size(); ones != 30 {
		return "", "", fmt.Errorf("BERTH_TEST_SWARM_WORKER_NET %q: want a /30", n)
	}
	b := ipnet.IP.To4()
	h := net.IPv4(b[0], b[1], b[2], b[3]+1)
	wk := net.IPv4(b[0], b[1], b[2], b[3]+2)
	return h.String(), wk.String(), nil
}

func runCmd(name string, args ...string) error {
	if out, err := exec.Command(name, args...).CombinedOutput(); err != nil {
		return fmt.Errorf("%s %s: %v: %s", name, strings.Join(args, " "), err, strings.TrimSpace(string(out)))
	}
	return nil
}

func (w *swarmWorker) start(ts *testscript.TestScript, e *privateEngine) error {
	for _, tool := range []string{"nsenter", "ip", "dockerd"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("swarmworker: %s is required: %w", tool, err)
		}
	}
	var err error
	if w.hostIP, w.workerIP, err = workerNet(); err != nil {
		return err
	}
	// Sets of runs that were killed (a timeout panic, SIGKILL) and so
	// never ran their clean-up; a live run's set is left alone.
	removeStaleWorkers(ts.Logf)
	// A leftover of a run that did not clean up (a suite timeout), or
	// another run at once, holds the address: the join would fail in a
	// way that does not say so.
	if addrs, err := net.InterfaceAddrs(); err == nil {
		for _, a := range addrs {
			if ipn, ok := a.(*net.IPNet); ok && (ipn.IP.String() == w.hostIP || ipn.IP.String() == w.workerIP) {
				return fmt.Errorf("swarmworker: %s is in use here (a worker of another run, or one left behind: ip link show; ip netns list); set BERTH_TEST_SWARM_WORKER_NET to a free /30", ipn.IP)
			}
		}
	}
	w.managerEnv = e.env()
	w.managerIP, _, _ = strings.Cut(e.bridgeAddr, "/")
	w.id = strconv.Itoa(os.Getpid() % 100000)
	w.ns = "berthsw" + w.id
	w.hostIf, w.nsIf = "bswh"+w.id, "bsww"+w.id
	w.cgroup = "/berth-sw-" + w.id
	if err := os.MkdirAll(swarmOwnerDir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(swarmOwnerDir, w.id), []byte(ownerRecord(os.Getpid())), 0o644); err != nil {
		return err
	}
	w.bridgeAddr = envOr("BERTH_TEST_SWARM_WORKER_BRIDGE", "172.31.251.1/24")
	// Short: the socket's path must fit a unix socket address.
	if w.dir, err = os.MkdirTemp("", "berth-sw-"); err != nil {
		return err
	}
	w.sock = filepath.Join(w.dir, "docker.sock")
	// The engine also listens on TCP at the worker's address, with TLS
	// (dockerd --tlsverify, certificates of the test's own CA): the
	// endpoint a node's owner opens for Berth's node-engine setting.
	serverTLS, clientTLS := filepath.Join(w.dir, "tls"), filepath.Join(w.dir, "client")
	if err := workerTLS(w.workerIP, serverTLS, clientTLS); err != nil {
		return fmt.Errorf("swarmworker: TLS files: %w", err)
	}

	// The node's network: a namespace, a veth pair, a route to the
	// manager's address only.
	nsx := func(args ...string) []string { return append([]string{"netns", "exec", w.ns, "ip"}, args...) }
	for _, args := range [][]string{
		{"netns", "add", w.ns},
		{"link", "add", w.hostIf, "type", "veth", "peer", "name", w.nsIf},
		{"link", "set", w.nsIf, "netns", w.ns},
		{"addr", "add", w.hostIP + "/30", "dev", w.hostIf},
		{"link", "set", w.hostIf, "up"},
		nsx("addr", "add", w.workerIP+"/30", "dev", w.nsIf),
		nsx("link", "set", w.nsIf, "up"),
		nsx("link", "set", "lo", "up"),
		nsx("route", "add", w.managerIP+"/32", "via", w.hostIP),
		// The host reaches the worker from the manager's address, the
		// one Swarm advertises, not the veth's own: the worker's overlay
		// (VXLAN) has static forwarding entries naming the manager's
		// address, and the kernel drops a VXLAN packet whose outer
		// source differs from a static entry's (it never moves one),
		// so replies from the datastores' overlay would never arrive.
		{"route", "replace", w.workerIP + "/32", "dev", w.hostIf, "src", w.managerIP},
	} {
		if err := runCmd("ip", args...); err != nil {
			return fmt.Errorf("swarmworker: %w (the suite runs as root)", err)
		}
	}
	// Nothing towards the worker is masqueraded: a host whose other rules
	// masquerade the manager's addresses (../shared/fresh-dockerd.sh
	// masquerades 172.30.0.0/15, which holds the manager's bridge, for
	// every other destination) would rewrite the VXLAN packets' outer
	// source to the veth's own address, and the worker's kernel drops
	// them as above: the datastores' overlay dead, everything else fine.
	if err := runCmd("iptables", w.noMasquerade("-I")...); err != nil {
		return fmt.Errorf("swarmworker: %w", err)
	}

	// The engine, in the namespace (nsenter --net only: ip netns exec
	// would also remount /sys, without the cgroup mounts dockerd needs)
	// and in the harness's cgroup, entered before exec so that every
	// process it starts is there too.
	track := trackingHierarchy()
	if track == "" {
		return fmt.Errorf("swarmworker: no cgroup hierarchy to follow the worker's processes in (neither cgroup v2 nor v1's pids)")
	}
	dir := filepath.Join(track, w.cgroup, "engine")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("swarmworker: making the cgroup %s: %w", dir, err)
	}
	script := "echo $$ > " + filepath.Join(dir, "cgroup.procs") + ` && exec "$@"`
	cmd := exec.Command("sh", []string{"-c", script, "sh", "nsenter", "--net=/var/run/netns/" + w.ns, "--",
		"dockerd", "--data-root", filepath.Join(w.dir, "data"), "--exec-root", filepath.Join(w.dir, "exec"),
		"--pidfile", filepath.Join(w.dir, "dockerd.pid"), "-H", "unix://" + w.sock,
		"-H", "tcp://" + w.workerIP + ":2376", "--tlsverify", "--tlscacert", filepath.Join(serverTLS, "ca.pem"),
		"--tlscert", filepath.Join(serverTLS, "server-cert.pem"), "--tlskey", filepath.Join(serverTLS, "server-key.pem"),
		// Its own bridge addresses, apart from the manager's (a task's
		// address says which node it is on), and no iptables rules:
		// host-mode ports go through docker-proxy, as on the manager.
		"--bip", w.bridgeAddr,
		"--default-address-pool", "base=" + envOr("BERTH_TEST_SWARM_WORKER_POOL", "172.29.0.0/16") + ",size=24",
		"--iptables=false", "--ip-masq=false", "--cgroup-parent", w.cgroup,
		// cgroupfs whatever the host runs: with systemd as PID 1 on
		// cgroup v2, dockerd would pick the systemd driver, which refuses a
		// parent that is no ".slice" (and would put the tasks outside the
		// harness's cgroup, where kill and clean-up would miss them).
		"--exec-opt", "native.cgroupdriver=cgroupfs"}...)
	logf, err := os.OpenFile(filepath.Join(w.dir, "dockerd.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logf.Close()
	cmd.Stdout, cmd.Stderr = logf, logf
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		return fmt.Errorf("swarmworker: %w", err)
	}
	w.cmd, w.exited = cmd, make(chan struct{})
	go func() { cmd.Wait(); close(w.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		info := exec.Command("docker", "info")
		info.Env = w.env()
		if info.Run() == nil {
			break
		}
		select {
		case <-w.exited:
			return fmt.Errorf("swarmworker: dockerd exited; its log:\n%s", w.logTail())
		default:
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("swarmworker: dockerd did not answer within 60s; its log:\n%s", w.logTail())
		}
		time.Sleep(200 * time.Millisecond)
	}

	// The join: a worker's token from the manager.
	tok := exec.Command("docker", "swarm", "join-token", "-q", "worker")
	tok.Env = w.managerEnv
	out, err := tok.Output()
	if err != nil {
		return fmt.Errorf("swarmworker: the manager's join token (privdockerd swarm first?): %v", err)
	}
	join := exec.Command("docker", "swarm", "join", "--token", strings.TrimSpace(string(out)),
		"--advertise-addr", w.workerIP, "--listen-addr", w.workerIP+":2377", w.managerIP+":2377")
	join.Env = w.env()
	if out, err := join.CombinedOutput(); err != nil {
		return fmt.Errorf("swarmworker: docker swarm join: %v: %s\ndockerd's log:\n%s", err, out, w.logTail())
	}
	id := exec.Command("docker", "info", "-f", "{{.Swarm.NodeID}}")
	id.Env = w.env()
	if out, err = id.Output(); err != nil {
		return fmt.Errorf("swarmworker: the worker's node ID: %v", err)
	}
	w.nodeID = strings.TrimSpace(string(out))
	// Ready on the manager's side before the script goes on.
	for deadline := time.Now().Add(60 * time.Second); ; {
		st := exec.Command("docker", "node", "inspect", "-f", "{{.Status.State}} {{.Status.Addr}}", w.nodeID)
		st.Env = w.managerEnv
		out, _ := st.Output()
		if strings.TrimSpace(string(out)) == "ready "+w.workerIP {
			break
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("swarmworker: the worker is not ready on the manager after 60s (%q)", strings.TrimSpace(string(out)))
		}
		time.Sleep(200 * time.Millisecond)
	}
	ts.Setenv("WORKER_DOCKER_HOST", "unix://"+w.sock)
	ts.Setenv("WORKER_ADDR", w.workerIP)
	ts.Setenv("WORKER_NODE", w.nodeID)
	ts.Setenv("WORKER_ENGINE", "tcp://"+w.workerIP+":2376")
	ts.Setenv("WORKER_TLS_DIR", clientTLS)
	// Which node a task is on, by its address: the default bridge of its
	// node's engine (both /24s), as regular expressions.
	ts.Setenv("MANAGER_TASKS", netPrefixRE(e.bridgeAddr))
	ts.Setenv("WORKER_TASKS", netPrefixRE(w.bridgeAddr))
	return nil
}

// netPrefixRE is a regular expression of the addresses of the /24 cidr
// (172.31.251.1/24: 172\.31\.251\.\d+).
func netPrefixRE(cidr string) string {
	ip, _, _ := strings.Cut(cidr, "/")
	parts := strings.Split(ip, ".")
	if len(parts) != 4 {
		return regexp.QuoteMeta(ip)
	}
	return strings.Join(parts[:3], `\.`) + `\.\d+`
}

// cgroupHierarchies are the mounted cgroup hierarchies' roots (cgroup v1:
// one per controller; v2: the one).
func cgroupHierarchies() []string {
	if _, err := os.Stat("/sys/fs/cgroup/cgroup.controllers"); err == nil {
		return []string{"/sys/fs/cgroup"}
	}
	var out []string
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// ... mountpoint(4) ... - fstype source options
		sep := slices.Index(fields, "-")
		if sep < 0 || sep+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[sep+1] == "cgroup" || fields[sep+1] == "cgroup2" {
			out = append(out, fields[4])
		}
	}
	return out
}

// trackingHierarchy is the cgroup hierarchy the worker's processes are
// followed in: v2's, else v1's pids controller (any would do, but not
// cpuset, which takes no process before its cpus are set).
func trackingHierarchy() string {
	for _, h := range cgroupHierarchies() {
		if h == "/sys/fs/cgroup" || filepath.Base(h) == "pids" {
			return h
		}
	}
	return ""
}

// pids are the processes in the worker's cgroup, at any depth.
func (w *swarmWorker) pids() []int {
	var out []int
	if h := trackingHierarchy(); h != "" {
		filepath.WalkDir(filepath.Join(h, w.cgroup), func(p string, d os.DirEntry, err error) error {
			if err != nil || d.IsDir() || d.Name() != "cgroup.procs" {
				return nil
			}
			data, _ := os.ReadFile(p)
			for _, f := range strings.Fields(string(data)) {
				if pid, err := strconv.Atoi(f); err == nil && !slices.Contains(out, pid) {
					out = append(out, pid)
				}
			}
			return nil
		})
	}
	return out
}

// killAll SIGKILLs every process of the worker's cgroup until none is
// left (a process being forked as the list was read shows up in the next).
func (w *swarmWorker) killAll() error {
	if w.cgroup == "" {
		return nil
	}
	for deadline := time.Now().Add(20 * time.Second); ; {
		pids := w.pids()
		if len(pids) == 0 {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("swarmworker: processes %v outlived 20s of SIGKILL", pids)
		}
		for _, pid := range pids {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// partition adds (-I) or deletes (-D) the rules that drop the traffic of
// the host's end of the veth pair, both ways. A delete tries every rule,
// whatever the others did (clean-up, after a cut that went half in).
func (w *swarmWorker) partition(op string) error {
	var first error
	for _, args := range [][]string{
		{op, "INPUT", "-i", w.hostIf, "-j", "DROP"},
		{op, "OUTPUT", "-o", w.hostIf, "-j", "DROP"},
	} {
		if err := runCmd("iptables", args...); err != nil && first == nil {
			first = fmt.Errorf("swarmworker: %w", err)
			if op != "-D" {
				return first
			}
		}
	}
	return first
}

// noMasquerade is the iptables rule, added (-I) or deleted (-D), that
// keeps the NAT table's POSTROUTING rules off packets to the worker.
func (w *swarmWorker) noMasquerade(op string) []string {
	return []string{"-t", "nat", op, "POSTROUTING", "-o", w.hostIf, "-j", "ACCEPT"}
}

func (w *swarmWorker) cleanUp() {
	if w.cleanedUp {
		return
	}
	w.cleanedUp = true
	if w.cut {
		w.partition("-D")
	}
	if err := w.killAll(); err != nil {
		fmt.Fprintln(os.Stderr, err)
	}
	if w.cmd != nil {
		select {
		case <-w.exited:
		case <-time.After(10 * time.Second):
		}
	}
	// The engine's mounts (overlay layers, the namespaces' bind mounts
	// under exec/netns), deepest first.
	if w.dir != "" {
		var mounts []string
		if data, err := os.ReadFile("/proc/self/mountinfo"); err == nil {
			for _, line := range strings.Split(string(data), "\n") {
				f := strings.Fields(line)
				if len(f) > 4 && (f[4] == w.dir || strings.HasPrefix(f[4], w.dir+"/")) {
					mounts = append(mounts, f[4])
				}
			}
		}
		slices.SortFunc(mounts, func(a, b string) int { return len(b) - len(a) })
		for _, m := range mounts {
			exec.Command("umount", "-l", m).Run()
		}
		os.RemoveAll(w.dir)
	}
	// The cgroups, deepest first; none before start named the worker's
	// (an empty name would walk the hierarchy's root: every cgroup of the
	// machine).
	for _, h := range cgroupHierarchies() {
		if w.cgroup == "" {
			break
		}
		var dirs []string
		filepath.WalkDir(filepath.Join(h, w.cgroup), func(p string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
		slices.SortFunc(dirs, func(a, b string) int { return len(b) - len(a) })
		for _, d := range dirs {
			os.Remove(d)
		}
	}
	if w.hostIf != "" {
		exec.Command("iptables", w.noMasquerade("-D")...).Run()
		exec.Command("ip", "link", "del", w.hostIf).Run()
	}
	if w.ns != "" {
		exec.Command("ip", "netns", "del", w.ns).Run()
		os.Remove(filepath.Join(swarmOwnerDir, w.id))
	}
}

func (w *swarmWorker) logTail() string {
	data, _ := os.ReadFile(filepath.Join(w.dir, "dockerd.log"))
	lines := strings.Split(strings.TrimSpace(string(data)), "\n")
	if len(lines) > 30 {
		lines = lines[len(lines)-30:]
	}
	return strings.Join(lines, "\n")
}

// trustRegistry has every engine of the machine (the worker's too: it
// reads the same /etc/docker) trust the registry at hostPort with the
// root caPEM, as a user trusts a registry of a private CA:
// /etc/docker/certs.d/HOST:PORT/ca.crt, which Docker reads at each push,
// pull and login. The script's clean-up removes it.
func trustRegistry(ts *testscript.TestScript, hostPort string, caPEM []byte) error {
	dir := filepath.Join("/etc/docker/certs.d", hostPort)
	if _, err := os.Stat(dir); err == nil {
		return fmt.Errorf("%s exists already (another run's?): not the test's to replace", dir)
	}
	// Clean-up takes the directory, and its parents that it made
	// (os.Remove takes an empty directory only).
	var made []string
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		}
		made = append(made, d)
	}
	ts.Defer(func() {
		os.RemoveAll(dir)
		for _, d := range made {
			os.Remove(d)
		}
	})
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.crt"), caPEM, 0o644); err != nil {
		return err
	}
	// Whose it is, for a later run's removeStaleWorkers (Docker reads
	// only *.crt, *.cert and *.key here).
	return os.WriteFile(filepath.Join(dir, "berth-test.owner"), []byte(ownerRecord(os.Getpid())), 0o644)
}
