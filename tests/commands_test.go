package tests

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berth-paas/berth/internal/berthtest"
)

// instance is one Berth (one caddy process) of a script. Its Caddyfile,
// process, ports and keys are internal/berthtest's, the harness the
// benchmark shares, so both set Berth up the same way.
type instance struct {
	work string
	// config is the script's Caddyfile: its ports and domains, and what
	// `pebble start`, `tls-internal` (tls_test.go), `berth admin-socket`
	// and `berth option` switch on. writeCaddyfile writes it.
	config berthtest.Caddyfile
	// ports hands out every port of the script (caddy's, Pebble's,
	// freeport's), never one twice.
	ports berthtest.Ports
	caddy berthtest.Caddy
	load  *loadRun
	acme  *acmeEnv // set by pebble start
	// userRegistry is set by userregistry start (userregistry_test.go).
	userRegistry *userRegistry
}

type instanceKey struct{}

// stopLimit is how long berth stop and kill wait for caddy to exit.
const stopLimit = 60 * time.Second

// setup gives each script its own ports, state, SSH keys and git identity,
// and removes the script's containers and images when it ends.
func setup(env *testscript.Env) error {
	inst := &instance{work: env.WorkDir}
	var httpPort, sshPort, adminPort int
	if err := inst.ports.Take(&httpPort, &sshPort, &adminPort); err != nil {
		return err
	}
	inst.config = berthtest.Caddyfile{
		AdminPort: adminPort, HTTPPort: httpPort, SSHPort: sshPort,
		Domains:        []string{"example.test"},
		AuthorizedKeys: filepath.Join(env.WorkDir, "admin_keys"),
		StateDir:       filepath.Join(env.WorkDir, "state"),
	}
	// Ready when both listeners answer.
	inst.caddy = berthtest.Caddy{Bin: caddyBin, Dir: env.WorkDir, Config: filepath.Join(env.WorkDir, "Caddyfile"),
		Ports: []int{sshPort, httpPort}}
	env.Values[instanceKey{}] = inst
	env.Values[privateEngineKey{}] = new(privateEngine) // restore_test.go
	env.Values[swarmWorkerKey{}] = new(swarmWorker)     // swarmworker_test.go
	home := filepath.Join(env.WorkDir, "home")
	sshDir := filepath.Join(env.WorkDir, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	admin, adminPub, err := berthtest.SSHKey(sshDir, "id_ed25519")
	if err != nil {
		return err
	}
	stranger, _, err := berthtest.SSHKey(sshDir, "stranger")
	if err != nil {
		return err
	}
	if err := os.WriteFile(inst.config.AuthorizedKeys, []byte(adminPub), 0o600); err != nil {
		return err
	}
	// Host keys are checked for real (accept-new, then strict), so a host
	// key that changed across a restart fails the script.
	sshConfig := filepath.Join(sshDir, "config")
	err = berthtest.SSHClient{
		Port: sshPort, User: "berth", KnownHosts: filepath.Join(sshDir, "known_hosts"),
		Identities: []berthtest.SSHIdentity{
			{Hosts: []string{"127.0.0.1", "berth"}, Key: admin},
			{Hosts: []string{"stranger"}, Key: stranger},
		},
	}.Write(sshConfig)
	if err != nil {
		return err
	}
	if err := inst.writeCaddyfile(); err != nil {
		return err
	}
	for _, kv := range berthtest.GitEnv(home, "Berth Test", "test@berth.test") {
		k, v, _ := strings.Cut(kv, "=")
		env.Setenv(k, v)
	}
	for k, v := range map[string]string{
		"HTTP_PORT":       strconv.Itoa(httpPort),
		"ADMIN":           inst.config.AdminAddress(),
		"PATH":            filepath.Dir(caddyBin) + string(os.PathListSeparator) + env.Getenv("PATH"),
		"SSH_PORT":        strconv.Itoa(sshPort),
		"SSH_CONFIG":      sshConfig,
		"GIT_SSH_COMMAND": berthtest.GitSSHCommand(sshConfig),
		"BASE_IMAGE":      BaseImage,
	} {
		env.Setenv(k, v)
	}
	// Scripts' docker commands must reach the engine the test binary and
	// caddy use, which need not be the default socket.
	if host := os.Getenv("DOCKER_HOST"); host != "" {
		env.Setenv("DOCKER_HOST", host)
	}
	if err := os.MkdirAll(home, 0o700); err != nil {
		return err
	}
	env.Defer(func() {
		inst.caddy.Stop(syscall.SIGKILL, stopLimit)
		berthtest.RemoveAppsOf(inst.config.StateDir)
		berthtest.RemoveServicesOf(inst.config.StateDir)
	})
	return nil
}

func (inst *instance) writeCaddyfile() error {
	return inst.config.Write(inst.caddy.Config)
}

// cmdBerth controls the script's Berth:
//
//	berth start [OPTION...]  start caddy with the script's Caddyfile, with
//	                         each OPTION ('max_log_lines 5') a line of its
//	                         berth block
//	berth start-default      start caddy with the shipped default Caddyfile
//	                         (../Caddyfile) instead of the script's: see
//	                         startDefault; negated, expect it to refuse to
//	                         start, and print why to stderr
//	berth stop               SIGTERM, and wait for it to exit
//	berth kill               SIGKILL
//	berth reload [DOMAIN...] rewrite the Caddyfile (with new global
//	                         domains, if given) and `caddy reload` it
//	berth log                print caddy's log to stdout
//	berth admin-socket       before start: the admin API listens as
//	                         Caddyfile.example's does, on a unix socket
//	                         with its mode, at a path of this script
//	                         (in a directory every user may enter, so
//	                         that only the socket's mode keeps others
//	                         out), set in ADMIN_SOCKET
//	berth option NAME VALUE  set a line of the Caddyfile's berth block
//	                         for the next start or reload
//	berth start OPTION...    start with these lines added to the berth
//	                         block: 'NAME VALUE' or NAME=VALUE
func cmdBerth(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) == 0 {
		ts.Fatalf("usage: berth start|start-default|stop|kill|reload|log")
	}
	if neg && args[0] != "start-default" {
		ts.Fatalf("berth: negation is supported by start-default only")
	}
	inst := ts.Value(instanceKey{}).(*instance)
	switch args[0] {
	case "start":
		for _, opt := range args[1:] {
			// 'NAME VALUE' as it stands in the block, or NAME=VALUE.
			if name, value, ok := strings.Cut(opt, "="); ok && !strings.Contains(name, " ") {
				opt = name + " " + value
			} else if !strings.Contains(opt, " ") {
				ts.Fatalf("berth start: want 'NAME VALUE' or NAME=VALUE options of the berth block, not %q", opt)
			}
			inst.config.Options = append(inst.config.Options, opt)
		}
		if len(args) > 1 {
			ts.Check(inst.writeCaddyfile())
		}
		_, err := inst.caddy.Start()
		ts.Check(err)
	case "start-default":
		startDefault(ts, inst, neg)
	case "stop":
		ts.Check(inst.caddy.Stop(syscall.SIGTERM, stopLimit))
	case "kill":
		ts.Check(inst.caddy.Stop(syscall.SIGKILL, stopLimit))
	case "reload":
		if len(args) > 1 {
			inst.config.Domains = args[1:]
		}
		ts.Check(inst.writeCaddyfile())
		admin := inst.config.AdminAddress()
		if inst.config.AdminSocket != "" {
			admin = "" // caddy reload finds the socket in --config, as a user's would
		}
		if err := inst.caddy.Reload(admin); err != nil {
			ts.Fatalf("%v\nlog:\n%s", err, inst.caddy.LogTail(40))
		}
	case "log":
		data, _ := os.ReadFile(inst.caddy.LogPath())
		ts.Stdout().Write(data)
	case "admin-socket":
		if inst.caddy.Running() {
			ts.Fatalf("berth admin-socket: give it before berth start")
		}
		mode, err := exampleAdminSocketMode()
		ts.Check(err)
		// Short: a unix socket's path has at most 107 bytes.
		dir, err := os.MkdirTemp("", "berth-admin-")
		ts.Check(err)
		ts.Defer(func() { os.RemoveAll(dir) })
		ts.Check(os.Chmod(dir, 0o755))
		inst.config.AdminSocket, inst.config.AdminSocketMode = filepath.Join(dir, "admin.sock"), mode
		ts.Setenv("ADMIN_SOCKET", inst.config.AdminSocket)
		ts.Check(inst.writeCaddyfile())
	case "option":
		if len(args) < 3 {
			ts.Fatalf("usage: berth option NAME VALUE...")
		}
		inst.config.Options = slices.DeleteFunc(inst.config.Options, func(l string) bool { return strings.Fields(l)[0] == args[1] })
		inst.config.Options = append(inst.config.Options, strings.Join(args[1:], " "))
		ts.Check(inst.writeCaddyfile())
	default:
		ts.Fatalf("berth: unknown subcommand %q", args[0])
	}
}

