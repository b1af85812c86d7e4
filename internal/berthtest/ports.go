package berthtest

import (
	"fmt"
	"net"
	"slices"
	"sync"
)

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago:
// it listens on port 0 and closes the listener. Another process may take
// the port before the caller does; on a test machine that is rare. The
// kernel may also hand the same port out again right after it was
// closed, which is why a caller that needs several uses Ports.
func FreePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

// Ports hands out free ports and never the same one twice. A script (or a
// benchmark run) finds its ports at different times, some only once a
// feature is switched on (HTTPS, an ACME server), and a port found free
// by listening and closing can come back from the kernel while the first
// holder has not bound it yet. The zero value is ready to use and is safe
// for concurrent use.
type Ports struct {
	mu    sync.Mutex
	taken []int
}

// maxPortTries bounds the search: the kernel handing out only taken ports
// that often means something else is wrong.
const maxPortTries = 100

// Take sets each *p to a free port that this Ports has not handed out
// before, nor holds in any *p already set (a port the caller chose).
func (ps *Ports) Take(p ...*int) error {
	ps.mu.Lock()
	defer ps.mu.Unlock()
	for _, q := range p {
		if *q != 0 {
			ps.taken = append(ps.taken, *q)
		}
	}
	for _, q := range p {
		if *q != 0 {
			continue
		}
		for try := 0; ; try++ {
			if try == maxPortTries {
				return fmt.Errorf("no free port that was not handed out already after %d tries", maxPortTries)
			}
			port, err := FreePort()
			if err != nil {
				return err
			}
			if !slices.Contains(ps.taken, port) {
				*q = port
				ps.taken = append(ps.taken, port)
				break
			}
		}
	}
	return nil
}
