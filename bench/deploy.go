package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
)

// benchDeploy measures issue 4's deploy overhead and zero downtime: the
// time from `git push` to the new version serving, against a plain
// `docker build` of the same context in the same run (interleaved, one
// build per deploy); the failed requests of a constant load over the
// deploys and over a `caddy reload`; and the gap a `caddy stop` + `caddy
// run` leaves (which no in-process design can avoid: the listener closes).
func benchDeploy(ctx context.Context, e *env, cfg config, rep *report) error {
	deploys := 5
	if cfg.quick {
		deploys = 2
	}
	b, err := e.newBerth("deploy")
	if err != nil {
		return err
	}
	if _, err := e.start(b); err != nil {
		return err
	}
	defer b.stop()

	src := filepath.Join(e.tmp, "deploy-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	writeVersion := func(v string) error {
		dockerfile := "FROM " + httpdImage + "\nRUN mkdir -p /www && echo " + v + " > /www/index.html\nCMD [\"/bin/httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/www\"]\n"
		return os.WriteFile(filepath.Join(src, "Dockerfile"), []byte(dockerfile), 0o644)
	}
	git := func(args ...string) error {
		cmd := exec.Command("git", args...)
		cmd.Dir = src
		cmd.Env = e.gitEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	if err := writeVersion("deploy-v0"); err != nil {
		return err
	}
	remote := fmt.Sprintf("ssh://berth@127.0.0.1:%d/deploy-app", b.sshPort)
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "v0"}} {
		if err := git(args...); err != nil {
			return err
		}
	}
	if err := git("push", "-q", remote, "main"); err != nil {
		return err
	}
	e.defer_("remove deploy-app", func() {
		berthtest.RemoveApp("deploy-app")
		exec.Command("docker", "rmi", "-f", "berth-bench/deploy-baseline").Run()
	})

	host := "deploy-app." + benchDomain
	url := fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort)
	load := startDeployLoad(url, host, 4)

	var serving, pushes, builds []time.Duration
	for i := 1; i <= deploys; i++ {
		v := fmt.Sprintf("deploy-v%d", i)
		if err := writeVersion(v); err != nil {
			return err
		}
		// Baseline: a plain docker build of the same context.
		t0 := time.Now()
		if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "-t", "berth-bench/deploy-baseline", src).CombinedOutput(); err != nil {
			return fmt.Errorf("docker build: %v\n%s", err, out)
		}
		builds = append(builds, time.Since(t0))
		if err := git("commit", "-q", "-am", v); err != nil {
			return err
		}
		// The new version serves before the push returns: the push also
		// waits for the old container to drain and stop. So poll from the
		// start of the push, beside it.
		t0 = time.Now()
		servedAt := make(chan time.Time, 1)
		go func() {
			at, err := pollBody(url, host, v, time.Now().Add(2*time.Minute))
			if err != nil {
				at = time.Time{}
			}
			servedAt <- at
		}()
		if err := git("push", "-q", remote, "main"); err != nil {
			return err
		}
		pushed := time.Since(t0)
		at := <-servedAt
		if at.IsZero() {
			return fmt.Errorf("%s never served %s", host, v)
		}
		serving = append(serving, at.Sub(t0))
		pushes = append(pushes, pushed)
		progress("deploy %d/%d: push→serving %s (push returned after %s), docker build %s", i, deploys, serving[i-1].Round(time.Millisecond), pushed.Round(time.Millisecond), builds[i-1].Round(time.Millisecond))
	}
	deployFails := load.take()

	// caddy reload under load.
	if err := b.reload(); err != nil {
		return err
	}
	time.Sleep(time.Second)
	reloadFails := load.take()

	// caddy stop + run under load: the gap, from SIGTERM until served.
	sigterm := time.Now()
	b.stop()
	exited := time.Since(sigterm)
	if _, err := e.start(b); err != nil {
		return err
	}
	back, err := pollBody(url, host, fmt.Sprintf("deploy-v%d", deploys), time.Now().Add(time.Minute))
	if err != nil {
		return err
	}
	gap := back.Sub(sigterm)
	time.Sleep(500 * time.Millisecond)
	restartFails := load.take()
	load.stop()

	med := func(ds []time.Duration) time.Duration { return pct(slices.Clone(ds), 50) }
	overhead := med(serving) - med(builds)
	rep.add("deploy", fmt.Sprintf("push → new version serving, median of %d deploys (vs plain docker build of the same context)", deploys),
		med(serving).Round(time.Millisecond).String(), med(builds).Round(time.Millisecond).String(),
		fmt.Sprintf("%.2fx (overhead %s)", float64(med(serving))/float64(med(builds)), overhead.Round(time.Millisecond)))
	rep.add("deploy", "git push duration (it also waits for the old container to drain and stop) vs plain docker build",
		med(pushes).Round(time.Millisecond).String(), med(builds).Round(time.Millisecond).String(),
		fmt.Sprintf("%.2fx", float64(med(pushes))/float64(med(builds))))
	rep.add("deploy", fmt.Sprintf("failed requests under load during %d deploys", deploys),
		fmt.Sprintf("%d of %d", deployFails.failed, deployFails.total), "0", "")
	rep.add("deploy", "failed requests under load across a caddy reload",
		fmt.Sprintf("%d of %d", reloadFails.failed, reloadFails.total), "0", "")
	rep.add("deploy", "caddy stop + run under load: SIGTERM → served again (app containers keep running; every request in the gap fails)",
		gap.Round(time.Millisecond).String(), "", fmt.Sprintf("caddy took %s to exit; %d of %d requests failed", exited.Round(time.Millisecond), restartFails.failed, restartFails.total))
	if deployFails.failed > 0 || reloadFails.failed > 0 {
		rep.warn("deploy: requests failed during deploys (%d) or the reload (%d); first: %s", deployFails.failed, reloadFails.failed, deployFails.first+reloadFails.first)
	}
	return nil
}

