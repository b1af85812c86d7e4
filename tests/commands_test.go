package tests

import (
	"context"
	"fmt"
	"io"
	"maps"
	"net"
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
)

// instance is one Berth (one caddy process) of a script.
type instance struct {
	work      string
	httpPort  int
	sshPort   int
	adminPort int
	domains   []string
	cmd       *exec.Cmd
	exited    chan struct{}
	load      *loadRun
	// httpsPort, acme and internalTLS are set by `pebble start` and
	// `tls-internal` (tls_test.go).
	httpsPort   int
	acme        *acmeEnv
	internalTLS bool
	wildcard    string
	// adminSocket, set by `berth admin-socket`, is the unix socket the
	// admin API listens on instead of adminPort, with adminMode
	// (Caddyfile.example's).
	adminSocket string
	adminMode   string
	// berthOptions are extra lines of the Caddyfile's berth block, set
	// with `berth option`.
	berthOptions []string
}

// adminListen is the Caddyfile's admin address.
func (inst *instance) adminListen() string {
	if inst.adminSocket != "" {
		return "unix/" + inst.adminSocket + "|" + inst.adminMode
	}
	return fmt.Sprintf("127.0.0.1:%d", inst.adminPort)
}

type instanceKey struct{}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// setup gives each script its own ports, state, SSH keys and git identity,
// and removes the script's containers and images when it ends.
func setup(env *testscript.Env) error {
	inst := &instance{work: env.WorkDir, domains: []string{"example.test"}}
	for _, p := range []*int{&inst.httpPort, &inst.sshPort, &inst.adminPort} {
		port, err := freePort()
		if err != nil {
			return err
		}
		*p = port
	}
	env.Values[instanceKey{}] = inst
	home := filepath.Join(env.WorkDir, "home")
	sshDir := filepath.Join(env.WorkDir, ".ssh")
	if err := os.MkdirAll(sshDir, 0o700); err != nil {
		return err
	}
	for _, key := range []string{"id_ed25519", "stranger"} {
		if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", key, "-f", filepath.Join(sshDir, key)).CombinedOutput(); err != nil {
			return fmt.Errorf("ssh-keygen: %v: %s", err, out)
		}
	}
	pub, err := os.ReadFile(filepath.Join(sshDir, "id_ed25519.pub"))
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(env.WorkDir, "admin_keys"), pub, 0o600); err != nil {
		return err
	}
	// Host keys are checked for real (accept-new, then strict), so a host
	// key that changed across a restart fails the script.
	sshConfig := fmt.Sprintf(`Host 127.0.0.1 berth stranger
	HostName 127.0.0.1
	Port %[1]d
	User berth
	IdentitiesOnly yes
	StrictHostKeyChecking accept-new
	UserKnownHostsFile %[2]s/known_hosts
	LogLevel ERROR
	BatchMode yes
Host 127.0.0.1 berth
	IdentityFile %[2]s/id_ed25519
Host stranger
	IdentityFile %[2]s/stranger
`, inst.sshPort, sshDir)
	if err := os.WriteFile(filepath.Join(sshDir, "config"), []byte(sshConfig), 0o600); err != nil {
		return err
	}
	if err := inst.writeCaddyfile(); err != nil {
		return err
	}
	for k, v := range map[string]string{
		"HOME":                home,
		"HTTP_PORT":           strconv.Itoa(inst.httpPort),
		"ADMIN":               fmt.Sprintf("127.0.0.1:%d", inst.adminPort),
		"PATH":                filepath.Dir(caddyBin) + string(os.PathListSeparator) + env.Getenv("PATH"),
		"SSH_PORT":            strconv.Itoa(inst.sshPort),
		"SSH_CONFIG":          filepath.Join(sshDir, "config"),
		"GIT_SSH_COMMAND":     "ssh -F " + filepath.Join(sshDir, "config"),
		"GIT_AUTHOR_NAME":     "Berth Test",
		"GIT_AUTHOR_EMAIL":    "test@berth.test",
		"GIT_COMMITTER_NAME":  "Berth Test",
		"GIT_COMMITTER_EMAIL": "test@berth.test",
		"GIT_CONFIG_NOSYSTEM": "1",
		"BASE_IMAGE":          BaseImage,
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
		inst.stop(syscall.SIGKILL)
		removeAppsOf(filepath.Join(env.WorkDir, "state"))
		removeServicesOf(filepath.Join(env.WorkDir, "state"))
	})
	return nil
}