// exampleAdminSocketMode returns the mode of Caddyfile.example's admin
// unix socket, so that scripts test the setting users get.
func exampleAdminSocketMode() (string, error) {
	data, err := os.ReadFile("../Caddyfile.example")
	if err != nil {
		return "", err
	}
	m := regexp.MustCompile(`(?m)^\s*admin\s+unix/\S+\|([0-7]{3,4})\s*$`).FindSubmatch(data)
	if m == nil {
		return "", fmt.Errorf("Caddyfile.example's admin endpoint is not a unix socket with a mode (admin unix//PATH|0600)")
	}
	return string(m[1]), nil
}

var httpClient = &http.Client{Timeout: 30 * time.Second}

func get(inst *instance, host string) (int, string, error) {
	return getWith(httpClient, inst, host)
}

func getWith(client *http.Client, inst *instance, host string) (int, string, error) {
	req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", inst.config.HTTPPort), nil)
	if err != nil {
		return 0, "", err
	}
	req.Host = host
	resp, err := client.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(body), err
}

// cmdGet sends one request for HOST through Caddy and prints the status
// code on the first line of stdout and the body after it.
//
//	get HOST
func cmdGet(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) != 1 {
		ts.Fatalf("usage: get HOST")
	}
	status, body, err := get(ts.Value(instanceKey{}).(*instance), args[0])
	if neg {
		if err == nil {
			ts.Fatalf("request succeeded with %d", status)
		}
		return
	}
	ts.Check(err)
	fmt.Fprintf(ts.Stdout(), "%d\n%s", status, body)
}

