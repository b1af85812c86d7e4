package tcproute

import (
	"context"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
)

// emfileOnce fails its first Accept with EMFILE, as accept(2) does when
// the process is out of descriptors, then accepts normally.
type emfileOnce struct {
	net.Listener
	failed atomic.Bool
}

func (l *emfileOnce) Accept() (net.Conn, error) {
	if !l.failed.Swap(true) {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// Running out of file descriptors for a moment (EMFILE, ENFILE) does not
// stop a mapping for good: the accept loop backs off and accepts again,
// as net/http's Server.Serve does.
func TestAcceptRetriesAfterRunningOutOfFileDescriptors(t *testing.T) {
	e := newEnv(t)
	e.r.cfg.Listen = func(port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return nil, err
		}
		return &emfileOnce{Listener: ln}, nil
	}
	ctr := echo(t, "v1")
	e.table.SetTargets("db", []string{"127.0.0.1:1"})
	host := freePort(t)
	e.mapApp(t, "db", host, ctr)
	if err := e.r.Sync(context.Background(), "db"); err != nil {
		t.Fatal(err)
	}
	got, err := ask(t, host, "hello")
	if err != nil || got != "v1 hello" {
		t.Fatalf("after one EMFILE the mapping no longer serves (port still held: %v): got %q, %v", e.r.Ports("db"), got, err)
	}
}

// emfileTimes fails its first n Accepts with EMFILE, then accepts.
type emfileTimes struct {
	net.Listener
	left atomic.Int64
}

func (l *emfileTimes) Accept() (net.Conn, error) {
	if l.left.Add(-1) >= 0 {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// A run of EMFILE is logged once per capLogEvery per mapping, not at
// every retry: out of descriptors, every mapping retries every second
// and the log would bury the cause.
func TestARunOfAcceptErrorsLogsOneLine(t *testing.T) {
	e := newEnv(t)
	var log lockedBuffer
	e.r.log = slog.New(slog.NewTextHandler(&log, nil))
	e.r.cfg.Listen = func(port int) (net.Listener, error) {
		ln, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			return nil, err
		}
		l := &emfileTimes{Listener: ln}
		l.left.Store(6)
		return l, nil
	}
	ctr := echo(t, "v1")
	e.table.SetTargets("db", []string{"127.0.0.1:1"})
	host := freePort(t)
	e.mapApp(t, "db", host, ctr)
	if got, err := ask(t, host, "hello"); err != nil || got != "v1 hello" {
		t.Fatalf("after the EMFILE run: %q, %v", got, err)
	}
	if n := strings.Count(log.String(), "tcp accept failed"); n != 1 {
		t.Fatalf("6 accept errors in a row logged %d lines; want 1:\n%s", n, log.String())
	}
}
