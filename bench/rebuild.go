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

// herokuishImage is the herokuish stand-in the rebuild benchmark builds
// with (tests/herokuish/build-image.sh): the real gliderlabs/herokuish
// cannot be pulled here, no registry is reachable.
const herokuishImage = "berth-bench/herokuish"

// rebuildKind is one builder the rebuild benchmark measures.
type rebuildKind struct {
	name    string   // the Berth's name, and the apps' prefix
	what    string   // the builder, as the table names it
	options []string // lines of the berth block
	// startMark starts the build step's clock: the first push output line
	// that contains it. endMark stops it ("" means the next "----->" line
	// after the start).
	startMark, endMark string
	// files writes the app's source into dir, unique to nonce (so the
	// first build misses every cache); change is the one source file
	// the third push changes.
	files  func(dir, app, nonce string) error
	change string
	config []string // config:set before the first push (KEY=VALUE)
}

// herokuishDepsMB is the work the herokuish app's buildpack caches: its
// dependencies, written and hashed on a cache miss, copied from the cache
// volume on a hit (tests/herokuish/buildpacks/static, DEPS_MB), as the
// Dockerfile app's first RUN hashes 64 MiB.
const herokuishDepsMB = 64

// benchRebuild measures issue 13's build cache and issue 16's rebuilds:
// the build of an unchanged app (a new commit, same tree) and of the app
// with one changed source file, each against the app's first, cold
// build, through a real push each, for every builder but pack (bench
// pack has its own rounds):
//
//   - the Dockerfile builder, with Berth's defaults: BuildKit, its RUN
//     steps bounded by build_memory through the engine's BuildKit
//     cgroup. The Dockerfile's first RUN is made unique per round, so
//     every first build misses the engine's cache; its steps cost real
//     work (64 MiB hashed, a file tree written), then COPY of the source
//     and a RUN that reads it, which a changed file runs again. (The
//     classic builder runs only where Berth cannot bound that cgroup,
//     which is not the case here: no setting selects it.)
//   - herokuish (builder:set APP selected herokuish), in
//     tests/herokuish/build-image.sh's stand-in image: /build runs in
//     full on every push (herokuish has no layer cache), its buildpack's
//     dependencies (64 MB written and hashed) come from the app's cache
//     volume from the second build on, and the result is committed.
//
// The time measured is the build step only, stamped as the push output's
// lines arrive: for the Dockerfile builder from "-----> Building with
// ..." to the next "----->" line; for herokuish from "-----> Running
// /build" to the rollout's "-----> Starting web.1", which includes the
// commit of the built app.
func benchRebuild(ctx context.Context, e *env, cfg config, rep *report) error {
	rounds := 3
	if cfg.quick {
		rounds = 1
	}
	t0 := time.Now()
	if out, err := exec.CommandContext(ctx, filepath.Join(e.root, "tests", "herokuish", "build-image.sh"), herokuishImage).CombinedOutput(); err != nil {
		return fmt.Errorf("tests/herokuish/build-image.sh: %v\n%s", err, out)
	}
	e.defer_("remove image "+herokuishImage, func() { exec.Command("docker", "rmi", "-f", herokuishImage).Run() })
	progress("rebuild: the herokuish stand-in image was ready in %s", time.Since(t0).Round(time.Millisecond))

	for _, kind := range []rebuildKind{
		{name: "rebuild-kit", what: "BuildKit", startMark: "-----> Building with BuildKit", files: dockerfileApp, change: "app.txt"},
		{name: "rebuild-herokuish", what: "herokuish", options: []string{"herokuish_image " + herokuishImage},
			startMark: "-----> Running /build in " + herokuishImage, endMark: "-----> Starting web.1 of",
			files: herokuishApp, change: "index.html", config: []string{fmt.Sprintf("DEPS_MB=%d", herokuishDepsMB)}},
	} {
		b, err := e.newBerth(kind.name, kind.options...)
		if err != nil {
			return err
		}
		if _, err := e.start(b); err != nil {
			return err
		}
		var firsts, unchanged, changed []time.Duration
		for r := 1; r <= rounds; r++ {
			app := fmt.Sprintf("%s-%d", kind.name, r)
			times, err := e.rebuildRound(ctx, b, kind, app, fmt.Sprintf("%s-%d-%d", kind.name, r, time.Now().UnixNano()))
			if err != nil {
				b.stop()
				return err
			}
			firsts, unchanged, changed = append(firsts, times[0]), append(unchanged, times[1]), append(changed, times[2])
			progress("rebuild %s %d/%d: first build %s, unchanged %s, one file changed %s", kind.what, r, rounds,
				times[0].Round(time.Millisecond), times[1].Round(time.Millisecond), times[2].Round(time.Millisecond))
		}
		b.stop()
		med := func(ds []time.Duration) time.Duration { return pct(slices.Clone(ds), 50) }
		first := med(firsts)
		for _, x := range []struct {
			what string
			ds   []time.Duration
		}{
			{"an unchanged app (new commit, same tree)", unchanged},
			{"the app with one changed source file (" + kind.change + ")", changed},
		} {
			rep.add("rebuild", fmt.Sprintf("%s: build of %s vs its first build, median of %d (each: %s vs %s)", kind.what, x.what, rounds, durs(x.ds), durs(firsts)),
				med(x.ds).Round(time.Millisecond).String(), first.Round(time.Millisecond).String(),
				fmt.Sprintf("%.2fx", float64(med(x.ds))/float64(first)))
		}
	}
	return nil
}

// durs lists durations rounded to 10 ms, for the table's detail.
func durs(ds []time.Duration) string {
	s := make([]string, len(ds))
	for i, d := range ds {
		s[i] = d.Round(10 * time.Millisecond).String()
	}
	return strings.Join(s, ", ")
}

