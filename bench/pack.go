package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
)

// benchPack measures issue 13's buildpack cache: a pack build of an app
// whose cache volume is empty (its first push) against a second build of
// the same, unchanged commit (ps:rebuild), which restores the cached
// layers from the volume and finds the exported layers unchanged. Both
// are whole deploys through Berth (build, checks, swap), timed from the
// command's start to its end, with the creator's own share read from the
// build log. The builder is tests/cnb/build-builder.sh's (no registry is
// reachable); its making is timed too, once.
func benchPack(ctx context.Context, e *env, cfg config, rep *report) error {
	rounds := 3
	if cfg.quick {
		rounds = 1
	}
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, filepath.Join(e.root, "tests", "cnb", "build-builder.sh")).CombinedOutput(); err != nil {
		return fmt.Errorf("tests/cnb/build-builder.sh: %v\n%s", err, out)
	}
	builderReady := time.Since(t0)
	progress("pack: the test builder was ready in %s", builderReady.Round(time.Millisecond))

	b, err := e.newBerth("pack")
	if err != nil {
		return err
	}
	if _, err := e.start(b); err != nil {
		return err
	}
	defer b.stop()
	sshCmd := func(ctx context.Context, args ...string) *exec.Cmd {
		full := append(strings.Fields(berthtest.GitSSHCommand(e.sshConfig))[1:], "-p", fmt.Sprint(b.sshPort), "berth@127.0.0.1")
		return exec.CommandContext(ctx, "ssh", append(full, args...)...)
	}
	ssh := func(args ...string) (string, error) {
		out, err := sshCmd(ctx, args...).CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("ssh %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	if _, err := ssh("buildpacks:set-property", "--global", "stack", "berth-test/builder:latest"); err != nil {
		return err
	}

	src := filepath.Join(e.tmp, "pack-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return err
	}
	files := map[string]string{
		"project.toml": "[_]\nschema-version = \"0.2\"\n",
		"index.html":   "pack bench\n",
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(src, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	git := func(args ...string) (string, error) {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = src
		cmd.Env = e.gitEnv()
		out, err := cmd.CombinedOutput()
		if err != nil {
			return "", fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return string(out), nil
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "v1"}} {
		if _, err := git(args...); err != nil {
			return err
		}
	}

	depsMB := 200
	if cfg.quick {
		depsMB = 32
	}
	for _, mb := range []int{0, depsMB} {
		if err := packRounds(ctx, e, src, b.sshPort, rounds, mb, ssh, sshCmd, git, rep); err != nil {
			return err
		}
	}
	rep.add("pack", "tests/cnb/build-builder.sh: builder and run image ready (lifecycle compile with Go's build cache as this machine has it)", builderReady.Round(time.Millisecond).String(), "", "")
	return nil
}

// packRounds builds rounds new apps, each first with an empty cache (git
// push), then unchanged with its cache volume filled (ps:rebuild), then
// with one changed source file (git push of a commit that changes
// index.html); the
// test buildpack's deps layer costs mb MB of work to make (BP_DEPS_MB).
func packRounds(ctx context.Context, e *env, src string, sshPort, rounds, mb int, ssh func(...string) (string, error), sshCmd func(context.Context, ...string) *exec.Cmd, git func(...string) (string, error), rep *report) error {
	var cold, warm, changed, coldServer, warmServer, changedServer []time.Duration
	hits, changedHits := 0, 0
	for i := 1; i <= rounds; i++ {
		app := fmt.Sprintf("pack-bench-%d-%d", mb, i)
		e.defer_("remove "+app, func() {
			berthtest.RemoveApp(app)
			exec.Command("docker", "volume", "rm", "-f", "berth-"+app+"_pack-cache").Run()
		})
		if _, err := ssh("apps:create", app); err != nil {
			return err
		}
		if _, err := ssh("config:set", "--no-restart", app, fmt.Sprintf("BP_DEPS_MB=%d", mb)); err != nil {
			return err
		}
		push := exec.CommandContext(ctx, "git", "push", fmt.Sprintf("ssh://berth@127.0.0.1:%d/%s", sshPort, app), "main")
		push.Dir, push.Env = src, e.gitEnv()
		out, d, err := buildTime(push)
		if err != nil || d == 0 {
			return fmt.Errorf("git push %s: %v (creator timed %s)\n%s", app, err, d, out)
		}
		cold = append(cold, d)
		coldServer = append(coldServer, deployTime(out))
		out, d, err = buildTime(sshCmd(ctx, "ps:rebuild", app))
		if err != nil || d == 0 {
			return fmt.Errorf("ps:rebuild %s: %v (creator timed %s)\n%s", app, err, d, out)
		}
		warm = append(warm, d)
		warmServer = append(warmServer, deployTime(out))
		if strings.Contains(out, "cache hit: deps layer") {
			hits++
		}
		// One changed source file, pushed: the cache volume is filled.
		if err := os.WriteFile(filepath.Join(src, "index.html"), []byte(fmt.Sprintf("pack bench, %s changed\n", app)), 0o644); err != nil {
			return err
		}
		if _, err := git("commit", "-q", "-am", "one file changed for "+app); err != nil {
			return err
		}
		push = exec.CommandContext(ctx, "git", "push", fmt.Sprintf("ssh://berth@127.0.0.1:%d/%s", sshPort, app), "main")
		push.Dir, push.Env = src, e.gitEnv()
		out, d, err = buildTime(push)
		if err != nil || d == 0 {
			return fmt.Errorf("git push %s (one file changed): %v (creator timed %s)\n%s", app, err, d, out)
		}
		changed = append(changed, d)
		changedServer = append(changedServer, deployTime(out))
		if strings.Contains(out, "cache hit: deps layer") {
			changedHits++
		}
		progress("pack %d MB %d/%d: first build: creator %s (deploy %s), unchanged rebuild: creator %s (deploy %s), one file changed: creator %s (deploy %s)", mb, i, rounds,
			cold[i-1].Round(time.Millisecond), coldServer[i-1].Round(time.Millisecond), warm[i-1].Round(time.Millisecond), warmServer[i-1].Round(time.Millisecond),
			changed[i-1].Round(time.Millisecond), changedServer[i-1].Round(time.Millisecond))
		if _, err := ssh("apps:destroy", app, "--force"); err != nil {
			return err
		}
	}
	med := func(ds []time.Duration) time.Duration { return pct(slices.Clone(ds), 50) }
	what := "an app whose buildpack work is trivial"
	if mb > 0 {
		what = fmt.Sprintf("an app whose dependencies layer costs %d MB of work (written and hashed)", mb)
	}
	rep.add("pack", fmt.Sprintf("%s: the creator's time (its start to the rollout's first line, as the build log streams), unchanged rebuild (ps:rebuild, cache volume filled) vs first build (git push, empty cache), median of %d", what, rounds),
		med(warm).Round(time.Millisecond).String(), med(cold).Round(time.Millisecond).String(),
		fmt.Sprintf("%.2fx", float64(med(warm))/float64(med(cold))))
	rep.add("pack", "the same, the whole deploy as Berth times it (\"Deployed ... in\"; the rebuild also drains and retires the first build's container)",
		med(warmServer).Round(time.Millisecond).String(), med(coldServer).Round(time.Millisecond).String(),
		fmt.Sprintf("%.2fx", float64(med(warmServer))/float64(med(coldServer))))
	rep.add("pack", fmt.Sprintf("%s: the creator's time, a push of one changed source file (index.html; cache volume filled) vs first build, median of %d", what, rounds),
		med(changed).Round(time.Millisecond).String(), med(cold).Round(time.Millisecond).String(),
		fmt.Sprintf("%.2fx", float64(med(changed))/float64(med(cold))))
	rep.add("pack", "the same, the whole deploy as Berth times it",
		med(changedServer).Round(time.Millisecond).String(), med(coldServer).Round(time.Millisecond).String(),
		fmt.Sprintf("%.2fx", float64(med(changedServer))/float64(med(coldServer))))
	rep.add("pack", "rebuilds that restored the cached layer (cache hit in the log): unchanged, one file changed", fmt.Sprintf("%d of %d, %d of %d", hits, rounds, changedHits, rounds), "", "")
	if hits != rounds || changedHits != rounds {
		rep.warn("pack: %d of %d unchanged rebuilds and %d of %d changed ones showed no cache hit", rounds-hits, rounds, rounds-changedHits, rounds)
	}
	return nil
}

// buildTime runs cmd and returns its output and the creator's share of it:
// from the line that starts the creator to the first line after it (the
// rollout's "Starting web.1"), timed as the lines arrive.
func buildTime(cmd *exec.Cmd) (string, time.Duration, error) {
	pr, pw := io.Pipe()
	cmd.Stdout, cmd.Stderr = pw, pw
	if err := cmd.Start(); err != nil {
		return "", 0, err
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait(); pw.Close() }()
	var out strings.Builder
	var start, end time.Time
	sc := bufio.NewScanner(pr)
	sc.Split(scanLinesCR)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		switch {
		case start.IsZero() && strings.Contains(line, "Running the CNB lifecycle's creator"):
			start = time.Now()
		case !start.IsZero() && end.IsZero() && strings.Contains(line, "-----> Starting web.1 of"):
			end = time.Now()
		}
	}
	io.Copy(io.Discard, pr)
	err := <-done
	if start.IsZero() || end.IsZero() {
		return out.String(), 0, err
	}
	return out.String(), end.Sub(start), err
}

// scanLinesCR splits on \n and \r (git's progress lines end in \r).
func scanLinesCR(data []byte, atEOF bool) (int, []byte, error) {
	if i := bytes.IndexAny(data, "\r\n"); i >= 0 {
		return i + 1, data[:i], nil
	}
	if atEOF && len(data) > 0 {
		return len(data), data, nil
	}
	return 0, nil, nil
}

// deployTime is the deploy's duration as Berth timed it on the server
// ("=====> Deployed APP vN in D"), without the client's SSH and git
// costs; 0 when the output has no such line.
var deployedIn = regexp.MustCompile(`=====> Deployed \S+ v\d+ in ([0-9.]+m?s)`)

func deployTime(out string) time.Duration {
	m := deployedIn.FindStringSubmatch(out)
	if m == nil {
		return 0
	}
	d, err := time.ParseDuration(m[1])
	if err != nil {
		return 0
	}
	return d
}
