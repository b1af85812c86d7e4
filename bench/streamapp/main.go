// Command streamapp is the tiny app the benchmarks run in a container next
// to busybox httpd. It is built static, imported as an image, and listens
// on $PORT with keep-alive. It serves:
//
//	/             a short fixed body (the proxy benchmark's backend)
//	/64k          a 64 KiB body that starts with "streamapp"
//	/stream       a chunked response that sends "tick N" lines for a while
//	/ws           a WebSocket handshake, then text frames "tick N" for a while
//
// /stream and /ws take n (how many ticks, default 30) and every (the gap
// between ticks, default 100ms), and end with a "done" line or frame, so a
// client can tell a stream that ran to its end from one that was cut.
package main

import (
	"bufio"
	"bytes"
	"crypto/sha1"
	"encoding/base64"
	"fmt"
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
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write([]byte("streamapp\n"))
	})
	// /64k: a 64 KiB body (issue 16's large-response case); it starts
	// with the name so the load generator's body check still holds.
	big := append([]byte("streamapp\n"), bytes.Repeat([]byte("x"), 64<<10-len("streamapp\n"))...)
	mux.HandleFunc("/64k", func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "text/plain")
		w.Write(big)
	})
	mux.HandleFunc("/stream", serveStream)
	mux.HandleFunc("/ws", serveWS)
	srv := &http.Server{Addr: ":" + port, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	log.Fatal(srv.ListenAndServe())
}

func params(r *http.Request) (n int, every time.Duration) {
	n, every = 30, 100*time.Millisecond
	if v, err := strconv.Atoi(r.URL.Query().Get("n")); err == nil && v > 0 && v <= 10000 {
		n = v
	}
	if v, err := time.ParseDuration(r.URL.Query().Get("every")); err == nil && v > 0 && v <= 10*time.Second {
		every = v
	}
	return n, every
}

func serveStream(w http.ResponseWriter, r *http.Request) {
	n, every := params(r)
	w.Header().Set("Content-Type", "text/plain")
	w.WriteHeader(http.StatusOK)
	rc := http.NewResponseController(w)
	for i := 1; i <= n; i++ {
		if _, err := fmt.Fprintf(w, "tick %d\n", i); err != nil {
			return
		}
		rc.Flush()
		select {
		case <-time.After(every):
		case <-r.Context().Done():
			return
		}
	}
	fmt.Fprintln(w, "done")
}

// serveWS answers a WebSocket handshake and sends unmasked text frames
// (server to client); it reads nothing from the client.
func serveWS(w http.ResponseWriter, r *http.Request) {
	n, every := params(r)
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
	if err := brw.Flush(); err != nil {
		return
	}
	send := func(w *bufio.ReadWriter, opcode byte, payload string) error {
		w.Write([]byte{0x80 | opcode, byte(len(payload))})
		w.WriteString(payload)
		return w.Flush()
	}
	for i := 1; i <= n; i++ {
		if err := send(brw, 0x1, fmt.Sprintf("tick %d", i)); err != nil {
			return
		}
		time.Sleep(every)
	}
	send(brw, 0x1, "done")
	send(brw, 0x8, "\x03\xe8") // close, 1000 normal closure
}
