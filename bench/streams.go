package main

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"time"
)

// Long-lived requests to the stream app: a chunked HTTP response and a
// WebSocket, each sending streamTicks ticks streamEvery apart (3 s), then
// "done". A stream survived when every tick and the "done" arrived.
const (
	streamTicks = 30
	streamEvery = 100 * time.Millisecond
)

type streamResult struct {
	kind  string
	ticks int
	done  bool
	err   error
	close string // a WebSocket close frame's code, if one came
}

func (s streamResult) survived() bool { return s.done && s.ticks == streamTicks }

func (s streamResult) String() string {
	if s.survived() {
		return fmt.Sprintf("yes (%d/%d ticks, then done)", s.ticks, streamTicks)
	}
	why := "ended early"
	if s.err != nil {
		why = s.err.Error()
	}
	if s.close != "" {
		why += ", close frame " + s.close
	}
	return fmt.Sprintf("**no**: %d/%d ticks, %s", s.ticks, streamTicks, why)
}

// streamHTTP reads /stream through addr with the given Host.
func streamHTTP(ctx context.Context, addr, host string) streamResult {
	res := streamResult{kind: "chunked HTTP response"}
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET",
		fmt.Sprintf("http://%s/stream?n=%d&every=%s", addr, streamTicks, streamEvery), nil)
	req.Host = host
	resp, err := (&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}).Do(req)
	if err != nil {
		res.err = err
		return res
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		res.err = fmt.Errorf("status %d", resp.StatusCode)
		return res
	}
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		switch line := sc.Text(); {
		case strings.HasPrefix(line, "tick "):
			res.ticks++
		case line == "done":
			res.done = true
		}
	}
	res.err = sc.Err()
	return res
}

// streamWS opens /ws through addr with the given Host and reads its text
// frames.
func streamWS(ctx context.Context, addr, host string) streamResult {
	res := streamResult{kind: "WebSocket"}
	d := net.Dialer{Timeout: 5 * time.Second}
	conn, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		res.err = err
		return res
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(30 * time.Second))
	fmt.Fprintf(conn, "GET /ws?n=%d&every=%s HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n", streamTicks, streamEvery, host)
	br := bufio.NewReader(conn)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		res.err = err
		return res
	}
	if resp.StatusCode != http.StatusSwitchingProtocols {
		res.err = fmt.Errorf("handshake status %d", resp.StatusCode)
		return res
	}
	for {
		var hdr [2]byte
		if _, err := io.ReadFull(br, hdr[:]); err != nil {
			if res.err == nil && !res.done {
				res.err = fmt.Errorf("connection ended: %v", err)
			}
			return res
		}
		opcode := hdr[0] & 0x0f
		n := uint64(hdr[1] & 0x7f)
		switch n {
		case 126:
			var ext [2]byte
			io.ReadFull(br, ext[:])
			n = uint64(binary.BigEndian.Uint16(ext[:]))
		case 127:
			var ext [8]byte
			io.ReadFull(br, ext[:])
			n = binary.BigEndian.Uint64(ext[:])
		}
		if hdr[1]&0x80 != 0 { // masked (a server should not mask)
			var mask [4]byte
			io.ReadFull(br, mask[:])
		}
		payload := make([]byte, min(n, 1<<16))
		if _, err := io.ReadFull(br, payload); err != nil {
			res.err = err
			return res
		}
		switch opcode {
		case 0x1:
			p := string(payload)
			if strings.HasPrefix(p, "tick ") {
				res.ticks++
			} else if p == "done" {
				res.done = true
			}
		case 0x8:
			if len(payload) >= 2 {
				res.close = fmt.Sprint(binary.BigEndian.Uint16(payload[:2]))
			}
			return res
		}
	}
}

// survive opens both streams through addr, runs disrupt a second into
// them, and waits for the streams to end.
func survive(ctx context.Context, addr, host string, disrupt func() error) (httpRes, wsRes streamResult, err error) {
	hc := make(chan streamResult, 1)
	wc := make(chan streamResult, 1)
	go func() { hc <- streamHTTP(ctx, addr, host) }()
	go func() { wc <- streamWS(ctx, addr, host) }()
	time.Sleep(time.Second)
	err = disrupt()
	return <-hc, <-wc, err
}
