package dashboard

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/berth-paas/berth/commands"
)

// Live streams against a fake command runner: `logs -t` follows until its
// context ends, as the real one follows Docker's log; builds:list shows a
// build that never ends.

type fakeRunner struct {
	mu      sync.Mutex
	started chan struct{} // a `logs -t` began
	polled  chan struct{} // builds:output ran
	output  string        // builds:output's
	froms   []string      // builds:output's --from, each time
	midway  func()        // called between the lines of a `logs` without -t
	fail    error         // what `logs` without -t returns
}

func newFakeRunner() *fakeRunner {
	return &fakeRunner{started: make(chan struct{}, 16), polled: make(chan struct{}, 1000)}
}

func (f *fakeRunner) exec(ctx context.Context, _ *commands.Backend, args []string, io commands.IO) error {
	switch args[0] {
	case "logs":
		fmt.Fprintln(io.Stdout, "web.1: hello")
		for _, a := range args {
			if a == "-t" {
				f.started <- struct{}{}
				<-ctx.Done()
				return ctx.Err()
			}
		}
		if f.midway != nil {
			f.midway()
		}
		if f.fail != nil {
			fmt.Fprintln(io.Stderr, " !     "+f.fail.Error())
			return f.fail
		}
		fmt.Fprintln(io.Stdout, "web.1: bye")
		return nil
	case "builds:list":
		fmt.Fprintln(io.Stdout, `[{"id":1,"status":"running"}]`)
		return nil
	case "builds:output":
		f.mu.Lock()
		defer f.mu.Unlock()
		out := f.output
		for i, a := range args {
			if a == "--from" {
				f.froms = append(f.froms, args[i+1])
				var n int
				fmt.Sscan(args[i+1], &n)
				out = out[min(n, len(out)):]
			}
		}
		fmt.Fprint(io.Stdout, out)
		f.polled <- struct{}{}
		return nil
	}
	return errors.New("fake: " + args[0])
}

// openStream serves path in the background; the channel is closed when
// the handler returns.
func openStream(d *Dashboard, c *http.Cookie, path string) (*httptest.ResponseRecorder, chan struct{}) {
	r := httptest.NewRequest("GET", "http://dash.example.test"+path, nil)
	r.Header.Set("Cookie", c.String())
	w := httptest.NewRecorder()
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.ServeHTTP(w, r)
	}()
	return w, done
}

// ended waits for a stream's handler to return; a stream that does not
// end fails the test (after a minute, not a timing assertion: a broken
// build hangs for ever).
func ended(t *testing.T, done chan struct{}, what string) {
	t.Helper()
	select {
	case <-done:
	case <-time.After(time.Minute):
		t.Fatalf("%s: the stream is still open", what)
	}
}

func streamTest(t *testing.T) (*Dashboard, *fakeRunner, *atomic.Bool) {
	var revoked atomic.Bool
	d := New(Config{StillGranted: func(context.Context, commands.LoginGrant) error {
		if revoked.Load() {
			return errors.New("key removed")
		}
		return nil
	}})
	d.SetHost("dash.example.test", 0, nil)
	f := newFakeRunner()
	d.cmds.exec = f.exec
	return d, f, &revoked
}

// A deploy key's live log ends when its session does: logout-all,
// the app's sessions ended, sign-out, or the key removed (found at the
// next heartbeat).
func TestLiveLogsEndWithTheSession(t *testing.T) {
	blog := commands.LoginGrant{App: "blog", Key: "SHA256:deploy"}
	ends := map[string]func(d *Dashboard, c *http.Cookie, revoked *atomic.Bool){
		"logout-all":    func(d *Dashboard, _ *http.Cookie, _ *atomic.Bool) { d.LogoutAll() },
		"app destroyed": func(d *Dashboard, _ *http.Cookie, _ *atomic.Bool) { d.EndAppSessions("blog") },
		"sign-out":      func(d *Dashboard, c *http.Cookie, _ *atomic.Bool) { d.sessions.end(c.Value) },
		"key removed":   func(_ *Dashboard, _ *http.Cookie, revoked *atomic.Bool) { revoked.Store(true) },
	}
	for name, end := range ends {
		t.Run(name, func(t *testing.T) {
			d, f, revoked := streamTest(t)
			d.heartbeat = 10 * time.Millisecond
			c := signInAs(t, d, blog)
			w, done := openStream(d, c, "/apps/blog/logs/stream")
			<-f.started
			end(d, c, revoked)
			ended(t, done, name)
			if !strings.Contains(w.Body.String(), "data: web.1: hello") || !strings.Contains(w.Body.String(), "event: failed\ndata: The session has ended") {
				t.Errorf("stream: %q", w.Body)
			}
			// And it cannot come back.
			if w := do(d, "GET", "/apps/blog/logs/stream", nil, http.Header{"Cookie": {c.String()}}); w.Code != http.StatusUnauthorized {
				t.Errorf("reconnect: %d", w.Code)
			}
		})
	}
}

