//go:build linux

package appproxy

import (
	"errors"
	"net"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// setUnackedTimeout sets nc's TCP_USER_TIMEOUT to d: how long sent data
// may go unacknowledged before the kernel ends the connection with
// ETIMEDOUT. With d > 0 it also has the kernel probe the connection
// after keepAliveIdle without a byte from the app, every second
// (SO_KEEPALIVE): a request the app's host acknowledged and then
// vanished sends nothing more, so without probes only
// proxy_read_timeout would end it; with them it ends d after the first
// unanswered probe. A host that is there answers a probe from its
// kernel, however long its app takes. d == 0 restores the kernel's own
// bound and leaves the probes.
func setUnackedTimeout(nc net.Conn, d time.Duration) error {
	sc, ok := nc.(syscall.Conn)
	if !ok {
		return errors.New("not a socket")
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return err
	}
	var serr error
	if err := rc.Control(func(fd uintptr) {
		serr = unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_USER_TIMEOUT, int(d/time.Millisecond))
		if serr != nil || d == 0 {
			return
		}
		serr = errors.Join(
			unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_KEEPALIVE, 1),
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPIDLE, int(keepAliveIdle/time.Second)),
			unix.SetsockoptInt(int(fd), unix.IPPROTO_TCP, unix.TCP_KEEPINTVL, 1))
	}); err != nil {
		return err
	}
	return serr
}
