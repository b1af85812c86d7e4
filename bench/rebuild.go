package main

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
)

// benchRebuild measures issue 13's build cache: the build of an
// unchanged app (a new commit, same tree) against its first, cold build,
// through a real push each. The Dockerfile's first RUN is made unique
// per round, so every first build misses the engine's cache; its steps
// cost real work (64 MiB hashed, a file tree written). One Berth runs
// with build_memory none, where the Dockerfile builder uses BuildKit;
// another with the default build_memory, where it uses the classic
// builder (BuildKit in Docker Engine cannot apply a build's memory
// limit): the classic rows are the same measurement for comparison.
//
// The time measured is the build step only: from the push output's
// "-----> Building with ..." line to the next "----->" line, stamped as
// they arrive.
func benchRebuild(ctx context.Context, e *env, cfg config, rep *report) error {
	rounds := 3
	if cfg.quick {
		rounds = 1
	}
	for _, kind := range []struct {
		name, builder string // builder: as the log's "-----> Building with ..." names it
		options       []string
	}{
		{"rebuild-kit", "BuildKit", []string{"build_memory none"}},
		{"rebuild-classic", "the classic builder", nil},
	} {
		b, err := e.newBerth(kind.name)
		if err != nil {
			return err
		}
		b.options = kind.options
		if err := b.writeCaddyfile(""); err != nil {
			return err
		}
		if _, err := e.start(b); err != nil {
			return err
		}
		var firsts, seconds []time.Duration
		for r := 1; r <= rounds; r++ {
			app := fmt.Sprintf("%s-%d", kind.name, r)
			first, second, err := e.rebuildRound(ctx, b, app, kind.builder, fmt.Sprintf("%s-%d-%d", kind.name, r, time.Now().UnixNano()))
			if err != nil {
				b.stop()
				return err
			}
			firsts, seconds = append(firsts, first), append(seconds, second)
			progress("rebuild %s %d/%d: first build %s, unchanged rebuild %s", kind.builder, r, rounds, first.Round(time.Millisecond), second.Round(time.Millisecond))
		}
		b.stop()
		med := func(ds []time.Duration) time.Duration { return pct(slices.Clone(ds), 50) }
		rep.add("rebuild", fmt.Sprintf("%s: build of an unchanged app (new commit, same tree) vs its first build, median of %d", kind.builder, rounds),
			med(seconds).Round(time.Millisecond).String(), med(firsts).Round(time.Millisecond).String(),
			fmt.Sprintf("%.2fx", float64(med(seconds))/float64(med(firsts))))
	}
	return nil
}

// rebuildRound pushes a new app with a Dockerfile unique to nonce, then
// an empty commit of it, and returns the two build steps' durations.
func (e *env) rebuildRound(ctx context.Context, b *caddyProc, app, builder, nonce string) (first, second time.Duration, err error) {
	src := filepath.Join(e.tmp, app+"-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return 0, 0, err
	}
	e.defer_("remove "+app, func() { berthtest.RemoveApp(app) })
	dockerfile := "FROM " + httpdImage + "\n" +
		"RUN echo " + nonce + " > /nonce && dd if=/dev/urandom of=/blob bs=1M count=64 2>/dev/null && sha256sum /blob > /blob.sum && rm /blob\n" +
		"RUN mkdir -p /www && for i in $(seq 2000); do echo $i > /www/f$i; done && echo " + app + " > /www/index.html\n" +
		"COPY . /src\n" +
		"CMD [\"/bin/httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/www\"]\n"
	if err := os.WriteFile(filepath.Join(src, "Dockerfile"), []byte(dockerfile), 0o644); err != nil {
		return 0, 0, err
	}
	git := func(args ...string) error {
		cmd := exec.CommandContext(ctx, "git", args...)
		cmd.Dir = src
		cmd.Env = e.gitEnv()
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
		}
		return nil
	}
	for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "v1"}} {
		if err := git(args...); err != nil {
			return 0, 0, err
		}
	}
	remote := fmt.Sprintf("ssh://berth@127.0.0.1:%d/%s", b.sshPort, app)
	if first, err = e.timedBuild(ctx, src, remote, builder); err != nil {
		return 0, 0, err
	}
	if err := git("commit", "-q", "--allow-empty", "-m", "v2, unchanged"); err != nil {
		return 0, 0, err
	}
	second, err = e.timedBuild(ctx, src, remote, builder)
	return first, second, err
}

// timedBuild pushes src and times its build step from the push output,
// checking that the wanted builder ran.
func (e *env) timedBuild(ctx context.Context, src, remote, builder string) (time.Duration, error) {
	cmd := exec.CommandContext(ctx, "git", "push", remote, "main")
	cmd.Dir = src
	cmd.Env = e.gitEnv()
	stderr, err := cmd.StderrPipe()
	if err != nil {
		return 0, err
	}
	if err := cmd.Start(); err != nil {
		return 0, err
	}
	var start, end time.Time
	var out strings.Builder
	sc := bufio.NewScanner(stderr)
	for sc.Scan() {
		line := sc.Text()
		out.WriteString(line + "\n")
		switch {
		case start.IsZero() && strings.Contains(line, "-----> Building with "+builder):
			start = time.Now()
		case start.IsZero() && strings.Contains(line, "-----> Building with "):
			io.Copy(io.Discard, stderr)
			cmd.Wait()
			return 0, fmt.Errorf("the push did not build with %s:\n%s", builder, out.String())
		case !start.IsZero() && end.IsZero() && strings.Contains(line, "----->"):
			end = time.Now()
		}
	}
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("git push: %v\n%s", err, out.String())
	}
	if start.IsZero() || end.IsZero() {
		return 0, fmt.Errorf("no build step in the push output:\n%s", out.String())
	}
	return end.Sub(start), nil
}