// A build's live log ends when the session does (logout-all), and at the
// next poll when its key is removed.
func TestBuildStreamEndsWithTheSession(t *testing.T) {
	blog := commands.LoginGrant{App: "blog", Key: "SHA256:deploy"}
	for _, name := range []string{"logout-all", "key removed"} {
		t.Run(name, func(t *testing.T) {
			d, f, revoked := streamTest(t)
			f.output = "step 1\n"
			c := signInAs(t, d, blog)
			w, done := openStream(d, c, "/apps/blog/builds/current/stream")
			<-f.polled
			if name == "logout-all" {
				d.LogoutAll()
			} else {
				revoked.Store(true)
			}
			ended(t, done, name)
			if !strings.Contains(w.Body.String(), "event: failed\ndata: The session has ended") {
				t.Errorf("stream: %q", w.Body)
			}
		})
	}
}

// afterReturn is a ResponseWriter that counts writes made after the
// handler returned (when w belongs to the server again).
type afterReturn struct {
	*httptest.ResponseRecorder
	mu       sync.Mutex
	returned bool
	late     int
}

func (a *afterReturn) Write(p []byte) (int, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.returned {
		a.late++
		return len(p), nil
	}
	return a.ResponseRecorder.Write(p)
}

// The heartbeat is over before the live log's handler returns: a check
// of the session still running when the browser leaves does not write
// to the response afterwards.
func TestHeartbeatEndsBeforeTheHandlerReturns(t *testing.T) {
	inCheck := make(chan struct{}, 1)
	returned := make(chan struct{})
	var armed atomic.Bool // from when the stream runs: the heartbeat's checks
	d := New(Config{StillGranted: func(ctx context.Context, _ commands.LoginGrant) error {
		if !armed.Load() {
			return nil
		}
		select {
		case inCheck <- struct{}{}:
		default:
			return nil // a later heartbeat
		}
		<-ctx.Done() // the browser leaves during the check
		select {
		case <-returned:
		case <-time.After(time.Second): // the fixed handler waits for this check
		}
		return nil
	}})
	d.SetHost("dash.example.test", 0, nil)
	f := newFakeRunner()
	d.cmds.exec = f.exec
	c := signInAs(t, d, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	d.heartbeat = time.Millisecond
	ctx, leave := context.WithCancel(context.Background())
	r := httptest.NewRequest("GET", "http://dash.example.test/apps/blog/logs/stream", nil).WithContext(ctx)
	r.Header.Set("Cookie", c.String())
	w := &afterReturn{ResponseRecorder: httptest.NewRecorder()}
	done := make(chan struct{})
	go func() {
		defer close(done)
		d.ServeHTTP(w, r)
	}()
	<-f.started
	armed.Store(true)
	<-inCheck
	leave()
	ended(t, done, "browser left")
	w.mu.Lock()
	w.returned = true
	w.mu.Unlock()
	close(returned)
	time.Sleep(100 * time.Millisecond) // time for a stray heartbeat to write
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.late > 0 {
		t.Errorf("%d writes after the handler returned", w.late)
	}
	if d.sessions.sessionFor(c.Value, "dash.example.test") == nil {
		t.Error("the browser leaving during a check ended the session")
	}
}

// One key's sessions may hold only so many live streams at once (each a
// Docker log followed): the next gets 429 saying what to do; another
// key is not held back, and a closed stream frees its slot.
func TestLiveStreamsPerKeyAreCapped(t *testing.T) {
	d, f, _ := streamTest(t)
	d.SetStreamLimits(2, 5)
	blog := commands.LoginGrant{App: "blog", Key: "SHA256:deploy"}
	var leave []context.CancelFunc
	var dones []chan struct{}
	for i := 0; i < 2; i++ {
		c := signInAs(t, d, blog) // a session each: the cap is the key's
		ctx, cancel := context.WithCancel(context.Background())
		r := httptest.NewRequest("GET", "http://dash.example.test/apps/blog/logs/stream", nil).WithContext(ctx)
		r.Header.Set("Cookie", c.String())
		done := make(chan struct{})
		go func() { defer close(done); d.ServeHTTP(httptest.NewRecorder(), r) }()
		<-f.started
		leave, dones = append(leave, cancel), append(dones, done)
	}
	c := signInAs(t, d, blog)
	for _, path := range []string{"/apps/blog/logs/stream", "/apps/blog/builds/current/stream"} {
		w, done := openStream(d, c, path)
		select {
		case <-done:
		case <-f.started:
			t.Fatalf("%s: a third stream was served", path)
		case <-f.polled:
			t.Fatalf("%s: a third stream was served", path)
		}
		if w.Code != http.StatusTooManyRequests || !strings.Contains(w.Body.String(), "Too many live views for this key (2 open)") || !strings.Contains(w.Body.String(), "ssh_max_sessions_per_key") {
			t.Errorf("%s: %d %s", path, w.Code, w.Body)
		}
	}
	// Another key's session is not held back.
	other := signInAs(t, d, commands.LoginGrant{App: "blog", Key: "SHA256:other"})
	wo, doneOther := openStream(d, other, "/apps/blog/logs/stream")
	<-f.started
	// A closed stream frees its slot.
	leave[0]()
	ended(t, dones[0], "browser left")
	w, done := openStream(d, c, "/apps/blog/logs/stream")
	<-f.started
	leave[1]()
	ended(t, dones[1], "browser left")
	d.LogoutAll()
	ended(t, done, "logout-all")
	ended(t, doneOther, "logout-all")
	if w.Code != http.StatusOK || wo.Code != http.StatusOK {
		t.Errorf("after one closed: %d %s; another key: %d", w.Code, w.Body, wo.Code)
	}
}

// The live build log reads the log from the byte it sent last, not the
// whole log each poll, and sends each line once.
func TestBuildStreamReadsFromWhereItWas(t *testing.T) {
	d, f, _ := streamTest(t)
	f.output = "step 1\n"
	c := signInAs(t, d, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	w, done := openStream(d, c, "/apps/blog/builds/current/stream")
	<-f.polled
	f.mu.Lock()
	f.output += "step 2\n"
	f.mu.Unlock()
	<-f.polled
	<-f.polled
	d.LogoutAll()
	ended(t, done, "logout-all")
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.froms) < 3 || f.froms[0] != "0" || f.froms[len(f.froms)-1] != "14" {
		t.Errorf("--from of each poll: %v, want 0 first, 14 (both lines sent) last", f.froms)
	}
	if got := strings.Count(w.Body.String(), "data: step"); got != 2 {
		t.Errorf("%d lines sent, want 2: %q", got, w.Body)
	}
}

// The log download is sent as logs writes it, not gathered first; a
// command that fails before writing still gets an error page.
func TestLogDownloadIsStreamed(t *testing.T) {
	d, f, _ := streamTest(t)
	c := signInAs(t, d, commands.LoginGrant{App: "blog", Key: "SHA256:deploy"})
	var w *httptest.ResponseRecorder
	var sentMidway string
	f.midway = func() { sentMidway = w.Body.String() }
	r := httptest.NewRequest("GET", "http://dash.example.test/apps/blog/logs.txt", nil)
	r.Header.Set("Cookie", c.String())
	w = httptest.NewRecorder()
	d.ServeHTTP(w, r)
	if w.Code != 200 || w.Body.String() != "web.1: hello\nweb.1: bye\n" || !strings.Contains(w.Header().Get("Content-Disposition"), `filename="blog-`) {
		t.Fatalf("%d %q %v", w.Code, w.Body, w.Header())
	}
	if sentMidway != "web.1: hello\n" {
		t.Errorf("sent before the command ended: %q, want the first line", sentMidway)
	}
}
