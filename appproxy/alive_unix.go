//go:build unix

package appproxy

import (
	"errors"
	"syscall"
)

// alive says whether an idle connection can carry a request: the app
// has neither closed it nor sent anything on it. One non-blocking peek
// (a syscall per reused connection) stands in for the read loop Go's
// transport keeps on every idle connection to notice the same.
func (pc *conn) alive() bool {
	sc, ok := pc.nc.(syscall.Conn)
	if !ok {
		return true // not a socket: the retry covers it
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	var buf [1]byte
	alive := false
	err = rc.Read(func(fd uintptr) bool {
		_, _, err := syscall.Recvfrom(int(fd), buf[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		// Nothing to read (EAGAIN) is the one healthy answer: 0 is
		// the app's FIN, n > 0 bytes it should not have sent, any
		// other error a reset.
		alive = errors.Is(err, syscall.EAGAIN) || errors.Is(err, syscall.EWOULDBLOCK)
		return true
	})
	return err == nil && alive
}