// cmdAwait polls HOST through Caddy until it answers 200 with a body that
// matches REGEXP, and logs how long that took. It fails after 30 seconds.
//
//	await HOST REGEXP
func cmdAwait(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: await HOST REGEXP")
	}
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	inst := ts.Value(instanceKey{}).(*instance)
	start := time.Now()
	var last string
	for time.Since(start) < 30*time.Second {
		status, body, err := get(inst, args[0])
		if err == nil && status == 200 && re.MatchString(body) {
			ts.Logf("%s answered %q after %s", args[0], strings.TrimSpace(body), time.Since(start).Round(time.Millisecond))
			return
		}
		last = fmt.Sprintf("status %d, body %q, error %v", status, body, err)
		time.Sleep(20 * time.Millisecond)
	}
	ts.Fatalf("%s did not answer 200 matching %q within 30s; last: %s", args[0], args[1], last)
}

func containerIP(name string) (string, error) {
	out, err := exec.Command("docker", "inspect", "-f", "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}", name).Output()
	return strings.TrimSpace(string(out)), err
}

// addressHeld reports whether ip is among a network's container addresses,
// given as docker network inspect prints them (172.18.0.5/16 ...).
func addressHeld(addrs, ip string) bool {
	for _, a := range strings.Fields(addrs) {
		if addr, _, _ := strings.Cut(a, "/"); addr == ip {
			return true
		}
	}
	return false
}

