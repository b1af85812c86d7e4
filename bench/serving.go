package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/internal/berthtest"
)

// benchServing measures issue 16's push-to-serving: a new small
// Dockerfile app (busybox httpd and one RUN that writes its page) pushed
// with the real git over ssh, from the push's start until its host
// answers 200 with the pushed page through Berth, against a plain
// `docker build` of the same kind of context on the same engine, and
// against `docker build` + `docker run` until the container itself
// answers 200 (what serving takes without a PaaS). Each round runs the
// three in a new order, and every context is unique to its round and
// side, so that none reuses another's layer cache: each is a first
// build. Berth runs with its defaults (BuildKit; `docker build` of a CLI
// without buildx is the classic builder); the app is pushed twice per round,
// once with Berth's default check (the port accepts connections, then
// the container stays up 2 s) and once with an app.json check of its
// page, which passes as soon as the page answers.
func benchServing(ctx context.Context, e *env, cfg config, rep *report) error {
	rounds := 5
	if cfg.quick {
		rounds = 2
	}
	b, err := e.newBerth("serving")
	if err != nil {
		return err
	}
	if _, err := e.start(b); err != nil {
		return err
	}
	defer b.stop()
	url := fmt.Sprintf("http://127.0.0.1:%d/", b.httpPort)
	nonce := time.Now().UnixNano()

	context_ := func(name, body string, appJSON bool) (string, error) {
		dir := filepath.Join(e.tmp, name+"-src")
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return "", err
		}
		files := map[string]string{
			"Dockerfile": "FROM " + httpdImage + "\nRUN mkdir -p /www && echo " + body + " > /www/index.html\n" +
				"CMD [\"/bin/httpd\", \"-f\", \"-p\", \"5000\", \"-h\", \"/www\"]\n",
		}
		if appJSON {
			files["app.json"] = `{"healthchecks": {"web": [{"type": "startup", "path": "/", "content": "` + body + `", "attempts": 20, "wait": 1, "timeout": 2}]}}` + "\n"
		}
		return dir, writeFiles(dir, files)
	}
	type side struct {
		name string
		run  func(r int) error
	}
	var builds, buildRuns, pushDefault, pushReturnDefault, pushCheck, pushReturnCheck []time.Duration

	baseline := func(r int) error {
		body := fmt.Sprintf("serving-base-%d-%d", r, nonce)
		dir, err := context_(fmt.Sprintf("serving-base-%d", r), body, false)
		if err != nil {
			return err
		}
		tag := fmt.Sprintf("berth-bench/serving-base-%d", r)
		e.defer_("remove image "+tag, func() { exec.Command("docker", "rmi", "-f", tag).Run() })
		t0 := time.Now()
		if out, err := exec.CommandContext(ctx, "docker", "build", "-q", "-t", tag, dir).CombinedOutput(); err != nil {
			return fmt.Errorf("docker build: %v\n%s", err, out)
		}
		built := time.Since(t0)
		name := fmt.Sprintf("berth-bench-serving-base-%d-%s", r, e.runID)
		out, err := exec.CommandContext(ctx, "docker", "run", "-d", "--name", name, "--label", labelBench+"="+e.runID,
			"--network", berthNetwork, tag).CombinedOutput()
		if err != nil {
			return fmt.Errorf("docker run: %v\n%s", err, out)
		}
		id := strings.TrimSpace(string(out))
		defer e.removeContainers(context.Background(), []string{id})
		ip, err := e.containerIP(ctx, id)
		if err != nil {
			return err
		}
		if _, err := pollBody(fmt.Sprintf("http://%s:5000/", ip), "", body, time.Now().Add(time.Minute)); err != nil {
			return fmt.Errorf("the baseline container: %w", err)
		}
		builds, buildRuns = append(builds, built), append(buildRuns, time.Since(t0))
		return nil
	}
	push := func(appJSON bool) func(r int) error {
		return func(r int) error {
			app := fmt.Sprintf("serving-%d", r)
			if appJSON {
				app = fmt.Sprintf("serving-check-%d", r)
			}
			body := fmt.Sprintf("%s-%d", app, nonce)
			dir, err := context_(app, body, appJSON)
			if err != nil {
				return err
			}
			e.defer_("remove "+app, func() { berthtest.RemoveApp(app) })
			for _, args := range [][]string{{"init", "-q", "-b", "main"}, {"add", "."}, {"commit", "-q", "-m", "v1"}} {
				cmd := exec.CommandContext(ctx, "git", args...)
				cmd.Dir, cmd.Env = dir, e.gitEnv()
				if out, err := cmd.CombinedOutput(); err != nil {
					return fmt.Errorf("git %s: %v\n%s", strings.Join(args, " "), err, out)
				}
			}
			t0 := time.Now()
			servedAt := make(chan time.Time, 1)
			go func() {
				at, _ := pollBody(url, app+"."+benchDomain, body, t0.Add(3*time.Minute))
				servedAt <- at
			}()
			cmd := exec.CommandContext(ctx, "git", "push", "-q", fmt.Sprintf("ssh://berth@127.0.0.1:%d/%s", b.sshPort, app), "main")
			cmd.Dir, cmd.Env = dir, e.gitEnv()
			out, err := cmd.CombinedOutput()
			pushed := time.Since(t0)
			at := <-servedAt
			if err != nil {
				return fmt.Errorf("git push %s: %v\n%s", app, err, out)
			}
			if at.IsZero() {
				return fmt.Errorf("%s never answered 200 with %q through Berth", app, body)
			}
			if appJSON {
				pushCheck, pushReturnCheck = append(pushCheck, at.Sub(t0)), append(pushReturnCheck, pushed)
			} else {
				pushDefault, pushReturnDefault = append(pushDefault, at.Sub(t0)), append(pushReturnDefault, pushed)
			}
			return nil
		}
	}
	sides := []side{{"docker build + run", baseline}, {"push, default check", push(false)}, {"push, app.json check", push(true)}}
	for r := 1; r <= rounds; r++ {
		// A new order each round: the first of a round may find the
		// engine quieter or busier than the last.
		order := slices.Clone(sides)
		for i := 0; i < (r-1)%len(order); i++ {
			order = append(order[1:], order[0])
		}
		for _, s := range order {
			if err := s.run(r); err != nil {
				return fmt.Errorf("round %d, %s: %w", r, s.name, err)
			}
		}
		i := r - 1
		progress("serving %d/%d: push→200 %s (default check; push returned %s), %s (app.json check; returned %s); docker build %s, build+run→200 %s", r, rounds,
			pushDefault[i].Round(time.Millisecond), pushReturnDefault[i].Round(time.Millisecond),
			pushCheck[i].Round(time.Millisecond), pushReturnCheck[i].Round(time.Millisecond),
			builds[i].Round(time.Millisecond), buildRuns[i].Round(time.Millisecond))
	}
	med := func(ds []time.Duration) time.Duration { return pct(slices.Clone(ds), 50) }
	x := func(a, b []time.Duration) string {
		return fmt.Sprintf("%.2fx (+%s)", float64(med(a))/float64(med(b)), (med(a) - med(b)).Round(time.Millisecond))
	}
	rd := func(ds []time.Duration) string { return med(ds).Round(time.Millisecond).String() }
	rep.add("serving", fmt.Sprintf("new app, git push → its host answers 200 through Berth (default check) vs plain docker build of the same context, median of %d (each: %s vs %s)", rounds, durs(pushDefault), durs(builds)),
		rd(pushDefault), rd(builds), x(pushDefault, builds))
	rep.add("serving", "the same vs docker build + docker run until the container answers 200 ("+durs(buildRuns)+")",
		rd(pushDefault), rd(buildRuns), x(pushDefault, buildRuns))
	rep.add("serving", fmt.Sprintf("the same with an app.json check of the page (%s) vs docker build", durs(pushCheck)),
		rd(pushCheck), rd(builds), x(pushCheck, builds))
	rep.add("serving", "the same (app.json check) vs docker build + run until 200",
		rd(pushCheck), rd(buildRuns), x(pushCheck, buildRuns))
	rep.add("serving", "git push returned (default check; app.json check) vs docker build",
		rd(pushReturnDefault)+"; "+rd(pushReturnCheck), rd(builds), "")
	return nil
}