// removeAppsOf deletes the containers and images of every app recorded in
// a state directory, so scripts leave the engine as they found it.
func removeAppsOf(stateDir string) {
	entries, _ := os.ReadDir(filepath.Join(stateDir, "apps"))
	for _, e := range entries {
		app, ok := strings.CutSuffix(e.Name(), ".json")
		if !ok {
			continue
		}
		out, _ := exec.Command("docker", "ps", "-aq", "--filter", "label=berth.app="+app).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rm", "-f"}, ids...)...).Run()
		}
		out, _ = exec.Command("docker", "images", "-q", "berth/"+app).Output()
		if ids := strings.Fields(string(out)); len(ids) > 0 {
			exec.Command("docker", append([]string{"rmi", "-f"}, ids...)...).Run()
		}
	}
}

func (inst *instance) writeCaddyfile() error {
	if inst.httpsPort != 0 {
		return os.WriteFile(filepath.Join(inst.work, "Caddyfile"), []byte(inst.tlsCaddyfile()), 0o600)
	}
	caddyfile := fmt.Sprintf(`{
	admin %s
	persist_config off
	berth {
		domain %s
		ssh 127.0.0.1:%d
		authorized_keys %s
		state_dir %s%s
	}
}
http://:%d {
	bind 127.0.0.1
	berth
}
`, inst.adminListen(), strings.Join(inst.domains, " "), inst.sshPort,
		filepath.Join(inst.work, "admin_keys"), filepath.Join(inst.work, "state"), extraOptions(inst.berthOptions), inst.httpPort)
	return os.WriteFile(filepath.Join(inst.work, "Caddyfile"), []byte(caddyfile), 0o600)
}

// extraOptions are more lines for the berth block.
func extraOptions(opts []string) string {
	var b strings.Builder
	for _, o := range opts {
		b.WriteString("\n\t\t" + o)
	}
	return b.String()
}

func (inst *instance) start() error {
	if inst.cmd != nil {
		return fmt.Errorf("berth is already running")
	}
	logFile, err := os.OpenFile(filepath.Join(inst.work, "caddy.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	cmd := exec.Command(caddyBin, "run", "--config", filepath.Join(inst.work, "Caddyfile"))
	cmd.Dir = inst.work
	cmd.Env = append(os.Environ(),
		"HOME="+filepath.Join(inst.work, "home"),
		"XDG_DATA_HOME="+filepath.Join(inst.work, "home", "data"),
		"XDG_CONFIG_HOME="+filepath.Join(inst.work, "home", "config"),
	)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	// If the test binary dies before its deferred clean-up runs, caddy
	// dies with it rather than watching Docker on behalf of a finished run.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return err
	}
	inst.cmd = cmd
	inst.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(inst.exited)
	}()
	// Ready when both listeners answer.
	deadline := time.Now().Add(60 * time.Second)
	for _, port := range []int{inst.sshPort, inst.httpPort} {
		for {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-inst.exited:
				return fmt.Errorf("caddy exited during start; its log:\n%s", inst.logTail())
			case <-time.After(50 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return fmt.Errorf("caddy did not listen on port %d within 60s; its log:\n%s", port, inst.logTail())
			}
		}
	}
	return nil
}

func (inst *instance) stop(sig os.Signal) error {
	if inst.cmd == nil {
		return nil
	}
	inst.cmd.Process.Signal(sig)
	select {
	case <-inst.exited:
	case <-time.After(60 * time.Second):
		inst.cmd.Process.Kill()
		<-inst.exited
		return fmt.Errorf("caddy did not stop within 60s of %v", sig)
	}
	inst.cmd = nil
	return nil
}

