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
// (SO_KEEPALIVE). With TCP_USER_TIMEOUT set the kernel ignores the probe
// count: it ends the connection at the first probe tick at which the
// app's host has been silent for d with a probe out (Linux's
// tcp_keepalive_timer), so d must leave room for several probes after
// keepAliveIdle. d == 0 restores the kernel's own bound (and its probe
// count) and leaves the probes.
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