// cmdRestartNewIP restarts a container so that it comes back on another
// address: it stops the container, starts filler containers on Berth's
// network until the freed address is held again (by a filler, or by a
// container of a script running beside), starts the container again, and checks that its address
// changed.
//
//	restart-new-ip CONTAINER
func cmdRestartNewIP(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: restart-new-ip CONTAINER")
	}
	name := args[0]
	before, err := containerIP(name)
	ts.Check(err)
	docker := func(args ...string) string {
		out, err := exec.Command("docker", args...).CombinedOutput()
		if err != nil {
			ts.Fatalf("docker %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return strings.TrimSpace(string(out))
	}
	docker("stop", "-t", "1", name)
	for i := 0; ; i++ {
		if i == 20 {
			ts.Fatalf("no container took %s's freed address %s", name, before)
		}
		filler := fmt.Sprintf("berth-test-filler-%d-%d", time.Now().UnixNano(), i)
		ts.Defer(func() { exec.Command("docker", "rm", "-f", filler).Run() })
		docker("run", "-d", "--name", filler, "--network", "berth", BaseImage, "sleep", "300")
		// Scripts running beside this one start containers too, and one of
		// theirs may take the address instead: any holder will do.
		if addressHeld(docker("network", "inspect", "berth", "-f", "{{range .Containers}}{{.IPv4Address}} {{end}}"), before) {
			break
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if out, err := exec.CommandContext(ctx, "docker", "start", name).CombinedOutput(); err != nil {
		ts.Fatalf("docker start: %v\n%s", err, out)
	}
	after, err := containerIP(name)
	ts.Check(err)
	if after == before {
		ts.Fatalf("%s came back on the same address %s", name, before)
	}
	ts.Logf("%s moved from %s to %s", name, before, after)
}

// loadRun is a constant stream of requests to one host through Caddy.
type loadRun struct {
	stopOnce sync.Once
	stop     chan struct{}
	done     chan struct{}
	mu       sync.Mutex
	total    int
	failures []string
	failed   int
	bodies   map[string]int
	// firstFail and lastFail bound the failures in time: load stop
	// prints the window (a node lost: how long requests failed).
	firstFail, lastFail time.Time
	// mark is when load mark ran (zero: it did not). Requests are
	// counted by when they began: after the mark, or before it and not
	// done yet (in flight at the mark: a node lost then may fail them).
	mark                     time.Time
	after, afterFailed       int
	inFlight, inFlightFailed int
	// slowestAfter is the longest a request begun after the mark took
	// (a measurement: how long a lost node held requests up).
	slowestAfter time.Duration
}

// Load bounds: the generator stops by itself after these.
const (
	loadWorkers     = 4
	loadMaxDuration = 10 * time.Minute
	loadMaxRequests = 2_000_000
)

// cmdLoad runs a load generator against HOST through Caddy:
//
//	load start HOST REGEXP   start 4 workers sending GET / in a loop; a
//	                         response that is not 200 with a body matching
//	                         REGEXP, or an error, counts as failed
//	load mark                note the time: load stop then also prints
//	                         "after the mark: requests N failed F" for the
//	                         requests begun after it, and "in flight at the
//	                         mark: requests N failed F" for those begun
//	                         before it and done after it
//	load stop                stop them, and print to stdout
//	                         "requests N failed F" and a count per body
func cmdLoad(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) == 0 {
		ts.Fatalf("usage: load start HOST REGEXP | load stop")
	}
	inst := ts.Value(instanceKey{}).(*instance)
	switch args[0] {
	case "start":
		if len(args) != 3 || inst.load != nil {
			ts.Fatalf("usage: load start HOST REGEXP (once at a time)")
		}
		re, err := regexp.Compile(args[2])
		ts.Check(err)
		l := startLoad(inst, args[1], re)
		inst.load = l
		ts.Defer(l.halt)
	case "mark":
		l := inst.load
		if l == nil || len(args) != 1 {
			ts.Fatalf("usage: load mark (while a load runs)")
		}
		l.mu.Lock()
		if !l.mark.IsZero() {
			l.mu.Unlock()
			ts.Fatalf("load mark: marked already")
		}
		l.mark = time.Now()
		l.mu.Unlock()
		fmt.Fprintf(ts.Stdout(), "load marked at %s\n", l.mark.Format("15:04:05.000"))
	case "stop":
		l := inst.load
		if l == nil {
			ts.Fatalf("load stop: no load is running")
		}
		inst.load = nil
		l.halt()
		fmt.Fprintf(ts.Stdout(), "requests %d failed %d\n", l.total, l.failed)
		if !l.mark.IsZero() {
			fmt.Fprintf(ts.Stdout(), "after the mark: requests %d failed %d\n", l.after, l.afterFailed)
			fmt.Fprintf(ts.Stdout(), "in flight at the mark: requests %d failed %d\n", l.inFlight, l.inFlightFailed)
			fmt.Fprintf(ts.Stdout(), "slowest after the mark: %s\n", l.slowestAfter.Round(time.Millisecond))
		}
		for _, body := range slices.Sorted(maps.Keys(l.bodies)) {
			fmt.Fprintf(ts.Stdout(), "body %q: %d\n", body, l.bodies[body])
		}
		for _, f := range l.failures {
			fmt.Fprintf(ts.Stdout(), "failure: %s\n", f)
		}
		if l.failed > 0 {
			// A measurement, not an assertion (no timing assertions).
			fmt.Fprintf(ts.Stdout(), "failures from %s to %s (%s)\n", l.firstFail.Format("15:04:05.000"),
				l.lastFail.Format("15:04:05.000"), l.lastFail.Sub(l.firstFail).Round(time.Millisecond))
		}
		if l.total == 0 {
			ts.Fatalf("the load generator sent no request")
		}
	default:
		ts.Fatalf("load: unknown subcommand %q", args[0])
	}
}

func startLoad(inst *instance, host string, want *regexp.Regexp) *loadRun {
	l := &loadRun{stop: make(chan struct{}), done: make(chan struct{}), bodies: map[string]int{}}
	client := &http.Client{
		Timeout:   30 * time.Second,
		Transport: &http.Transport{MaxIdleConnsPerHost: loadWorkers},
	}
	deadline := time.Now().Add(loadMaxDuration)
	var wg sync.WaitGroup
	for w := 0; w < loadWorkers; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				select {
				case <-l.stop:
					return
				default:
				}
				l.mu.Lock()
				over := l.total >= loadMaxRequests
				l.mu.Unlock()
				if over || time.Now().After(deadline) {
					return
				}
				began := time.Now()
				status, body, err := getWith(client, inst, host)
				l.mu.Lock()
				l.total++
				failed := true
				when := began.Format("15:04:05.000") + "-" + time.Now().Format("15:04:05.000")
				switch {
				case err != nil:
					l.fail(fmt.Sprintf("%s: %v", when, err))
				case status != 200 || !want.MatchString(body):
					l.fail(fmt.Sprintf("%s: status %d body %q", when, status, body))
				default:
					failed = false
					l.bodies[strings.TrimSpace(body)]++
				}
				l.count(began, failed)
				l.mu.Unlock()
			}
		}()
	}
	go func() {
		wg.Wait()
		client.CloseIdleConnections()
		close(l.done)
	}()
	return l
}

