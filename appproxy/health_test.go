package appproxy

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/caddyserver/caddy/v2/modules/caddyhttp/reverseproxy"
)

// fakeNodes is a transport to targets that answer or, when dead, fail
// their dial after a while (a node cut off the network: the dial times
// out), counting the dials of each.
type fakeNodes struct {
	mu    sync.Mutex
	dead  map[string]bool
	dials map[string]int
	wait  time.Duration
}

func (f *fakeNodes) RoundTrip(r *http.Request) (*http.Response, error) {
	f.mu.Lock()
	f.dials[r.URL.Host]++
	dead := f.dead[r.URL.Host]
	f.mu.Unlock()
	if dead {
		time.Sleep(f.wait)
		return nil, reverseproxy.NewDialError(errors.New("dial tcp " + r.URL.Host + ": i/o timeout"))
	}
	return &http.Response{StatusCode: 200, Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1, Header: http.Header{},
		Body: io.NopCloser(strings.NewReader(r.URL.Host)), ContentLength: int64(len(r.URL.Host))}, nil
}

func (f *fakeNodes) count(t string) int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.dials[t]
}

func (f *fakeNodes) setDead(t string, dead bool) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.dead[t] = dead
}

func healthProxy(f *fakeNodes, targets []string, fail time.Duration) *Proxy {
	return New(Config{
		Transport:    f,
		Targets:      func(*http.Request) []string { return targets },
		TryDuration:  time.Second,
		TryInterval:  time.Millisecond,
		FailDuration: fail,
	})
}

func get(t *testing.T, p *Proxy) int {
	t.Helper()
	res, err := serve(p, httptest.NewRequest("GET", "http://app.test/", nil))
	if err != nil {
		return status(t, err)
	}
	return res.StatusCode
}

// A target whose dial failed is out of every request's choice for the
// fail duration: the dead one is dialed once, not by a third of the
// requests (as before passive health; every request still succeeds,
// retried on another target, but each of those waited for the dial).
func TestFailedDialTakesTargetOutOfChoice(t *testing.T) {
	f := &fakeNodes{dead: map[string]bool{"dead:1": true}, dials: map[string]int{}, wait: 5 * time.Millisecond}
	p := healthProxy(f, []string{"dead:1", "live:1", "live:2"}, time.Hour)
	var wg sync.WaitGroup
	var failed atomic.Int32
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < 50; i++ {
				if get(t, p) != 200 {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if failed.Load() != 0 {
		t.Errorf("%d requests failed", failed.Load())
	}
	// The 4 workers' first requests may all pick it before the first
	// dial fails; none after.
	if n := f.count("dead:1"); n > 4 {
		t.Errorf("the dead target was dialed %d times, want at most 4 (the requests that chose it before its first dial failed)", n)
	}
	if f.count("live:1") == 0 || f.count("live:2") == 0 {
		t.Errorf("the live targets were not both used: %v", f.dials)
	}
}

// A marked target that is the only one left is still tried, never
// turned into a failure untried; once it answers, its mark is gone.
func TestMarkedTargetsAreTriedWhenNoneElse(t *testing.T) {
	f := &fakeNodes{dead: map[string]bool{"a:1": true, "b:1": true}, dials: map[string]int{}}
	p := healthProxy(f, []string{"a:1", "b:1"}, time.Hour)
	p.cfg.TryDuration = 0 // one attempt per request
	if s := get(t, p); s != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", s)
	}
	if s := get(t, p); s != http.StatusBadGateway {
		t.Fatalf("status %d, want 502", s)
	}
	if f.count("a:1") != 1 || f.count("b:1") != 1 {
		t.Fatalf("dials %v, want one of each (the second request takes the target not marked)", f.dials)
	}
	f.setDead("a:1", false)
	f.setDead("b:1", false)
	for i := 0; i < 2; i++ {
		if s := get(t, p); s != 200 {
			t.Fatalf("request %d to marked but live targets: status %d, want 200", i, s)
		}
	}
	if st, _, _ := p.health.state("a:1", now()); st != up && f.count("a:1") > 1 {
		t.Errorf("a:1 answered and is still marked down")
	}
	single := healthProxy(f, []string{"a:1"}, time.Hour)
	single.health.markDown("a:1")
	if s := get(t, single); s != 200 {
		t.Fatalf("the only target, marked down but live: status %d, want 200", s)
	}
	if st, _, _ := single.health.state("a:1", now()); st != up {
		t.Errorf("a:1 answered and is still marked down")
	}
}

// When a mark runs out, one request probes the target and the others
// keep skipping it: a node still dead costs one dial per fail duration.
func TestMarkRunsOutToOneProbe(t *testing.T) {
	f := &fakeNodes{dead: map[string]bool{"dead:1": true}, dials: map[string]int{}, wait: 20 * time.Millisecond}
	p := healthProxy(f, []string{"dead:1", "live:1"}, 300*time.Millisecond)
	p.health.markDown("dead:1")
	time.Sleep(350 * time.Millisecond)
	var wg sync.WaitGroup
	for w := 0; w < 20; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if s := get(t, p); s != 200 {
				t.Errorf("status %d", s)
			}
		}()
	}
	wg.Wait()
	if n := f.count("dead:1"); n != 1 {
		t.Errorf("the dead target was dialed %d times after its mark ran out, want 1 (one probe)", n)
	}
	if st, _, _ := p.health.state("dead:1", now()); st != down {
		t.Errorf("the probe's failed dial did not mark the target down again")
	}
}

// No mark costs the success path nothing but one atomic load; marks
// that ran out are forgotten.
func TestMarksRunOut(t *testing.T) {
	h := &health{fail: 200 * time.Millisecond}
	if !h.none() {
		t.Fatal("a new health has marks")
	}
	h.markDown("a:1")
	if h.none() {
		t.Fatal("no mark after markDown")
	}
	time.Sleep(250 * time.Millisecond)
	if h.none() {
		t.Fatal("a mark that ran out was forgotten before a probe could claim it")
	}
	time.Sleep(200 * time.Millisecond)
	if !h.none() || h.until.Load() != 0 {
		t.Fatal("marks that ran out were kept")
	}
	if _, ok := h.marks.Load("a:1"); ok {
		t.Error("a mark that ran out is still in the map")
	}
}
