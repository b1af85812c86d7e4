package tests

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"time"

	"github.com/rogpeppe/go-internal/testscript"

	"github.com/berth-paas/berth/internal/berthtest"
)

// WSAppImage is the websocket app's image (wsapp/): a static Go binary
// FROM nothing, made with docker import (no registry is reachable).
const WSAppImage = "berth-test/wsapp"

var wsAppImage struct {
	once sync.Once
	err  error
}

// cmdWSAppImage builds wsapp/ static and imports it as WSAppImage, once
// per run of the suite.
//
//	wsappimage
func cmdWSAppImage(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 0 {
		ts.Fatalf("usage: wsappimage")
	}
	wsAppImage.once.Do(func() {
		root, err := os.MkdirTemp("", "berth-wsapp-")
		if err != nil {
			wsAppImage.err = err
			return
		}
		defer os.RemoveAll(root)
		if err := berthtest.GoBuild(moduleRoot, filepath.Join(root, "wsapp"), "./tests/wsapp", nil, "CGO_ENABLED=0"); err != nil {
			wsAppImage.err = err
			return
		}
		wsAppImage.err = berthtest.DockerImport(root, WSAppImage, `CMD ["/wsapp"]`)
	})
	ts.Check(wsAppImage.err)
}

// cmdWSAppBin builds wsapp/ static into the script's PATH (Go's build
// cache makes it quick after the first): an app binary for a script's
// own Dockerfile, one that keeps its connections alive (Go's server),
// where busybox httpd closes each.
//
//	wsappbin PATH
func cmdWSAppBin(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: wsappbin PATH")
	}
	ts.Check(berthtest.GoBuild(moduleRoot, ts.MkAbs(args[0]), "./tests/wsapp", nil, "CGO_ENABLED=0"))
}

// wsConns are the websockets scripts hold open by name (ws open).
var wsConns sync.Map // "script-pointer name" → *wsConn

type wsConn struct {
	c net.Conn
	r *bufio.Reader
}

// wsTimeout bounds every read and write of a websocket command.
const wsTimeout = 10 * time.Second

// cmdWS is a websocket client (RFC 6455, by hand: no new dependency) that
// connects through the script's Berth, on 127.0.0.1:$HTTP_PORT:
//
//	ws open NAME HOST      handshake on /ws with Host HOST (101, and the
//	                       Sec-WebSocket-Accept the key asks for); the
//	                       connection is kept as NAME
//	ws send NAME MESSAGE   send a text message, print the text answer
//	! ws send NAME MESSAGE the send or its answer fails (the connection
//	                       was closed)
//	ws big NAME N          send N random bytes as a binary message; the
//	                       answer must be the same bytes
//	ws ping NAME           a ping must get its pong
//	ws close NAME          a close (1000) must get a close back
//	ws closed NAME SECONDS the other side ends the connection (a close
//	                       frame, or EOF) within SECONDS
func cmdWS(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 || (neg && args[0] != "send") {
		ts.Fatalf("usage: ws open|send|big|ping|close|closed NAME ... (only send negates)")
	}
	key := fmt.Sprintf("%p %s", ts, args[1])
	conn := func() *wsConn {
		v, ok := wsConns.Load(key)
		if !ok {
			ts.Fatalf("no websocket %s: ws open it first", args[1])
		}
		return v.(*wsConn)
	}
	switch args[0] {
	case "open":
		if len(args) != 3 {
			ts.Fatalf("usage: ws open NAME HOST")
		}
		inst := ts.Value(instanceKey{}).(*instance)
		c, err := wsDial(fmt.Sprintf("127.0.0.1:%d", inst.config.HTTPPort), args[2])
		ts.Check(err)
		wsConns.Store(key, c)
		ts.Defer(func() { c.c.Close(); wsConns.Delete(key) })
	case "send":
		if len(args) != 3 {
			ts.Fatalf("usage: ws send NAME MESSAGE")
		}
		op, answer, err := conn().roundTrip(opText, []byte(args[2]))
		if err == nil && op != opText {
			err = fmt.Errorf("answer of opcode %#x, not text", op)
		}
		if neg {
			if err == nil {
				ts.Fatalf("websocket %s still answers: %q", args[1], answer)
			}
			ts.Logf("websocket %s: %v", args[1], err)
			return
		}
		if err != nil {
			ts.Fatalf("websocket %s: %v", args[1], err)
		}
		fmt.Fprintf(ts.Stdout(), "%s\n", answer)
	case "big":
		if len(args) != 3 {
			ts.Fatalf("usage: ws big NAME N")
		}
		n, err := strconv.Atoi(args[2])
		ts.Check(err)
		msg := make([]byte, n)
		rand.Read(msg)
		op, answer, err := conn().roundTrip(opBinary, msg)
		if err != nil {
			ts.Fatalf("websocket %s: %v", args[1], err)
		}
		if op != opBinary || !bytes.Equal(answer, msg) {
			ts.Fatalf("websocket %s: sent %d bytes, got %d back (opcode %#x), not the same", args[1], n, len(answer), op)
		}
		fmt.Fprintf(ts.Stdout(), "echoed %d bytes\n", n)
	case "ping":
		op, _, err := conn().roundTrip(opPing, []byte("berth"))
		ts.Check(err)
		if op != opPong {
			ts.Fatalf("websocket %s: a ping got opcode %#x, not a pong", args[1], op)
		}
	case "close":
		c := conn()
		op, payload, err := c.roundTrip(opClose, []byte{0x03, 0xe8})
		ts.Check(err)
		if op != opClose {
			ts.Fatalf("websocket %s: a close got opcode %#x back", args[1], op)
		}
		fmt.Fprintf(ts.Stdout(), "closed %d\n", closeCode(payload))
		c.c.Close()
		wsConns.Delete(key)
	case "closed":
		if len(args) != 3 {
			ts.Fatalf("usage: ws closed NAME SECONDS")
		}
		secs, err := strconv.Atoi(args[2])
		ts.Check(err)
		c := conn()
		start := time.Now()
		c.c.SetReadDeadline(start.Add(time.Duration(secs) * time.Second))
		for {
			op, payload, err := readWSFrame(c.r)
			if err == nil && op == opClose {
				fmt.Fprintf(ts.Stdout(), "closed by a close frame %d after %s\n", closeCode(payload), time.Since(start).Round(time.Second))
				return
			}
			var ne net.Error
			switch {
			case errors.As(err, &ne) && ne.Timeout():
				ts.Fatalf("websocket %s is still open after %d s", args[1], secs)
			case errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) || errors.Is(err, syscall.ECONNRESET):
				// The peer went away (its container stopped): the only
				// ways a connection ends without a close frame.
				ts.Logf("websocket %s ended after %s: %v", args[1], time.Since(start).Round(time.Millisecond), err)
				fmt.Fprintln(ts.Stdout(), "closed without a close frame")
				return
			case err != nil:
				// A malformed frame or a local error is a failure, not an end.
				ts.Fatalf("websocket %s: reading after %s: %v", args[1], time.Since(start).Round(time.Millisecond), err)
			}
			ts.Logf("websocket %s: a frame of opcode %#x while waiting for the end", args[1], op)
		}
	default:
		ts.Fatalf("ws: unknown subcommand %q", args[0])
	}
}

