// Command wsapp is the websocket app of the end-to-end suite
// (testdata/websocket.txtar), and the app that keeps its connections
// alive in serial/scheduler_swarm_nodes_cut.txtar (wsappbin). It is built static and imported as the image
// berth-test/wsapp (no registry is reachable); an app's Dockerfile builds
// FROM it and sets WS_VERSION. It listens on $PORT and serves:
//
//	/     "wsapp WS_VERSION", a plain page for the checks and the scripts
//	/slow?s=N  "wsapp WS_VERSION slow" after N seconds (node loss: a
//	      request in flight when its node vanished)
//	/ws   a websocket (RFC 6455, by hand: the suite adds no dependency)
//	      that answers each text message with "WS_VERSION: MESSAGE",
//	      each binary message with the same bytes, a ping with a pong
//	      and a close with a close
//
// The version in every answer says which release's container holds a
// connection, across a deploy.
package main

import (
	"bufio"
	"crypto/sha1"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"os"
	"strconv"
	"time"
)

func main() {
	port := os.Getenv("PORT")
	if port == "" {
		port = "5000"
	}
	version := os.Getenv("WS_VERSION")
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "wsapp %s\n", version)
	})
	// /slow?s=N answers after N seconds (at most 60): a request in
	// flight for a while, for the node-loss script.
	mux.HandleFunc("/slow", func(w http.ResponseWriter, r *http.Request) {
		n, err := strconv.Atoi(r.URL.Query().Get("s"))
		if err != nil || n < 0 || n > 60 {
			http.Error(w, "s=SECONDS (0 to 60)", http.StatusBadRequest)
			return
		}
		time.Sleep(time.Duration(n) * time.Second)
		fmt.Fprintf(w, "wsapp %s slow\n", version)
	})
	mux.HandleFunc("/ws", func(w http.ResponseWriter, r *http.Request) { serveWS(w, r, version) })
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

// Opcodes of RFC 6455.
const (
	opText   = 0x1
	opBinary = 0x2
	opClose  = 0x8
	opPing   = 0x9
	opPong   = 0xa
)

func serveWS(w http.ResponseWriter, r *http.Request, version string) {
	key := r.Header.Get("Sec-WebSocket-Key")
	if r.Header.Get("Upgrade") != "websocket" || key == "" {
		http.Error(w, "websocket handshake expected", http.StatusBadRequest)
		return
	}
	conn, brw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return
	}
	defer conn.Close()
	sum := sha1.Sum([]byte(key + "258EAFA5-E914-47DA-95CA-C5AB0DC85B11"))
	fmt.Fprintf(brw, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n",
		base64.StdEncoding.EncodeToString(sum[:]))
	if brw.Flush() != nil {
		return
	}
	for {
		op, payload, err := readFrame(brw.Reader)
		if err != nil {
			log.Printf("ws: %v", err)
			return
		}
		switch op {
		case opText:
			err = writeFrame(brw.Writer, opText, []byte(version+": "+string(payload)))
		case opBinary:
			err = writeFrame(brw.Writer, opBinary, payload)
		case opPing:
			err = writeFrame(brw.Writer, opPong, payload)
		case opClose:
			writeFrame(brw.Writer, opClose, payload)
			return
		}
		if err != nil {
			return
		}
	}
}

// readFrame reads one client frame, which must be masked and final (the
// suite's client sends no fragments), and returns it unmasked.
func readFrame(r *bufio.Reader) (byte, []byte, error) {
	var hdr [2]byte
	if _, err := io.ReadFull(r, hdr[:]); err != nil {
		return 0, nil, err
	}
	if hdr[0]&0x80 == 0 {
		return 0, nil, errors.New("fragmented frames are not supported")
	}
	if hdr[1]&0x80 == 0 {
		return 0, nil, errors.New("a client frame must be masked")
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
		return 0, nil, fmt.Errorf("frame of %d bytes is too large", n)
	}
	var mask [4]byte
	if _, err := io.ReadFull(r, mask[:]); err != nil {
		return 0, nil, err
	}
	payload := make([]byte, n)
	if _, err := io.ReadFull(r, payload); err != nil {
		return 0, nil, err
	}
	for i := range payload {
		payload[i] ^= mask[i%4]
	}
	return hdr[0] & 0x0f, payload, nil
}

// writeFrame writes one final, unmasked server frame.
func writeFrame(w *bufio.Writer, op byte, payload []byte) error {
	w.WriteByte(0x80 | op)
	switch n := len(payload); {
	case n < 126:
		w.WriteByte(byte(n))
	case n <= 0xffff:
		w.WriteByte(126)
		binary.Write(w, binary.BigEndian, uint16(n))
	default:
		w.WriteByte(127)
		binary.Write(w, binary.BigEndian, uint64(n))
	}
	w.Write(payload)
	return w.Flush()
}
