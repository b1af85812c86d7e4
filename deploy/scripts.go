package deploy

import (
	"context"
	"fmt"
	"io"
	"strings"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// scripts run a release's deploy scripts, each in a one-off container of
// its image: app.json's predeploy (whose result becomes the release's
// image) and postdeploy, and the Procfile's release command. They run
// with the deploy phase's container settings and the release's
// environment.
type scripts struct {
	engine Engine
	specs  platform.Specs
	apps   Apps
}

// predeploy runs app.json's scripts.dokku.predeploy in a one-off container
// of the new image and makes the result the release's image, as Dokku
// does. The config reaches the script through a file on the one-off's
// own volume, which the script deletes before it runs: no secret is baked
// into the image (a volume is not committed), and a --read-only root file
// system, which Docker will not copy into, still takes it.
func (s *scripts) predeploy(ctx context.Context, a *platform.App, rel *platform.Release, limits docker.HostOptions, log io.Writer) error {
	if rel.AppJSON == nil || rel.AppJSON.Scripts.Dokku.Predeploy == "" {
		return nil
	}
	script := rel.AppJSON.Scripts.Dokku.Predeploy
	fmt.Fprintf(log, "-----> Running predeploy: %s\n", script)
	cmd, err := s.engine.ImageCmd(ctx, rel.Image)
	if err != nil {
		return err
	}
	var envFile strings.Builder
	for _, kv := range s.apps.ReleaseEnv(a, *rel, "predeploy") {
		k, v, _ := strings.Cut(kv, "=")
		fmt.Fprintf(&envFile, "%s=%s\n", k, platform.ShellQuote(v))
	}
	const envName = "predeploy-env"
	envPath := docker.OneOffFilesDir + "/" + envName
	host, err := s.specs.Host(a, platform.Slot{Phase: platform.PhaseDeploy})
	if err != nil {
		return err
	}
	code, id, err := s.engine.RunOnce(ctx, docker.OneOff{
		Host:   limits.Merge(host),
		Image:  rel.Image,
		Cmd:    []string{"/bin/sh", "-c", "set -a; . " + envPath + "; set +a; rm -f " + envPath + "; " + script},
		Labels: map[string]string{docker.LabelOneOff: a.Name},
		Files:  map[string]string{envName: envFile.String()},
		Output: indent(log),
		Keep:   true,
	})
	if id != "" {
		defer s.engine.RemoveOneOff(context.WithoutCancel(ctx), id)
	}
	if err != nil {
		return fmt.Errorf("predeploy of %s: %w", a.Name, err)
	}
	if code != 0 {
		return fmt.Errorf("predeploy of %s failed with exit code %d; the deploy is stopped and the running release keeps serving", a.Name, code)
	}
	if rel.ImageID, err = s.engine.Commit(ctx, id, rel.Image, cmd); err != nil {
		return err
	}
	return nil
}

// runScript runs a shell command line in a one-off container of rel's
// image, with the release's environment (DYNO=dyno), its output indented
// into log, and returns its exit status.
func (s *scripts) runScript(ctx context.Context, a *platform.App, rel platform.Release, dyno, script string, limits docker.HostOptions, log io.Writer) (int, error) {
	return s.runArgv(ctx, a, rel, dyno, nil, []string{"/bin/sh", "-c", script}, limits, log)
}

// runArgv is runScript for a command given as its argv.
// runArgv runs argv in a one-off container of rel's image; entrypoint,
// when set, replaces the image's own.
func (s *scripts) runArgv(ctx context.Context, a *platform.App, rel platform.Release, dyno string, entrypoint, argv []string, limits docker.HostOptions, log io.Writer) (int, error) {
	// Deploy scripts run with the deploy phase's settings, as the app's
	// containers do, so a release command reaches the same volumes and
	// networks.
	host, err := s.specs.Host(a, platform.Slot{Phase: platform.PhaseDeploy})
	if err != nil {
		return 1, err
	}
	code, _, err := s.engine.RunOnce(ctx, docker.OneOff{
		Host:       limits.Merge(host),
		Image:      rel.Image,
		Entrypoint: entrypoint,
		Cmd:        argv,
		Env:        s.apps.ReleaseEnv(a, rel, dyno),
		Labels:     map[string]string{docker.LabelOneOff: a.Name},
		Output:     indent(log),
	})
	return code, err
}

// releasePhase runs the Procfile's release command in a one-off container.
func (s *scripts) releasePhase(ctx context.Context, a *platform.App, rel platform.Release, limits docker.HostOptions, log io.Writer) error {
	cmd := rel.Processes[platform.ReleaseProcess]
	if cmd == "" {
		return nil
	}
	fmt.Fprintf(log, "-----> Running release command: %s\n", cmd)
	// A builder that says how the release entry starts (herokuish's
	// /start release, a buildpack image's /cnb/process/release, each with
	// the buildpacks' environment) is followed, as the app's containers
	// follow it (scheduler/dockerlocal/rollout.go): its argv replaces the image's entrypoint
	// too. A CNB launcher started under the image's launcher entrypoint
	// finds CNB_PLATFORM_API cleared and fails.
	var entrypoint []string
	argv := []string{"/bin/sh", "-c", cmd}
	if l := rel.Launch[platform.ReleaseProcess]; len(l) > 0 {
		entrypoint, argv = l[:1], l[1:]
	}
	code, err := s.runArgv(ctx, a, rel, "release", entrypoint, argv, limits, log)
	if err != nil {
		return fmt.Errorf("release command of %s: %w", a.Name, err)
	}
	if code != 0 {
		return fmt.Errorf("release command of %s failed with exit code %d; the deploy is stopped and the running release keeps serving", a.Name, code)
	}
	return nil
}

// postdeploy runs app.json's scripts.dokku.postdeploy once the release
// serves. The release is live by then, so a failure is reported, not
// undone.
func (s *scripts) postdeploy(ctx context.Context, a *platform.App, rel platform.Release, log io.Writer) {
	if rel.AppJSON == nil || rel.AppJSON.Scripts.Dokku.Postdeploy == "" {
		return
	}
	script := rel.AppJSON.Scripts.Dokku.Postdeploy
	fmt.Fprintf(log, "-----> Running postdeploy: %s\n", script)
	code, err := s.runScript(ctx, a, rel, "postdeploy", script, docker.HostOptions{}, log)
	switch {
	case err != nil:
		fmt.Fprintf(log, " !     postdeploy of %s: %v (v%d is serving)\n", a.Name, err, rel.Version)
	case code != 0:
		fmt.Fprintf(log, " !     postdeploy of %s failed with exit code %d (v%d is serving)\n", a.Name, code, rel.Version)
	}
}
