package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func freePorts(ps ...*int) error {
	for _, p := range ps {
		port, err := freePort()
		if err != nil {
			return err
		}
		*p = port
	}
	return nil
}

// caddyProc is one caddy process the benchmark started: Berth (with the
// `berth` global option) or a plain Caddy with a static config.
type caddyProc struct {
	name      string
	dir       string
	config    string // Caddyfile or JSON file
	adapter   string // "caddyfile" or "" for JSON
	adminPort int
	httpPort  int // the berth site (or the static site of a plain caddy)
	sshPort   int
	static    int // the static reverse_proxy sites of a Berth caddy
	stateDir  string
	keys      string

	cmd     *exec.Cmd
	exited  chan struct{}
	started time.Time // just before the process was started
}

// newBerth prepares a Berth caddy in its own directory, with its state
// dir, ports and a Caddyfile (see writeCaddyfile).
func (e *env) newBerth(name string) (*caddyProc, error) {
	p := &caddyProc{name: name, dir: filepath.Join(e.tmp, name), adapter: "caddyfile"}
	if err := freePorts(&p.adminPort, &p.httpPort, &p.sshPort, &p.static); err != nil {
		return nil, err
	}
	p.stateDir = filepath.Join(p.dir, "state")
	if err := os.MkdirAll(p.stateDir, 0o700); err != nil {
		return nil, err
	}
	p.keys = filepath.Join(p.dir, "admin_keys")
	if err := os.WriteFile(p.keys, []byte(e.adminPub), 0o600); err != nil {
		return nil, err
	}
	p.config = filepath.Join(p.dir, "Caddyfile")
	return p, p.writeCaddyfile("")
}

// writeCaddyfile writes the Berth caddy's Caddyfile: the berth global
// option and the berth site on 127.0.0.1, as in the end-to-end suite.
// staticSites are more Caddyfile sites, given p.static as their only
// format argument (for every %[1]d).
func (p *caddyProc) writeCaddyfile(staticSites string) error {
	cf := fmt.Sprintf(`{
	admin 127.0.0.1:%d
	persist_config off
	berth {
		domain %s
		ssh 127.0.0.1:%d
		authorized_keys %s
		state_dir %s
	}
}
http://:%d {
	bind 127.0.0.1
	berth
}
`, p.adminPort, benchDomain, p.sshPort, p.keys, p.stateDir, p.httpPort)
	if staticSites != "" {
		cf += fmt.Sprintf(staticSites, p.static)
	}
	return os.WriteFile(p.config, []byte(cf), 0o600)
}

// newStaticCaddy prepares a plain Caddy (no berth app) run from a JSON
// config that later reloads replace.
func (e *env) newStaticCaddy(name string) (*caddyProc, error) {
	p := &caddyProc{name: name, dir: filepath.Join(e.tmp, name)}
	if err := freePorts(&p.adminPort, &p.httpPort); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.dir, 0o700); err != nil {
		return nil, err
	}
	p.config = filepath.Join(p.dir, "caddy.json")
	return p, nil
}

// start runs the caddy binary and waits until its HTTP port accepts
// connections (and its SSH port, for Berth). It returns how long that took
// from just before the process started.
func (e *env) start(p *caddyProc) (time.Duration, error) {
	if p.cmd != nil {
		return 0, fmt.Errorf("%s already runs", p.name)
	}
	logFile, err := os.OpenFile(p.logPath(), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return 0, err
	}
	args := []string{"run", "--config", p.config}
	if p.adapter != "" {
		args = append(args, "--adapter", p.adapter)
	}
	cmd := exec.Command(e.caddyBin, args...)
	cmd.Dir = p.dir
	home := filepath.Join(p.dir, "home")
	cmd.Env = append(os.Environ(), "HOME="+home, "XDG_DATA_HOME="+filepath.Join(home, "data"), "XDG_CONFIG_HOME="+filepath.Join(home, "config"))
	cmd.Stdout, cmd.Stderr = logFile, logFile
	p.started = time.Now()
	if err := cmd.Start(); err != nil {
		logFile.Close()
		return 0, err
	}
	p.cmd = cmd
	p.exited = make(chan struct{})
	go func() {
		cmd.Wait()
		logFile.Close()
		close(p.exited)
	}()
	e.defer_("stop "+p.name, func() { p.stop() })
	ports := []int{p.httpPort}
	if p.sshPort != 0 {
		ports = append(ports, p.sshPort)
	}
	deadline := p.started.Add(2 * time.Minute)
	for _, port := range ports {
		for {
			conn, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
			if err == nil {
				conn.Close()
				break
			}
			select {
			case <-p.exited:
				return 0, fmt.Errorf("%s exited during start; its log:\n%s", p.name, p.logTail(30))
			case <-time.After(2 * time.Millisecond):
			}
			if time.Now().After(deadline) {
				return 0, fmt.Errorf("%s did not listen on %d within 2 minutes; its log:\n%s", p.name, port, p.logTail(30))
			}
		}
	}
	return time.Since(p.started), nil
}

