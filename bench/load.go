package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// newClient returns an HTTP/1.1 client with its own keep-alive pool of up
// to conns connections.
func newClient(conns int, timeout time.Duration) *http.Client {
	return &http.Client{
		Timeout: timeout,
		Transport: &http.Transport{
			DialContext:         (&net.Dialer{Timeout: 5 * time.Second}).DialContext,
			MaxIdleConns:        conns,
			MaxIdleConnsPerHost: conns,
			MaxConnsPerHost:     conns,
			DisableCompression:  true,
			IdleConnTimeout:     30 * time.Second,
		},
	}
}

// target is where a load run sends requests: a URL and the Host header.
type target struct {
	name string
	url  string
	host string
	want string // the body must contain this
}

// loadResult is one load run.
type loadResult struct {
	ok       int
	errs     int
	elapsed  time.Duration
	lat      []time.Duration // of successful requests
	firstErr string
}

// runLoad sends GETs to t from conc workers over keep-alive connections
// until dur has passed or maxReq requests were sent, whichever is first.
func runLoad(t target, conc int, dur time.Duration, maxReq int) loadResult {
	c := newClient(conc, 10*time.Second)
	defer c.CloseIdleConnections()
	var (
		sent  atomic.Int64
		mu    sync.Mutex
		res   loadResult
		wg    sync.WaitGroup
		start = time.Now()
	)
	for w := 0; w < conc; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			lat := make([]time.Duration, 0, maxReq/conc+1)
			ok, errs := 0, 0
			var firstErr string
			for time.Since(start) < dur && sent.Add(1) <= int64(maxReq) {
				t0 := time.Now()
				err := get(c, t)
				if err != nil {
					errs++
					if firstErr == "" {
						firstErr = err.Error()
					}
					continue
				}
				lat = append(lat, time.Since(t0))
				ok++
			}
			mu.Lock()
			res.ok += ok
			res.errs += errs
			res.lat = append(res.lat, lat...)
			if res.firstErr == "" {
				res.firstErr = firstErr
			}
			mu.Unlock()
		}()
	}
	wg.Wait()
	res.elapsed = time.Since(start)
	return res
}

func get(c *http.Client, t target) error {
	req, err := http.NewRequest("GET", t.url, nil)
	if err != nil {
		return err
	}
	if t.host != "" {
		req.Host = t.host
	}
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("status %d: %s", resp.StatusCode, strings.TrimSpace(string(body)))
	}
	if t.want != "" && !strings.Contains(string(body), t.want) {
		return fmt.Errorf("body %q does not contain %q", body, t.want)
	}
	return nil
}

// pct returns the p-th percentile (0..100) of ds, by the nearest-rank
// method. ds is sorted in place.
func pct(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	rank := int(p/100*float64(len(ds))+0.999999) - 1
	return ds[max(0, min(rank, len(ds)-1))]
}

// polled is what pollFirstOK saw.
type polled struct {
	at  time.Time // when the first wanted answer arrived
	err error
	// wrong counts 200 answers whose body lacked the wanted text: another
	// app's container answered for t's host. sample is one of them.
	wrong  int
	sample string
	// tries are the requests that were answered or failed before the
	// poll ended, in no order (-trace-slow prints them).
	tries []pollTry
}

// pollTry is one request of a poll: when it was sent, when it ended and
// how ("200", "status 503", "timeout", "refused" or the error).
type pollTry struct {
	sent, done time.Time
	outcome    string
}

// printTries prints a poll's requests in the order they were sent,
// consecutive ones that ended alike as one line: sent from and to (ms
// from at), how many, how, and their longest time.
func printTries(who string, tries []pollTry, at time.Time) {
	tries = slices.Clone(tries)
	slices.SortFunc(tries, func(a, b pollTry) int { return a.sent.Compare(b.sent) })
	progress("    %s's requests (ms from the start event):", who)
	msFrom := func(t time.Time) float64 { return float64(t.Sub(at)) / float64(time.Millisecond) }
	for i := 0; i < len(tries); {
		j, longest := i, time.Duration(0)
		for ; j < len(tries) && tries[j].outcome == tries[i].outcome; j++ {
			longest = max(longest, tries[j].done.Sub(tries[j].sent))
		}
		progress("      sent %+8.1f .. %+8.1f: %4d × %s (longest %s)", msFrom(tries[i].sent), msFrom(tries[j-1].sent), j-i, tries[i].outcome, ms(longest))
		i = j
	}
}