// halt stops the workers and waits for them; calling it again is a no-op.
func (l *loadRun) halt() {
	l.stopOnce.Do(func() { close(l.stop) })
	<-l.done
}

// count files a request begun at began by the mark (l.mu held); one
// done before the mark was made is in neither count.
func (l *loadRun) count(began time.Time, failed bool) {
	switch {
	case l.mark.IsZero():
	case began.Before(l.mark):
		l.inFlight++
		if failed {
			l.inFlightFailed++
		}
	default:
		l.after++
		if failed {
			l.afterFailed++
		}
		l.slowestAfter = max(l.slowestAfter, time.Since(began))
	}
}

func (l *loadRun) fail(what string) {
	l.failed++
	now := time.Now()
	if l.firstFail.IsZero() {
		l.firstFail = now
	}
	l.lastFail = now
	if len(l.failures) < 10 {
		l.failures = append(l.failures, what)
	}
}

// startDefault starts caddy with the shipped default Caddyfile as a user
// runs it, given nothing else: no authorized_keys (the admin keys are
// $HOME/.ssh/*.pub, HOME being the instance's home/), no state_dir (Caddy's
// data directory, home/data/caddy/berth), no domain of the script's.
// Only what a test must own differs, through the file's own environment
// variables (BERTH_HTTP_PORT, BERTH_HTTPS_PORT, BERTH_SSH_PORT,
// BERTH_ADMIN_SOCKET), plus one line: skip_install_trust, since the
// machine's trust store is not the test's to change; clients trust the
// root in Caddy's data directory instead. It sets HTTPS_PORT, ADMIN_SOCKET
// and CADDY_ROOT (that root's file) for the script; HTTP_PORT and SSH_PORT
// are the script's already.
func startDefault(ts *testscript.TestScript, inst *instance, neg bool) {
	shipped, err := os.ReadFile("../Caddyfile")
	ts.Check(err)
	first := strings.Index(string(shipped), "\n{\n")
	if first < 0 {
		ts.Fatalf("../Caddyfile has no global options block ({ on a line of its own)")
	}
	config := string(shipped[:first+3]) + "\tskip_install_trust\n" + string(shipped[first+3:])
	path := filepath.Join(inst.work, "Caddyfile.default")
	ts.Check(os.WriteFile(path, []byte(config), 0o600))
	c := &inst.config
	if c.HTTPSPort == 0 {
		ts.Check(inst.ports.Take(&c.HTTPSPort))
	}
	if c.AdminSocket == "" {
		// Short: a unix socket's path has at most 107 bytes.
		dir, err := os.MkdirTemp("", "berth-admin-")
		ts.Check(err)
		ts.Defer(func() { os.RemoveAll(dir) })
		c.AdminSocket, c.AdminSocketMode = filepath.Join(dir, "admin.sock"), "0600"
	}
	home := filepath.Join(inst.caddy.Dir, "home")
	// What the default's Berth uses: the harness's clean-up removes its
	// apps' containers from here.
	c.StateDir = filepath.Join(home, "data", "caddy", "berth")
	inst.caddy.Config, inst.caddy.Adapter = path, "caddyfile"
	inst.caddy.Env = []string{
		fmt.Sprintf("BERTH_HTTP_PORT=%d", c.HTTPPort),
		fmt.Sprintf("BERTH_HTTPS_PORT=%d", c.HTTPSPort),
		fmt.Sprintf("BERTH_SSH_PORT=%d", c.SSHPort),
		"BERTH_ADMIN_SOCKET=" + c.AdminSocket,
	}
	inst.caddy.Ports = []int{c.SSHPort, c.HTTPPort, c.HTTPSPort}
	ts.Setenv("HTTPS_PORT", strconv.Itoa(c.HTTPSPort))
	ts.Setenv("ADMIN_SOCKET", c.AdminSocket)
	ts.Setenv("CADDY_ROOT", filepath.Join(home, "data", "caddy", "pki", "authorities", "local", "root.crt"))
	_, err = inst.caddy.Start()
	if neg {
		if err == nil {
			ts.Fatalf("berth start-default: caddy started")
		}
		fmt.Fprintln(ts.Stderr(), err)
		return
	}
	ts.Check(err)
}
