//go:build !linux

package appproxy

import (
	"errors"
	"net"
	"time"
)

// setUnackedTimeout has no portable form (TCP_USER_TIMEOUT is Linux's):
// elsewhere a vanished host's connection waits for the kernel's bound.
func setUnackedTimeout(net.Conn, time.Duration) error {
	return errors.New("no TCP_USER_TIMEOUT on this system")
}