// stop sends SIGTERM and waits (SIGKILL after 30s).
func (p *caddyProc) stop() {
	if p.cmd == nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(30 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
	p.cmd = nil
}

func (p *caddyProc) pid() int {
	if p.cmd == nil {
		return 0
	}
	return p.cmd.Process.Pid
}

func (p *caddyProc) logPath() string { return filepath.Join(p.dir, "caddy.log") }

func (p *caddyProc) logTail(n int) string {
	data, _ := os.ReadFile(p.logPath())
	lines := strings.Split(strings.TrimRight(string(data), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}

// logTime returns the time of the last log entry of this process (since
// it started) whose message is msg.
func (p *caddyProc) logTime(msg string) (time.Time, bool) {
	f, err := os.Open(p.logPath())
	if err != nil {
		return time.Time{}, false
	}
	defer f.Close()
	var found time.Time
	sc := bufio.NewScanner(f)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		var entry struct {
			TS  float64 `json:"ts"`
			Msg string  `json:"msg"`
		}
		if json.Unmarshal(sc.Bytes(), &entry) != nil || entry.Msg != msg {
			continue
		}
		t := time.Unix(0, int64(entry.TS*1e9))
		if !t.Before(p.started.Add(-time.Second)) {
			found = t
		}
	}
	return found, !found.IsZero()
}

// countLog counts this log's lines that contain s.
func (p *caddyProc) countLog(s string) int {
	data, _ := os.ReadFile(p.logPath())
	return bytes.Count(data, []byte(s))
}

// procStatus reads a field of /proc/PID/status in kB.
func procStatusKB(pid int, field string) (int64, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(data), "\n") {
		if rest, ok := strings.CutPrefix(line, field+":"); ok {
			f := strings.Fields(rest)
			if len(f) > 0 {
				return strconv.ParseInt(f[0], 10, 64)
			}
		}
	}
	return 0, fmt.Errorf("no %s in /proc/%d/status", field, pid)
}

// cpuTime is the user+system CPU time a process has used, from
// /proc/PID/stat (clock ticks of 1/100 s, as on every Linux x86-64).
func cpuTime(pid int) (time.Duration, error) {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, err
	}
	// The command name is in parentheses and may contain spaces.
	s := string(data)
	i := strings.LastIndexByte(s, ')')
	if i < 0 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	f := strings.Fields(s[i+1:])
	if len(f) < 13 {
		return 0, fmt.Errorf("unexpected /proc/%d/stat", pid)
	}
	// Fields 14 and 15 of stat (utime, stime) are f[11] and f[12] here.
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+st) * 10 * time.Millisecond, nil
}

// pidOf finds the process whose command name is comm (for dockerd, which
// the benchmark only reads from).
func pidOf(comm string) int {
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		data, err := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if err == nil && strings.TrimSpace(string(data)) == comm {
			return pid
		}
	}
	return 0
}

// sshKey makes an ed25519 key pair in dir and returns the private key's
// path and the public key.
func sshKey(dir, name string) (string, string, error) {
	path := filepath.Join(dir, name)
	if out, err := exec.Command("ssh-keygen", "-q", "-t", "ed25519", "-N", "", "-C", name, "-f", path).CombinedOutput(); err != nil {
		return "", "", fmt.Errorf("ssh-keygen: %v: %s", err, out)
	}
	pub, err := os.ReadFile(path + ".pub")
	return path, string(pub), err
}