// dockerfileApp is the Dockerfile builders' app: costly steps first (as
// dependencies are installed), then the source, then a step that reads
// it (as a compile does).
func dockerfileApp(dir, app, nonce string) error {
	dockerfile := "FROM " + httpdImage + "\n" +
		"RUN echo " + nonce + " > /nonce && dd if=/dev/urandom of=/blob bs=1M count=64 2>/dev/null && sha256sum /blob > /blob.sum && rm /blob\n" +
		"RUN mkdir -p /www && for i in $(seq 2000); do echo $i > /www/f$i; done && echo " + app + " > /www/index.html\n" +
		"COPY . /src\n" +
		"RUN cat /src/app.txt > /www/app.txt\n" +
		"CMD [\"/bin/httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/www\"]\n"
	return writeFiles(dir, map[string]string{"Dockerfile": dockerfile, "app.txt": app + " v1\n"})
}

// herokuishApp is the herokuish builder's app: a static site built by the
// stand-in image's static buildpack (named in .buildpacks, as Dokku's
// users name theirs).
func herokuishApp(dir, app, nonce string) error {
	return writeFiles(dir, map[string]string{
		".buildpacks": "https://example.test/buildpacks/static.git\n",
		"index.html":  app + " " + nonce + "\n",
	})
}

func writeFiles(dir string, files map[string]string) error {
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(content), 0o644); err != nil {
			return err
		}
	}
	return nil
}

// rebuildRound pushes a new app made by kind.files, then an empty commit
// of it, then a commit that changes kind.change, and returns the three
// build steps' durations.
func (e *env) rebuildRound(ctx context.Context, b *caddyProc, kind rebuildKind, app, nonce string) ([3]time.Duration, error) {
	var times [3]time.Duration
	src := filepath.Join(e.tmp, app+"-src")
	if err := os.MkdirAll(src, 0o755); err != nil {
		return times, err
	}
	e.defer_("remove "+app, func() {
		berthtest.RemoveApp(app)
		exec.Command("docker", "volume", "rm", "-f", "berth-"+app+"_herokuish-cache").Run()
	})
	if err := kind.files(src, app, nonce); err != nil {
		return times, err
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
			return times, err
		}
	}
	if kind.name == "rebuild-herokuish" {
		// The builder is chosen as a user would (Dokku's builder:set);
		// the app's config reaches the buildpack as ENV_DIR files.
		cmds := [][]string{{"apps:create", app}, {"builder:set", app, "selected", "herokuish"}}
		if len(kind.config) > 0 {
			cmds = append(cmds, append([]string{"config:set", "--no-restart", app}, kind.config...))
		}
		for _, args := range cmds {
			if out, err := e.ssh(ctx, b, args...); err != nil {
				return times, fmt.Errorf("ssh %s: %v\n%s", strings.Join(args, " "), err, out)
			}
		}
	}
	remote := fmt.Sprintf("ssh://berth@127.0.0.1:%d/%s", b.sshPort, app)
	// herokuish's buildpack says whether the cache volume held its
	// dependencies: the first build must miss, the next ones hit.
	miss, hit := "", ""
	if kind.name == "rebuild-herokuish" {
		miss, hit = "Deps cache miss", "Deps cache hit"
	}
	var err error
	if times[0], err = e.timedBuild(ctx, src, remote, kind, miss); err != nil {
		return times, err
	}
	if err := git("commit", "-q", "--allow-empty", "-m", "v2, unchanged"); err != nil {
		return times, err
	}
	if times[1], err = e.timedBuild(ctx, src, remote, kind, hit); err != nil {
		return times, err
	}
	f, err := os.OpenFile(filepath.Join(src, kind.change), os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return times, err
	}
	_, err = fmt.Fprintf(f, "changed in v3\n")
	f.Close()
	if err != nil {
		return times, err
	}
	if err := git("commit", "-q", "-am", "v3, one file changed"); err != nil {
		return times, err
	}
	times[2], err = e.timedBuild(ctx, src, remote, kind, hit)
	return times, err
}

// ssh runs a Berth command as the admin.
func (e *env) ssh(ctx context.Context, b *caddyProc, args ...string) ([]byte, error) {
	full := append(strings.Fields(berthtest.GitSSHCommand(e.sshConfig))[1:], "-p", fmt.Sprint(b.sshPort), "berth@127.0.0.1")
	return exec.CommandContext(ctx, "ssh", append(full, args...)...).CombinedOutput()
}

// timedBuild pushes src and times its build step from the push output,
// checking that the wanted builder ran.
func (e *env) timedBuild(ctx context.Context, src, remote string, kind rebuildKind, want string) (time.Duration, error) {
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
		case start.IsZero() && strings.Contains(line, kind.startMark):
			start = time.Now()
		case start.IsZero() && (strings.Contains(line, "-----> Building with ") || strings.Contains(line, "-----> Running /build in ")):
			io.Copy(io.Discard, stderr)
			cmd.Wait()
			return 0, fmt.Errorf("the push did not build with %s:\n%s", kind.what, out.String())
		case !start.IsZero() && end.IsZero() && kind.endMark == "" && strings.Contains(line, "----->"),
			!start.IsZero() && end.IsZero() && kind.endMark != "" && strings.Contains(line, kind.endMark):
			end = time.Now()
		}
	}
	if err := cmd.Wait(); err != nil {
		return 0, fmt.Errorf("git push: %v\n%s", err, out.String())
	}
	if start.IsZero() || end.IsZero() {
		return 0, fmt.Errorf("no build step in the push output:\n%s", out.String())
	}
	if want != "" && !strings.Contains(out.String(), want) {
		return 0, fmt.Errorf("the push's output does not say %q:\n%s", want, out.String())
	}
	return end.Sub(start), nil
}