// tryOutcome names a poll request's end in a few words.
func tryOutcome(status int, err error) string {
	switch {
	case err == nil:
		return fmt.Sprintf("status %d", status)
	case errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "Client.Timeout"):
		return "timeout"
	case errors.Is(err, syscall.ECONNREFUSED):
		return "refused"
	case errors.Is(err, context.Canceled):
		return "cancelled"
	}
	return err.Error()
}

// pollFirstOK sends a GET to t every `every` (each request on its own,
// cancelled after reqTimeout, at most maxInFlight in flight) until one
// answers 200 with the wanted body, and returns when that answer arrived.
// It gives up at the deadline. Polling starts at once, so it can be
// started before the event it waits for.
func pollFirstOK(ctx context.Context, c *http.Client, t target, every, reqTimeout time.Duration, maxInFlight int32, deadline time.Time) polled {
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()
	found := make(chan time.Time, 1)
	var (
		inflight atomic.Int32
		lastErr  atomic.Value
		mu       sync.Mutex
		res      polled
	)
	ticker := time.NewTicker(every)
	defer ticker.Stop()
	for {
		if inflight.Load() < maxInFlight {
			inflight.Add(1)
			go func() {
				defer inflight.Add(-1)
				rctx, rcancel := context.WithTimeout(ctx, reqTimeout)
				defer rcancel()
				req, _ := http.NewRequestWithContext(rctx, "GET", t.url, nil)
				if t.host != "" {
					req.Host = t.host
				}
				sent := time.Now()
				resp, err := c.Do(req)
				if err != nil {
					lastErr.Store(err.Error())
					mu.Lock()
					res.tries = append(res.tries, pollTry{sent, time.Now(), tryOutcome(0, err)})
					mu.Unlock()
					return
				}
				body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
				resp.Body.Close()
				at := time.Now()
				mu.Lock()
				res.tries = append(res.tries, pollTry{sent, at, tryOutcome(resp.StatusCode, err)})
				mu.Unlock()
				if err == nil && resp.StatusCode == http.StatusOK {
					if strings.Contains(string(body), t.want) {
						select {
						case found <- at:
						default:
						}
						return
					}
					mu.Lock()
					res.wrong++
					res.sample = strings.TrimSpace(string(body))
					mu.Unlock()
				}
				lastErr.Store(fmt.Sprintf("status %d body %q", resp.StatusCode, strings.TrimSpace(string(body))))
			}()
		}
		select {
		case at := <-found:
			mu.Lock()
			defer mu.Unlock()
			res.at = at
			return res
		case <-ctx.Done():
			last, _ := lastErr.Load().(string)
			mu.Lock()
			defer mu.Unlock()
			res.err = fmt.Errorf("%s %s did not answer 200 with %q in time (last: %s)", t.host, t.url, t.want, last)
			return res
		case <-ticker.C:
		}
	}
}

// answers reports whether one GET to t succeeds within timeout.
func answers(c *http.Client, t target, timeout time.Duration) bool {
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, "GET", t.url, nil)
	if t.host != "" {
		req.Host = t.host
	}
	resp, err := c.Do(req)
	if err != nil {
		return false
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, 1<<16))
	resp.Body.Close()
	return err == nil && resp.StatusCode == http.StatusOK && strings.Contains(string(body), t.want)
}

func ms(d time.Duration) string {
	switch {
	case d == 0:
		return "0"
	case d < 10*time.Millisecond:
		return fmt.Sprintf("%.2f ms", float64(d)/1e6)
	case d < 10*time.Second:
		return fmt.Sprintf("%.1f ms", float64(d)/1e6)
	default:
		return fmt.Sprintf("%.1f s", d.Seconds())
	}
}

func ratio(a, b float64) string {
	if b == 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f", a/b)
}
