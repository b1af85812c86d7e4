package gitrecv

import (
	"bufio"
	"net"
	"strings"
	"testing"
	"time"

	gossh "golang.org/x/crypto/ssh"
)

// rawDial opens a TCP connection that never speaks SSH, and returns the
// server's first line once the connection ends.
func rawDial(t *testing.T, addr string) <-chan string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	done := make(chan string, 1)
	go func() {
		r := bufio.NewReader(c)
		line, _ := r.ReadString('\n')
		for {
			if _, err := r.ReadByte(); err != nil {
				break
			}
		}
		done <- strings.TrimSpace(line)
	}()
	return done
}

func TestUnauthenticatedConnectionsAreCappedAndTimed(t *testing.T) {
	signer, _ := sshKeygen(t)
	addr, logs := serve(t, signer.PublicKey())
	srv := servers[addr]
	srv.SetLimits(Limits{MaxStartupsPerIP: 3, LoginGraceTime: 500 * time.Millisecond})

	var held []<-chan string
	for range 3 {
		held = append(held, rawDial(t, addr))
	}
	// Wait until the three are accepted, so the next ones meet the cap.
	deadline := time.Now().Add(10 * time.Second)
	for {
		srv.mu.Lock()
		n := srv.startupsByIP["127.0.0.1"]
		srv.mu.Unlock()
		if n == 3 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d connections accepted, want 3", n)
		}
		time.Sleep(5 * time.Millisecond)
	}
	for range 2 {
		line := <-rawDial(t, addr)
		if !strings.Contains(line, "too many unauthenticated SSH connections from 127.0.0.1 (3)") {
			t.Fatalf("refused connection got %q", line)
		}
	}
	for _, h := range held {
		if line := <-h; !strings.HasPrefix(line, "SSH-2.0-Berth") {
			t.Fatalf("held connection got %q", line)
		}
	}
	if !strings.Contains(logs.String(), "not authenticated within the login grace time") {
		t.Fatalf("the log does not say why the connections were closed:\n%s", logs)
	}
	// The slots are free again: a real client gets in.
	if err := dial(addr, signer); err != nil {
		t.Fatal(err)
	}
	// Every slot is given back: the held connections' once the grace
	// time closed them (the log line above is written by the first of
	// them; the others may still be closing), the real client's once it
	// authenticated. Released, not leaked: wait for it, within bounds.
	deadline = time.Now().Add(10 * time.Second)
	for {
		srv.mu.Lock()
		startups, byIP := srv.startups, len(srv.startupsByIP)
		srv.mu.Unlock()
		if startups == 0 && byIP == 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("slots leaked: %d startups, %d addresses still counted 10 s after the connections ended", startups, byIP)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestIdleAuthenticatedConnectionIsClosed(t *testing.T) {
	signer, _ := sshKeygen(t)
	addr, logs := serve(t, signer.PublicKey())
	servers[addr].SetLimits(Limits{IdleTimeout: 300 * time.Millisecond})
	c, err := gossh.Dial("tcp", addr, &gossh.ClientConfig{
		User:            "berth",
		Auth:            []gossh.AuthMethod{gossh.PublicKeys(signer)},
		HostKeyCallback: gossh.InsecureIgnoreHostKey(),
	})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	closed := make(chan error, 1)
	go func() { closed <- c.Wait() }()
	select {
	case <-closed:
	case <-time.After(30 * time.Second):
		t.Fatal("an idle connection stayed open")
	}
	if !strings.Contains(logs.String(), "no command ran on it for the idle timeout") {
		t.Fatalf("the log does not say why:\n%s", logs)
	}
}

func TestSessionsPerKey(t *testing.T) {
	s := NewServer(nil, nil)
	s.SetLimits(Limits{MaxSessionsPerKey: 2, MaxSessionsPerAdminKey: 3})
	r1, err := s.acquireSession("k", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.acquireSession("k", false); err != nil {
		t.Fatal(err)
	}
	_, err = s.acquireSession("k", false)
	if err == nil || !strings.Contains(err.Error(), "too many sessions for this key (2 open)") || !strings.Contains(err.Error(), "ssh_max_sessions_per_key") {
		t.Fatalf("third session: %v", err)
	}
	if _, err := s.acquireSession("other", false); err != nil {
		t.Fatalf("another key is held back: %v", err)
	}
	r1()
	r1() // twice is once
	if _, err := s.acquireSession("k", false); err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := s.acquireSession("k", false); err == nil {
		t.Fatal("a double release freed two slots")
	}
	for range 3 {
		if _, err := s.acquireSession("admin", true); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.acquireSession("admin", true); err == nil || !strings.Contains(err.Error(), "ssh_max_sessions_per_admin_key") {
		t.Fatalf("fourth admin session: %v", err)
	}
}