// Opcodes of RFC 6455.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

func closeCode(payload []byte) int {
	if len(payload) < 2 {
		return 0
	}
	return int(binary.BigEndian.Uint16(payload))
}

// wsDial opens a websocket to /ws through addr with the given Host and
// checks the handshake's answer.
func wsDial(addr, host string) (*wsConn, error) {
	c, err := net.DialTimeout("tcp", addr, 5*time.Second)
	if err != nil {
		return nil, err
	}
	c.SetDeadline(time.Now().Add(wsTimeout))
	var nonce [16]byte
	rand.Read(nonce[:])
	key := base64.StdEncoding.EncodeToString(nonce[:])
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: %s\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: %s\r\nSec-WebSocket-Version: 13\r\n\r\n", host, key)
	r := bufio.NewReader(c)
	resp, err := http.ReadResponse(r, nil)
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("handshake: %w", err)
	}
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	want := base64.StdEncoding.EncodeToString(sum[:])
	if resp.StatusCode != http.StatusSwitchingProtocols || resp.Header.Get("Sec-WebSocket-Accept") != want {
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
		c.Close()
		return nil, fmt.Errorf("handshake answered %s, Upgrade %q, Sec-WebSocket-Accept %q (want %q): %s",
			resp.Status, resp.Header.Get("Upgrade"), resp.Header.Get("Sec-WebSocket-Accept"), want, body)
	}
	c.SetDeadline(time.Time{})
	return &wsConn{c: c, r: r}, nil
}

// roundTrip sends one masked frame and reads the answer's frame.
func (w *wsConn) roundTrip(op byte, payload []byte) (byte, []byte, error) {
	w.c.SetDeadline(time.Now().Add(wsTimeout))
	defer w.c.SetDeadline(time.Time{})
	var mask [4]byte
	rand.Read(mask[:])
	var frame bytes.Buffer
	frame.WriteByte(0x80 | op)
	switch n := len(payload); {
	case n < 126:
		frame.WriteByte(0x80 | byte(n))
	case n <= 0xffff:
		frame.WriteByte(0x80 | 126)
		binary.Write(&frame, binary.BigEndian, uint16(n))
	default:
		frame.WriteByte(0x80 | 127)
		binary.Write(&frame, binary.BigEndian, uint64(n))
	}
	frame.Write(mask[:])
	for i, b := range payload {
		frame.WriteByte(b ^ mask[i%4])
	}
	if _, err := w.c.Write(frame.Bytes()); err != nil {
		return 0, nil, fmt.Errorf("send: %w", err)
	}
	op, answer, err := readWSFrame(w.r)
	if err != nil {
		return 0, nil, fmt.Errorf("no answer: %w", err)
	}
	return op, answer, nil
}

// readWSFrame reads one final, unmasked server frame.
func readWSFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	if hdr[0]&0x80 == 0 || hdr[1]&0x80 != 0 {
		return 0, nil, fmt.Errorf("a fragmented or masked server frame (%#x %#x)", hdr[0], hdr[1])
	}
	n := uint64(hdr[1] & 0x7f)
	switch n {
	case 126:
		var ext [2]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = uint64(binary.BigEndian.Uint16(ext[:]))
	case 127:
		var ext [8]byte
		if _, err := io.ReadFull(r, ext[:]); err != nil {
			return 0, nil, err
		}
		n = binary.BigEndian.Uint64(ext[:])
	}
	if n > 1<<20 {
		return 0, nil, fmt.Errorf("a server frame of %d bytes", n)
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	return hdr[0] & 0x0f, payload, nil
}
