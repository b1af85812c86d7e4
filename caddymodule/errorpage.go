package caddymodule

import (
	"errors"
	"fmt"
	"html"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp"
	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// Error pages of the berth handler. Caddy answers a proxy error with its
// status and an empty body, which tells a visitor nothing; these say
// which app is down and what failed, in plain text for curl and in HTML
// for a browser. They name the app and nothing else of the host: no
// container, address or error text, which are for the log.

// errorPage says what went wrong with a request for app: status is the
// proxy's (502, 503 or 504) and err its cause.
type errorPage struct {
	Status int
	Title  string
	// What is one sentence: what is wrong.
	What string
	// Try are the commands that show why (for whoever runs the app).
	Try []string
}

// pageFor turns the proxy's error into a page; ok is false for statuses
// the handler leaves to Caddy.
func pageFor(app string, status int, err error) (errorPage, bool) {
	try := []string{"ps:report " + app, "logs " + app}
	switch status {
	case http.StatusServiceUnavailable:
		return errorPage{Status: status, Title: "Service Unavailable",
			What: fmt.Sprintf("The app %s is down: its containers are not running.", app), Try: try}, true
	case http.StatusBadGateway:
		return errorPage{Status: status, Title: "Bad Gateway",
			What: fmt.Sprintf("The app %s %s.", app, upstreamFailure(err)), Try: try}, true
	case http.StatusGatewayTimeout:
		return errorPage{Status: status, Title: "Gateway Timeout",
			What: fmt.Sprintf("The app %s did not answer in time.", app), Try: try}, true
	}
	return errorPage{}, false
}

// upstreamFailure says how the upstream failed, in words a visitor can
// pass on.
func upstreamFailure(err error) string {
	var ne net.Error
	// Caddy's DialError hides the dial's error (it has no Unwrap), so
	// its text is all there is to read.
	var de reverseproxy.DialError
	if errors.As(err, &de) {
		switch msg := de.Error(); {
		case strings.Contains(msg, "connection refused"):
			err = syscall.ECONNREFUSED
		case strings.Contains(msg, "timeout"):
			return "did not answer in time"
		default:
			return "could not be reached"
		}
	}
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused the connection (nothing listens on its port: it may have crashed or still be starting)"
	case errors.Is(err, syscall.ECONNRESET), errors.Is(err, syscall.EPIPE):
		return "reset the connection before it answered"
	case errors.Is(err, io.EOF), errors.Is(err, io.ErrUnexpectedEOF):
		return "closed the connection before it answered"
	case errors.As(err, &ne) && ne.Timeout():
		return "did not answer in time"
	case errors.Is(err, syscall.EHOSTUNREACH), errors.Is(err, syscall.ENETUNREACH):
		return "could not be reached"
	}
	return "did not send a valid response"
}

// write sends the page: HTML when the client asks for it (a browser's
// Accept names text/html), plain text otherwise.
func (p errorPage) write(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if p.Status == http.StatusServiceUnavailable {
		h.Set("Retry-After", "10")
	}
	if strings.Contains(r.Header.Get("Accept"), "text/html") {
		h.Set("Content-Type", "text/html; charset=utf-8")
		w.WriteHeader(p.Status)
		var b strings.Builder
		fmt.Fprintf(&b, "<!DOCTYPE html>\n<html><head><meta charset=\"utf-8\"><title>%d %s</title>\n", p.Status, p.Title)
		b.WriteString("<style>body{font-family:system-ui,sans-serif;max-width:40em;margin:4em auto;padding:0 1em;color:#222}code{background:#eee;padding:.1em .3em}</style></head>\n")
		fmt.Fprintf(&b, "<body><h1>%d %s</h1>\n<p>%s</p>\n", p.Status, p.Title, html.EscapeString(p.What))
		if len(p.Try) > 0 {
			b.WriteString("<p>If you run this app, these commands show why:</p>\n<ul>\n")
			for _, t := range p.Try {
				fmt.Fprintf(&b, "<li><code>%s</code></li>\n", html.EscapeString(t))
			}
			b.WriteString("</ul>\n")
		}
		b.WriteString("</body></html>\n")
		io.WriteString(w, b.String())
		return
	}
	h.Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(p.Status)
	var b strings.Builder
	fmt.Fprintf(&b, "%d %s\n\n%s\n", p.Status, p.Title, p.What)
	if len(p.Try) > 0 {
		b.WriteString("\nIf you run this app, these commands show why:\n")
		for _, t := range p.Try {
			fmt.Fprintf(&b, "    %s\n", t)
		}
	}
	io.WriteString(w, b.String())
}

// headerWatch notes whether a final response has begun, so that an error
// the proxy returns after writing one is left alone (a page cannot follow
// a response already sent).
type headerWatch struct {
	*caddyhttp.ResponseWriterWrapper
	wrote bool
	// status is the final response's code (for the app's metrics); 0
	// until one is written, 200 for a body written without one.
	status int
}

func (w *headerWatch) WriteHeader(status int) {
	if status >= 200 || status == http.StatusSwitchingProtocols {
		w.wrote = true
		if w.status == 0 {
			w.status = status
		}
	}
	w.ResponseWriterWrapper.WriteHeader(status)
}

func (w *headerWatch) Write(b []byte) (int, error) {
	w.wrote = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriterWrapper.Write(b)
}

// ReadFrom is the wrapper's, with the note: a body copied in without a
// Write still means the response began.
func (w *headerWatch) ReadFrom(r io.Reader) (int64, error) {
	w.wrote = true
	if w.status == 0 {
		w.status = http.StatusOK
	}
	return w.ResponseWriterWrapper.ReadFrom(r)
}