// deployLoad is a constant stream of requests through Berth, counted in
// windows.
type deployLoad struct {
	mu     sync.Mutex
	cur    loadCount
	halt   chan struct{}
	wg     sync.WaitGroup
	client *http.Client
}

type loadCount struct {
	total, failed int
	first         string
}

func startDeployLoad(url, host string, workers int) *deployLoad {
	l := &deployLoad{halt: make(chan struct{}), client: newClient(workers, 10*time.Second)}
	deadline := time.Now().Add(15 * time.Minute) // bounded even if stop is never called
	for w := 0; w < workers; w++ {
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			for time.Now().Before(deadline) {
				select {
				case <-l.halt:
					return
				default:
				}
				err := getBody(l.client, url, host, "deploy-v")
				l.mu.Lock()
				l.cur.total++
				if err != nil {
					l.cur.failed++
					if l.cur.first == "" {
						l.cur.first = err.Error()
					}
				}
				l.mu.Unlock()
			}
		}()
	}
	return l
}

// take returns the counts since the last take.
func (l *deployLoad) take() loadCount {
	l.mu.Lock()
	defer l.mu.Unlock()
	c := l.cur
	l.cur = loadCount{}
	return c
}

func (l *deployLoad) stop() {
	close(l.halt)
	l.wg.Wait()
}

func getBody(c *http.Client, url, host, want string) error {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return err
	}
	req.Host = host
	resp, err := c.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 || !bytes.Contains(body, []byte(want)) {
		return fmt.Errorf("status %d, body %q", resp.StatusCode, body)
	}
	return nil
}

// pollBody polls until host answers 200 with want in the body.
func pollBody(url, host, want string, deadline time.Time) (time.Time, error) {
	c := newClient(1, 2*time.Second)
	for time.Now().Before(deadline) {
		if getBody(c, url, host, want) == nil {
			return time.Now(), nil
		}
		time.Sleep(5 * time.Millisecond)
	}
	return time.Time{}, fmt.Errorf("%s did not serve %q within the deadline", host, want)
}
