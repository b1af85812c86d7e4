package tests

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/rogpeppe/go-internal/testscript"
)

// rawConn is one raw TCP connection to the SSH port that never speaks
// SSH: what a client that opens connections and holds them looks like.
type rawConn struct {
	mu     sync.Mutex
	first  string // the first line the server sent
	closed bool
}

type connsKey string

// cmdSSHConns opens raw TCP connections to the script's SSH port from a
// given loopback address and holds them, and waits for what the server
// does with them.
//
//	sshconns open NAME N FROM     open N connections from address FROM
//	sshconns wait NAME COND...    wait (60s at most) until every COND holds,
//	                              then print the counts and the first
//	                              refusal line the server sent
//	sshconns close NAME           close them all
//
// A COND is open=N (still open), refused=N (closed after the server's
// "berth: too many ..." line) or dropped=N (closed after the server's SSH
// version line: the handshake was accepted, then ended).
func cmdSSHConns(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: sshconns open NAME N FROM | wait NAME COND... | close NAME")
	}
	inst := ts.Value(instanceKey{}).(*instance)
	key := connsKey(args[1])
	switch args[0] {
	case "open":
		if len(args) != 4 {
			ts.Fatalf("usage: sshconns open NAME N FROM")
		}
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		dialer := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(args[3])}, Timeout: 10 * time.Second}
		var conns []*rawConn
		var nets []net.Conn
		for range n {
			c, err := dialer.Dial("tcp", fmt.Sprintf("127.0.0.1:%d", inst.config.SSHPort))
			ts.Check(err)
			rc := &rawConn{}
			conns, nets = append(conns, rc), append(nets, c)
			go func() {
				r := bufio.NewReader(c)
				line, _ := r.ReadString('\n')
				rc.mu.Lock()
				rc.first = strings.TrimSpace(line)
				rc.mu.Unlock()
				for {
					if _, err := r.ReadByte(); err != nil {
						break
					}
				}
				rc.mu.Lock()
				rc.closed = true
				rc.mu.Unlock()
			}()
		}
		sshConns.Store(ts, key, conns, nets)
	case "wait":
		conns := sshConns.load(ts, key).conns
		want := map[string]int{}
		for _, cond := range args[2:] {
			name, val, ok := strings.Cut(cond, "=")
			n, err := strconv.Atoi(val)
			if !ok || err != nil || (name != "open" && name != "refused" && name != "dropped") {
				ts.Fatalf("sshconns wait: bad condition %q", cond)
			}
			want[name] = n
		}
		deadline := time.Now().Add(60 * time.Second)
		for {
			got := map[string]int{}
			refusal := ""
			for _, c := range conns {
				c.mu.Lock()
				switch {
				case !c.closed:
					got["open"]++
				case strings.HasPrefix(c.first, "berth:"):
					got["refused"]++
					if refusal == "" {
						refusal = c.first
					}
				default:
					got["dropped"]++
				}
				c.mu.Unlock()
			}
			met := true
			for k, v := range want {
				met = met && got[k] == v
			}
			status := fmt.Sprintf("open=%d refused=%d dropped=%d", got["open"], got["refused"], got["dropped"])
			if met {
				fmt.Fprintf(ts.Stdout(), "%s\n%s\n", status, refusal)
				return
			}
			if time.Now().After(deadline) {
				ts.Fatalf("sshconns %s: after 60s %s, want %v", key, status, want)
			}
			time.Sleep(50 * time.Millisecond)
		}
	case "close":
		for _, c := range sshConns.load(ts, key).nets {
			c.Close()
		}
	default:
		ts.Fatalf("sshconns: unknown subcommand %q", args[0])
	}
}

// sshConns keeps each script's raw connections by name.
var sshConns = &connStore{m: map[*testscript.TestScript]map[connsKey]connSet{}}

type connSet struct {
	conns []*rawConn
	nets  []net.Conn
}

type connStore struct {
	mu sync.Mutex
	m  map[*testscript.TestScript]map[connsKey]connSet
}

func (s *connStore) Store(ts *testscript.TestScript, key connsKey, conns []*rawConn, nets []net.Conn) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.m[ts] == nil {
		s.m[ts] = map[connsKey]connSet{}
		ts.Defer(func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			for _, set := range s.m[ts] {
				for _, c := range set.nets {
					c.Close()
				}
			}
			delete(s.m, ts)
		})
	}
	s.m[ts][key] = connSet{conns, nets}
}

// load returns the connections named key, or fails the script.
func (s *connStore) load(ts *testscript.TestScript, key connsKey) connSet {
	s.mu.Lock()
	defer s.mu.Unlock()
	set, ok := s.m[ts][key]
	if !ok {
		ts.Fatalf("sshconns: no connections named %s", key)
	}
	return set
}

// cmdAwaitLog waits (60s at most) until caddy's log has at least N lines
// matching REGEXP.
//
//	await-log N REGEXP
func cmdAwaitLog(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: await-log N REGEXP")
	}
	n, err := strconv.Atoi(args[0])
	ts.Check(err)
	re, err := regexp.Compile(args[1])
	ts.Check(err)
	inst := ts.Value(instanceKey{}).(*instance)
	deadline := time.Now().Add(60 * time.Second)
	for {
		data, _ := os.ReadFile(inst.caddy.LogPath())
		got := len(re.FindAllIndex(data, -1))
		if got >= n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("after 60s caddy's log has %d lines matching %q, want %d; its tail:\n%s", got, args[1], n, inst.caddy.LogTail(40))
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// cmdAwaitContainers waits (60s at most) until exactly N containers, running
// or not, match the docker ps filters (all of them: status=running counts
// running ones only).
//
//	await-containers FILTER... N
func cmdAwaitContainers(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) < 2 {
		ts.Fatalf("usage: await-containers FILTER... N")
	}
	n, err := strconv.Atoi(args[len(args)-1])
	ts.Check(err)
	ps := []string{"ps", "-aq"}
	for _, f := range args[:len(args)-1] {
		ps = append(ps, "--filter", f)
	}
	deadline := time.Now().Add(60 * time.Second)
	for {
		out, err := exec.Command("docker", ps...).Output()
		ts.Check(err)
		got := len(strings.Fields(string(out)))
		if got == n {
			return
		}
		if time.Now().After(deadline) {
			ts.Fatalf("after 60s %d containers match %s, want %d", got, strings.Join(args[:len(args)-1], " "), n)
		}
		time.Sleep(100 * time.Millisecond)
	}
}
