package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
)

// caddyProc is one caddy process the benchmark started: Berth (with the
// `berth` global option) or a plain Caddy with a static config. The
// process itself is berthtest's, as in the end-to-end suite.
type caddyProc struct {
	berthtest.Caddy
	name      string
	adminPort int
	httpPort  int // the berth site (or the static site of a plain caddy)
	sshPort   int
	static    int // the static reverse_proxy sites of a Berth caddy
	stateDir  string
	keys      string
	options   []string // more lines of the berth block ("build_memory none")
	global    []string // more lines of the global options block ("debug")
	// traceSlow: converge events slower than this get printTrace.
	traceSlow time.Duration
}

// newBerth prepares a Berth caddy in its own directory, with its state
// dir, ports and a Caddyfile (see writeCaddyfile) whose berth block has
// options as more lines.
func (e *env) newBerth(name string, options ...string) (*caddyProc, error) {
	return e.newBerthWithGlobal(name, nil, options...)
}

// newBerthWithGlobal is newBerth with more lines of the Caddyfile's
// global options block (converge's "debug"), written with the rest.
func (e *env) newBerthWithGlobal(name string, global []string, options ...string) (*caddyProc, error) {
	p := &caddyProc{name: name, options: options, global: global}
	if err := e.ports.Take(&p.adminPort, &p.httpPort, &p.sshPort, &p.static); err != nil {
		return nil, err
	}
	p.Caddy = e.caddy(name, "caddyfile", "Caddyfile", p.httpPort, p.sshPort)
	p.stateDir = filepath.Join(p.Dir, "state")
	if err := os.MkdirAll(p.stateDir, 0o700); err != nil {
		return nil, err
	}
	p.keys = filepath.Join(p.Dir, "admin_keys")
	if err := os.WriteFile(p.keys, []byte(e.adminPub), 0o600); err != nil {
		return nil, err
	}
	return p, p.writeCaddyfile("")
}

// noDriftCheck turns Berth's formation check off, for the benchmarks
// that stop an app's container behind Berth's back and start it again
// themselves (converge, scale). With the check on, it finds the stopped
// container and starts it too, hidden from its route until its checks
// pass, so the benchmark's start meets a route that stays empty for the
// check's two seconds: that was the "2 s convergence outlier" of earlier
// runs (traced 2026-12-02: each one came after "formation check: web.1:
// starting it again ... try N of 3", and there were at most three per
// run because the check gives up on a container after three revivals).
// Routes follow container events whatever starts the container; the
// check is a separate feature with its own tests. Its own cost is then
// not in scale's idle CPU: one listing of Berth's containers every 30 s.
const noDriftCheck = "formation_check_interval 0"

// caddy is the process of a caddy named name in its own directory,
// started once its ports accept connections. The benchmark polls them
// every 2 ms: it measures how long start takes.
func (e *env) caddy(name, adapter, config string, ports ...int) berthtest.Caddy {
	dir := filepath.Join(e.tmp, name)
	return berthtest.Caddy{
		Bin: e.caddyBin, Dir: dir, Config: filepath.Join(dir, config), Adapter: adapter,
		Ports: ports, StartLimit: 2 * time.Minute, PollEvery: 2 * time.Millisecond,
	}
}

// writeCaddyfile writes the Berth caddy's Caddyfile: the berth global
// option and the berth site on 127.0.0.1, as in the end-to-end suite.
// staticSites are more Caddyfile sites, given p.static as their only
// format argument (for every %[1]d).
func (p *caddyProc) writeCaddyfile(staticSites string) error {
	cf := berthtest.Caddyfile{
		AdminPort: p.adminPort, HTTPPort: p.httpPort, SSHPort: p.sshPort,
		Domains: []string{benchDomain}, AuthorizedKeys: p.keys, StateDir: p.stateDir,
		Options: p.options, Global: p.global,
	}
	if staticSites != "" {
		cf.Extra = fmt.Sprintf(staticSites, p.static)
	}
	return cf.Write(p.Config)
}

// newStaticCaddy prepares a plain Caddy (no berth app) run from a JSON
// config that later reloads replace.
func (e *env) newStaticCaddy(name string) (*caddyProc, error) {
	p := &caddyProc{name: name}
	if err := e.ports.Take(&p.adminPort, &p.httpPort); err != nil {
		return nil, err
	}
	p.Caddy = e.caddy(name, "", "caddy.json", p.httpPort)
	if err := os.MkdirAll(p.Dir, 0o700); err != nil {
		return nil, err
	}
	return p, nil
}

// start runs the caddy binary and waits until its HTTP port accepts
// connections (and its SSH port, for Berth). It returns how long that took
// from just before the process started.
func (e *env) start(p *caddyProc) (time.Duration, error) {
	took, err := p.Start()
	if p.Running() {
		e.defer_("stop "+p.name, p.stop)
	}
	if err != nil {
		return 0, fmt.Errorf("%s: %w", p.name, err)
	}
	return took, nil
}

// stop sends SIGTERM and waits (SIGKILL after 30s).
func (p *caddyProc) stop() {
	if err := p.Stop(syscall.SIGTERM, 30*time.Second); err != nil {
		progress("%s: %v", p.name, err)
	}
}

// reload runs `caddy reload --force` of p's config file through its admin
// endpoint.
func (p *caddyProc) reload() error {
	return p.Reload(fmt.Sprintf("127.0.0.1:%d", p.adminPort))
}

// logTime returns the time of the last log entry of this process (since
// it started) whose message is msg.
func (p *caddyProc) logTime(msg string) (time.Time, bool) {
	f, err := os.Open(p.LogPath())
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
		if !t.Before(p.Started().Add(-time.Second)) {
			found = t
		}
	}
	return found, !found.IsZero()
}

// countLog counts this log's lines that contain s.
func (p *caddyProc) countLog(s string) int {
	data, _ := os.ReadFile(p.LogPath())
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

// printTrace prints, under title, the caddy's log lines from 3 s before
// at (a convergence event: the stop that came before it, and anything
// the formation check did) to 200 ms after until, each with its time
// relative to at. With Caddy's debug option on, Berth logs each
// container event it applies and each route a refresh writes
// (routes.Controller), so a slow event shows which step was late.
func (p *caddyProc) printTrace(title string, at, until time.Time) {
	progress("  trace of %s (ms from the start event, Berth's log):", title)
	data, err := os.ReadFile(p.LogPath())
	if err != nil {
		progress("    cannot read the log: %v", err)
		return
	}
	from, to := at.Add(-3*time.Second), until.Add(200*time.Millisecond)
	for _, line := range strings.Split(string(data), "\n") {
		var entry map[string]any
		if json.Unmarshal([]byte(line), &entry) != nil {
			continue
		}
		ts, ok := entry["ts"].(float64)
		if !ok {
			continue
		}
		t := time.Unix(0, int64(ts*1e9))
		if t.Before(from) || t.After(to) {
			continue
		}
		msg, _ := entry["msg"].(string)
		var attrs []string
		for k, v := range entry {
			switch k {
			case "ts", "msg", "level", "logger":
				continue
			}
			attrs = append(attrs, fmt.Sprintf("%s=%v", k, v))
		}
		slices.Sort(attrs)
		progress("    %+8.1f %s %s", float64(t.Sub(at))/float64(time.Millisecond), msg, strings.Join(attrs, " "))
	}
}