func (inst *instance) logTail() string {
	data, _ := os.ReadFile(filepath.Join(inst.work, "caddy.log"))
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > 40 {
		lines = lines[len(lines)-40:]
	}
	return strings.Join(lines, "\n")
}

// cmdBerth controls the script's Berth:
//
//	berth start [OPTION...]  start caddy with the script's Caddyfile, with
//	                         each OPTION ('max_log_lines 5') a line of its
//	                         berth block
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
	if neg {
		ts.Fatalf("berth: negation is not supported")
	}
	if len(args) == 0 {
		ts.Fatalf("usage: berth start|stop|kill|reload|log")
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
			inst.berthOptions = append(inst.berthOptions, opt)
		}
		if len(args) > 1 {
			ts.Check(inst.writeCaddyfile())
		}
		ts.Check(inst.start())
	case "stop":
		ts.Check(inst.stop(syscall.SIGTERM))
	case "kill":
		ts.Check(inst.stop(syscall.SIGKILL))
	case "reload":
		if len(args) > 1 {
			inst.domains = args[1:]
		}
		ts.Check(inst.writeCaddyfile())
		reload := []string{"reload", "--config", filepath.Join(inst.work, "Caddyfile"), "--force"}
		if inst.adminSocket == "" {
			reload = append(reload, "--address", inst.adminListen())
		} // else caddy reload finds the socket in --config, as a user's would
		out, err := exec.Command(caddyBin, reload...).CombinedOutput()
		if err != nil {
			ts.Fatalf("caddy reload: %v\n%s\nlog:\n%s", err, out, inst.logTail())
		}
	case "log":
		data, _ := os.ReadFile(filepath.Join(inst.work, "caddy.log"))
		ts.Stdout().Write(data)
	case "admin-socket":
		if inst.cmd != nil {
			ts.Fatalf("berth admin-socket: give it before berth start")
		}
		mode, err := exampleAdminSocketMode()
		ts.Check(err)
		// Short: a unix socket's path has at most 107 bytes.
		dir, err := os.MkdirTemp("", "berth-admin-")
		ts.Check(err)
		ts.Defer(func() { os.RemoveAll(dir) })
		ts.Check(os.Chmod(dir, 0o755))
		inst.adminSocket, inst.adminMode = filepath.Join(dir, "admin.sock"), mode
		ts.Setenv("ADMIN_SOCKET", inst.adminSocket)
		ts.Check(inst.writeCaddyfile())
	case "option":
		if len(args) < 3 {
			ts.Fatalf("usage: berth option NAME VALUE...")
		}
		inst.berthOptions = slices.DeleteFunc(inst.berthOptions, func(l string) bool { return strings.Fields(l)[0] == args[1] })
		inst.berthOptions = append(inst.berthOptions, strings.Join(args[1:], " "))
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
	req, err := http.NewRequest("GET", fmt.Sprintf("http://127.0.0.1:%d/", inst.httpPort), nil)
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
	case "stop":
		l := inst.load
		if l == nil {
			ts.Fatalf("load stop: no load is running")
		}
		inst.load = nil
		l.halt()
		fmt.Fprintf(ts.Stdout(), "requests %d failed %d\n", l.total, l.failed)
		for _, body := range slices.Sorted(maps.Keys(l.bodies)) {
			fmt.Fprintf(ts.Stdout(), "body %q: %d\n", body, l.bodies[body])
		}
		for _, f := range l.failures {
			fmt.Fprintf(ts.Stdout(), "failure: %s\n", f)
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
				status, body, err := getWith(client, inst, host)
				l.mu.Lock()
				l.total++
				switch {
				case err != nil:
					l.fail(fmt.Sprintf("%s: %v", time.Now().Format("15:04:05.000"), err))
				case status != 200 || !want.MatchString(body):
					l.fail(fmt.Sprintf("%s: status %d body %q", time.Now().Format("15:04:05.000"), status, body))
				default:
					l.bodies[strings.TrimSpace(body)]++
				}
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

func (l *loadRun) fail(what string) {
	l.failed++
	if len(l.failures) < 10 {
		l.failures = append(l.failures, what)
	}
}
