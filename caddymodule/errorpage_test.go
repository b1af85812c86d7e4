package caddymodule

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"syscall"
	"testing"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

func TestErrorPages(t *testing.T) {
	refused := &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	reset := fmt.Errorf("read: %w", &net.OpError{Op: "read", Net: "tcp", Err: os.NewSyscallError("read", syscall.ECONNRESET)})
	for _, tc := range []struct {
		status int
		err    error
		want   string
	}{
		{503, nil, "The app blog is down: its containers are not running."},
		{502, refused, "The app blog refused the connection"},
		// As Caddy's transport returns it: the cause hidden in a DialError.
		{502, reverseproxy.NewDialError(errors.New("dial tcp 10.0.0.2:5000: connect: connection refused")), "The app blog refused the connection"},
		{502, reverseproxy.NewDialError(errors.New("dial tcp 10.0.0.2:5000: connect: no route to host")), "The app blog could not be reached."},
		{502, reset, "The app blog reset the connection before it answered."},
		{502, fmt.Errorf("x: %w", fmt.Errorf("unexpected EOF")), "The app blog did not send a valid response."},
		{504, nil, "The app blog did not answer in time."},
	} {
		page, ok := pageFor("blog", tc.status, tc.err)
		if !ok {
			t.Fatalf("%d: no page", tc.status)
		}
		for _, accept := range []string{"*/*", "text/html,application/xhtml+xml"} {
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("Accept", accept)
			rec := httptest.NewRecorder()
			page.write(rec, r)
			body := rec.Body.String()
			if rec.Code != tc.status {
				t.Errorf("%d: status %d", tc.status, rec.Code)
			}
			html := strings.Contains(accept, "text/html")
			if ct := rec.Header().Get("Content-Type"); strings.HasPrefix(ct, "text/html") != html {
				t.Errorf("%d Accept %s: Content-Type %s", tc.status, accept, ct)
			}
			if !strings.Contains(body, tc.want) || !strings.Contains(body, "ps:report blog") || !strings.Contains(body, "logs blog") {
				t.Errorf("%d Accept %s: body lacks %q or the commands:\n%s", tc.status, accept, tc.want, body)
			}
			// Nothing internal: no address, no Go error text.
			if strings.Contains(body, "connect:") || strings.Contains(body, "dial") || strings.Contains(body, "EOF") || strings.Contains(body, "tcp") {
				t.Errorf("%d: body leaks the error:\n%s", tc.status, body)
			}
		}
	}
	if _, ok := pageFor("blog", http.StatusNotFound, nil); ok {
		t.Error("a 404 got a Berth page")
	}
	// An app name is escaped in HTML (names are DNS names, but the page
	// must not rely on it).
	page, _ := pageFor("<b>", 503, nil)
	r := httptest.NewRequest("GET", "/", nil)
	r.Header.Set("Accept", "text/html")
	rec := httptest.NewRecorder()
	page.write(rec, r)
	if strings.Contains(rec.Body.String(), "<b>") {
		t.Errorf("app name not escaped:\n%s", rec.Body.String())
	}
}
