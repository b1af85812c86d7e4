package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// A worker's set (netns berthswID, veth bswhID, cgroup /berth-sw-ID,
// iptables rules naming bswhID, a certs.d entry) is cleaned up by
// ts.Defer; a run killed by a timeout panic or SIGKILL leaves it, and the
// next run's start fails on its address. Each set has an owner file naming
// the run's pid and that process's start time, so that a later start can
// tell a dead run's set from a live one's (pids are reused).
var (
	swarmOwnerDir = "/run/berth-test-swarmworker"
	staleNetns    = regexp.MustCompile(`^berthsw([0-9]{1,5})$`)
)

// ownerRecord is "PID STARTTIME" of this process.
func ownerRecord(pid int) string { return fmt.Sprintf("%d %s", pid, procStart(pid)) }

// procStart is field 22 of /proc/PID/stat (start time in ticks), "" if
// the process does not exist.
func procStart(pid int) string {
	data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return ""
	}
	s := string(data)
	if i := strings.LastIndexByte(s, ')'); i >= 0 {
		if f := strings.Fields(s[i+1:]); len(f) > 19 {
			return f[19]
		}
	}
	return ""
}

// ownerAlive reports whether the run that recorded rec still runs.
func ownerAlive(rec string) bool {
	f := strings.Fields(rec)
	if len(f) != 2 {
		return true // unreadable: not ours to judge, leave it
	}
	pid, err := strconv.Atoi(f[0])
	if err != nil {
		return true
	}
	return procStart(pid) == f[1]
}

// setOwnerAlive reports whether the worker set ID belongs to a live run.
// Without an owner file (a set made by a harness before owner files, or
// one being made this instant), any live test binary whose pid gives ID
// counts as its owner.
func setOwnerAlive(dir, id string) bool {
	if rec, err := os.ReadFile(filepath.Join(dir, id)); err == nil {
		return ownerAlive(string(rec))
	}
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || strconv.Itoa(pid%100000) != id {
			continue
		}
		if comm, _ := os.ReadFile("/proc/" + e.Name() + "/comm"); strings.HasSuffix(strings.TrimSpace(string(comm)), ".test") {
			return true
		}
	}
	return false
}

// removeStaleWorkers removes the sets of dead runs: only names of the
// harness's own prefixes, only when the owning run is gone.
func removeStaleWorkers(log func(string, ...any)) {
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		m := staleNetns.FindStringSubmatch(e.Name())
		if m == nil || setOwnerAlive(swarmOwnerDir, m[1]) {
			continue
		}
		id := m[1]
		log("swarmworker: removing the worker set %s of a run that is gone", id)
		// Its processes: the namespace's and the cgroup's.
		if out, err := exec.Command("ip", "netns", "pids", "berthsw"+id).Output(); err == nil {
			for _, f := range strings.Fields(string(out)) {
				if pid, err := strconv.Atoi(f); err == nil {
					exec.Command("kill", "-9", strconv.Itoa(pid)).Run()
				}
			}
		}
		w := &swarmWorker{id: id, ns: "berthsw" + id, hostIf: "bswh" + id, nsIf: "bsww" + id, cgroup: "/berth-sw-" + id, cut: true}
		for range 8 { // a rule added more than once (cut twice)
			w.partition("-D")
		}
		w.cut = false
		w.cleanUp()
		os.Remove(filepath.Join(swarmOwnerDir, id))
	}
	// Registry trust entries record their owner the same way.
	dirs, _ := filepath.Glob("/etc/docker/certs.d/*/berth-test.owner")
	for _, f := range dirs {
		if rec, err := os.ReadFile(f); err == nil && !ownerAlive(string(rec)) {
			log("swarmworker: removing %s of a run that is gone", filepath.Dir(f))
			os.RemoveAll(filepath.Dir(f))
		}
	}
}

func TestSwarmWorkerOwnerAlive(t *testing.T) {
	if !ownerAlive(ownerRecord(os.Getpid())) {
		t.Fatal("this process's own record reads as dead")
	}
	cmd := exec.Command("sleep", "0")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	rec := ownerRecord(cmd.Process.Pid)
	cmd.Wait()
	if ownerAlive(rec) {
		t.Fatalf("the record %q of an exited process reads as alive", rec)
	}
	// A reused pid: same pid, another start time.
	if ownerAlive(fmt.Sprintf("%d 1", os.Getpid())) {
		t.Fatal("a record whose start time differs reads as alive")
	}
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "123"), []byte(rec), 0o644)
	if setOwnerAlive(dir, "123") {
		t.Fatal("a set whose owner file names a dead run reads as alive")
	}
	own := strconv.Itoa(os.Getpid() % 100000)
	if !setOwnerAlive(dir, own) {
		t.Fatal("a set with no owner file whose id is this test binary's pid reads as dead")
	}
}
