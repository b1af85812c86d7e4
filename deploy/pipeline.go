package deploy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/builder"
	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// DeployRequest is one deploy.
type DeployRequest struct {
	App string
	// Source is built into the release's image. Exactly one of Source
	// and Image is set.
	Source builder.Source
	// Image is a local image deployed as it is, without a build
	// (git:from-image). Nothing is pulled; it has no Procfile or
	// app.json.
	Image string
	// GitRev is the pushed commit, given to the app as GIT_REV.
	GitRev string
	// Reason says what made the release ("push", "rebuild", "sync",
	// "image").
	Reason string
	// Branch, when the app has no deploy branch yet, becomes it once this
	// deploy succeeds.
	Branch string
	// MoveBranch points the deploy branch of the app's repository at
	// GitRev once the release serves (git:sync), and not before: a failed
	// deploy leaves the branch naming what runs.
	MoveBranch bool
	// Log receives the build log and progress for the person deploying.
	Log io.Writer

	// shown is what the caller has already written to Log about this
	// deploy (git:sync's fetch, say); the build's log starts with it.
	shown []byte
}

// Deploy builds the source into a new release and rolls it out: the
// release's predeploy script and release command run first, then its
// containers start beside the old ones, take traffic once they pass their
// checks, and the old containers retire after their in-flight requests
// finish. On any failure before the swap the new containers and image are
// removed and the previous release keeps serving; the error says why, with
// the failing container's last output.
func (d *Deployer) Deploy(ctx context.Context, req DeployRequest) (rel platform.Release, err error) {
	err = d.apps.ChangeApp(ctx, req.App, "a deploy", func(a *platform.App, save func() error) (err error) {
		rel, err = d.deployLocked(ctx, a, save, req)
		return err
	})
	return rel, err
}

// deployLocked is Deploy of the locked app a; save writes a's record.
func (d *Deployer) deployLocked(ctx context.Context, a *platform.App, save func() error, req DeployRequest) (_ platform.Release, err error) {
	if (req.Source == nil) == (req.Image == "") {
		return platform.Release{}, errors.New("a deploy needs a source to build or an image, not both")
	}
	if a.Locked {
		return platform.Release{}, fmt.Errorf("%s is locked and refuses deploys; run apps:unlock %s first", a.Name, a.Name)
	}
	version := a.NextVersion()
	rel := platform.Release{
		Version:     version,
		Image:       fmt.Sprintf("berth/%s:v%d", a.Name, version),
		GitRev:      req.GitRev,
		SourceImage: req.Image,
		Reason:      req.Reason,
		CreatedAt:   time.Now().UTC(),
		Config:      maps.Clone(a.Config),
	}
	started := time.Now()
	attempt := &platform.DeployAttempt{Release: version, GitRev: req.GitRev, Started: started.UTC(), Status: "running"}
	a.LastDeploy = attempt
	if err := save(); err != nil {
		return platform.Release{}, err
	}
	source := "image " + req.Image
	if req.Source != nil {
		source = req.Source.Describe()
	}
	build, err := d.builds.begin(platform.Build{App: a.Name, Reason: req.Reason, Source: source, GitRev: req.GitRev, Image: req.Image, Started: started.UTC()})
	if err != nil {
		// The deploy goes on; only its record is missing.
		d.log.Warn("cannot record the build", "app", a.Name, "error", err)
	}
	build.Write(req.shown)
	limits := d.apps.Limits()
	tee := newTeeLog(logWriter(req.Log), build, limits.BuildLogMax, int64(len(req.shown)))
	log := io.Writer(tee)
	made := 0 // the release made, once it serves
	// builds:cancel cancels ctx with platform.ErrBuildCanceled, as a pusher's
	// Ctrl-C does with platform.ErrPusherGone; it waits for end, which comes after
	// the outcome below is recorded.
	ctx, cancelDeploy := context.WithCancelCause(ctx)
	defer cancelDeploy(nil)
	defer d.deploys.add(a.Name, build.id(), cancelDeploy)()
	ctx, step := platform.WithStep(ctx, "the build")
	defer func() {
		// A deploy cancelled with a cause (the pusher went away) says so,
		// and at which step, rather than "context canceled".
		if err != nil && ctx.Err() != nil {
			if cause := context.Cause(ctx); cause != nil && cause != ctx.Err() {
				err = platform.CancelledError(cause, step.String())
				attempt.Error = err.Error()
			}
		}
		// Record the outcome on a fresh copy: a failed rollout may have
		// left a half-changed record in a. The copy becomes a and is
		// written with the core's save, still under the deploy's lock:
		// the core is the one writer of app records.
		attempt.Finished = time.Now().UTC()
		if attempt.Status == "running" {
			attempt.Status = "failed"
		}
		cleanup := context.WithoutCancel(ctx)
		if fresh, err := d.apps.App(cleanup, req.App); err == nil {
			*a = *fresh
			a.LastDeploy = attempt
			if err := save(); err != nil {
				d.log.Warn("cannot record the deploy's outcome", "app", a.Name, "error", err)
			}
		}
		// The retention is read at the end, as it always was: a builds:set
		// during the deploy applies to it. Unreadable global settings
		// leave the app's own retention, or the default.
		settings, _ := d.buildSettingsOf(cleanup, a)
		if ferr := build.finish(made, err, settings.Retention); ferr != nil {
			d.log.Warn("cannot record the build's end", "app", a.Name, "error", ferr)
		}
		d.hooks.runFinished(req.App, *attempt)
	}()
	fail := func(err error) (platform.Release, error) {
		attempt.Error = err.Error()
		return platform.Release{}, err
	}
	// The build phase (image build, predeploy, release command) runs
	// under build_timeout and the build's resource limits: a deploy key
	// must not be able to hold the host's CPUs, memory or a build slot
	// for ever.
	// An error names the setting (the build's resource limits, its
	// docker-options): the record was edited by hand.
	buildHost, buildSpec, err := d.buildResources(ctx, a)
	if err != nil {
		return fail(err)
	}
	buildCtx, endBuildPhase := context.WithTimeoutCause(ctx, limits.BuildTimeout, errBuildTimeout)
	defer endBuildPhase()
	timedOut := func(err error) error {
		if errors.Is(context.Cause(buildCtx), errBuildTimeout) && ctx.Err() == nil {
			return fmt.Errorf("the build phase of %s (build, predeploy and release command) took longer than build_timeout (%s) and was stopped; make it faster, or have the admin raise build_timeout in the Caddyfile's berth block; the running release keeps serving", a.Name, limits.BuildTimeout)
		}
		return err
	}
	// From here on a failure must leave nothing behind: the release's
	// tag goes (with the image and its build's intermediate images, when
	// nothing else uses them) unless the release serves. A tag that was
	// never made is no error.
	cleanup := context.WithoutCancel(ctx)
	released := false
	defer func() {
		if !released {
			d.engine.RemoveImage(cleanup, rel.Image)
		}
	}()
	if req.Source != nil {
		// The build cache grows with every build: what follows a build
		// (package disk prunes the cache to its bound) runs after this
		// one, off the deploy's path.
		defer func() { go d.hooks.runBuilt(cleanup) }()
	}
	if req.Image != "" {
		fmt.Fprintf(log, "-----> Deploying image %s to %s as release v%d (no build)\n", req.Image, a.Name, version)
		id, err := d.engine.ImageID(ctx, req.Image)
		if docker.IsNotFound(err) {
			return fail(fmt.Errorf("there is no image %s on this host; git:from-image deploys local images only (nothing is pulled): build, pull or load it on the server first", req.Image))
		}
		if err != nil {
			return fail(err)
		}
		if err := d.engine.Tag(ctx, id, rel.Image); err != nil {
			return fail(err)
		}
		rel.ImageID = id
	} else {
		// An unreadable global document fails the build only where the
		// app leaves to it what the build needs (its build directory, or
		// its builder when no dockerfile-path of its own chooses one), as
		// before the settings had a package of their own.
		settings, err := d.buildSettingsOf(ctx, a)
		if err != nil && (settings.BuildDir == "" || (settings.Builder == "" && settings.DockerfilePath == "")) {
			return fail(fmt.Errorf("build of %s failed: %w", a.Name, err))
		}
		if req.Source, err = buildSource(ctx, settings, req.Source); err != nil {
			return fail(err)
		}
		if err := readAppFiles(ctx, req.Source, &rel, a.ProcfilePath); err != nil {
			return fail(err)
		}
		// Refused before the build, not after it: a formation of a
		// million containers must not cost a build first.
		if err := d.apps.CheckFormation(a.Name, platform.NextFormation(a.Formation, platform.ProcessTypes(rel.Processes), rel.AppJSON), "app.json's formation"); err != nil {
			return fail(fmt.Errorf("%w; the deploy is refused and the running release keeps serving", err))
		}
		choice, err := d.selectBuilderAt(buildCtx, a, settings, req.Source, rel.Config)
		if err != nil {
			return fail(timedOut(fmt.Errorf("build of %s failed: %w", a.Name, err)))
		}
		if buildSpec.OptionsErr != nil {
			return fail(buildSpec.OptionsErr)
		}
		buildOpts := buildSpec.Options
		dockerfile, dockerfileNote, err := dockerfileFor(buildCtx, settings, req.Source)
		if err != nil {
			return fail(timedOut(fmt.Errorf("build of %s failed: %w", a.Name, err)))
		}
		rel.Builder = choice.Builder.Name()
		build.setBuilder(rel.Builder)
		fmt.Fprintf(log, "-----> Building %s (%s) as release v%d (%s)\n", a.Name, req.Source.Describe(), version, describeBuildResources(buildHost, limits.BuildTimeout))
		fmt.Fprintf(log, "-----> Using builder %s (%s)\n", rel.Builder, choice.Why)
		if dockerfileNote != "" && rel.Builder == builder.DockerfileName {
			fmt.Fprintf(log, "-----> %s\n", dockerfileNote)
		}
		res, err := choice.Builder.Build(buildCtx, builder.Request{
			Source: req.Source, Tag: rel.Image, Log: log,
			App: a.Name, Env: d.buildEnv(rel.Config), GlobalEnv: d.globalOnly(rel.Config), Buildpacks: slices.Clone(settings.Buildpacks),
			BuilderImage: builder.StackImage(settings.Stack, rel.Builder),
			Memory:       buildHost.Memory, MemorySwap: buildHost.MemorySwap, NanoCPUs: buildHost.NanoCPUs,
			Dockerfile: dockerfile, Options: buildOpts,
		})
		if err != nil {
			d.log.Warn("build failed", "app", a.Name, "release", version, "builder", rel.Builder, "error", err)
			if t := timedOut(err); t != err {
				return fail(t)
			}
			return fail(fmt.Errorf("build of %s failed: %w%s%s", a.Name, err, oomHint(err, buildHost.Memory, a.Name), choice.Alternatives()))
		}
		rel.ImageID = res.ImageID
		rel.Launch = maps.Clone(res.Launch)
		// Process types the builder found stand in for a missing
		// Procfile, within the same formation limits. A builder that
		// says how each of its types starts (Launch: a buildpack image,
		// whose launch metadata already has the Procfile's types) adds
		// the types the Procfile lacks (a buildpack's web beside a
		// Procfile of workers); the Procfile's commands stay as written.
		added, procfile := false, len(rel.Processes) > 0
		for typ, cmd := range res.Processes {
			if _, ok := rel.Processes[typ]; ok || (procfile && len(res.Launch[typ]) == 0) {
				continue
			}
			if rel.Processes == nil {
				rel.Processes = map[string]string{}
			}
			rel.Processes[typ], added = cmd, true
		}
		if added {
			if err := d.apps.CheckFormation(a.Name, platform.NextFormation(a.Formation, platform.ProcessTypes(rel.Processes), rel.AppJSON), "the image's process types"); err != nil {
				return fail(fmt.Errorf("%w; the deploy is refused and the running release keeps serving", err))
			}
		}
	}
	// An image that carries Berth's own labels is refused, whoever
	// built it (see docker.CheckImageLabels).
	if err := d.engine.CheckImageLabels(ctx, rel.Image); err != nil {
		return fail(err)
	}
	port, ok, err := d.engine.ExposedPort(ctx, rel.Image)
	if err != nil {
		return fail(err)
	}
	if !ok {
		port = platform.DefaultPort
	}
	rel.Port = port

	// Checked again by rollout; here so it fails before the deploy
	// scripts run.
	if err := d.specs.CheckTypes(a, platform.ProcessTypes(rel.Processes)); err != nil {
		return fail(err)
	}
	platform.SetStep(ctx, "the predeploy script")
	if err := d.scripts.predeploy(buildCtx, a, &rel, buildHost, log); err != nil {
		return fail(timedOut(err))
	}
	platform.SetStep(ctx, "the release command")
	if err := d.scripts.releasePhase(buildCtx, a, rel, buildHost, log); err != nil {
		return fail(timedOut(err))
	}
	endBuildPhase()
	// The first deploy's branch becomes the app's own, unless the global
	// deploy branch chose it: the app then follows the global setting.
	deployBranch := d.deployBranchOf(ctx, a)
	if deployBranch == "" {
		a.DeployBranch, deployBranch = req.Branch, req.Branch
	}
	if req.MoveBranch && req.Branch != "" {
		// git:sync moves the branch it announced ("deploying it as APP's
		// branch X"), not one looked up again: the global deploy branch
		// may have changed during the build.
		deployBranch = req.Branch
	}
	if err := d.sched.Rollout(ctx, a, rel, log); err != nil {
		return fail(fmt.Errorf("release v%d of %s did not start: %w", version, a.Name, err))
	}
	released, made = true, version
	attempt.Status = "succeeded"
	if req.MoveBranch {
		if err := d.repos.SetBranch(a.Name, deployBranch, req.GitRev); err != nil {
			d.log.Warn("move the deploy branch", "app", a.Name, "error", err)
			fmt.Fprintf(log, " !     v%d serves, but the branch %s of the repository could not be moved to %s: %v\n", version, deployBranch, shortRev(req.GitRev), err)
		}
	}
	d.scripts.postdeploy(ctx, a, rel, log)
	d.log.Info("deployed", "app", a.Name, "release", version, "git_rev", req.GitRev, "duration", time.Since(started).Round(time.Millisecond))
	tee.final(fmt.Appendf(nil, "=====> Deployed %s v%d in %s\n", a.Name, version, time.Since(started).Round(100*time.Millisecond)))
	// Last, and past the log's cap like the line above: what the user
	// opens next.
	tee.final(d.apps.DeployedReport(a, a.Formation))
	return rel, nil
}

// readAppFiles reads the Procfile and app.json of the source into rel.
// procfilePath is where the Procfile is (ps:set procfile-path): "" for
// the root's Procfile, which may be absent; a path set must be there.
func readAppFiles(ctx context.Context, src builder.Source, rel *platform.Release, procfilePath string) error {
	procfile := procfilePath
	if procfile == "" {
		procfile = "Procfile"
	}
	if data, ok, err := src.ReadFile(ctx, procfile); err != nil {
		return err
	} else if !ok && procfilePath != "" {
		return fmt.Errorf("the Procfile path %s (ps:set procfile-path) is not in %s; add it, or reset it with ps:set APP procfile-path", procfilePath, src.Describe())
	} else if ok {
		if rel.Processes, err = platform.ParseProcfile(data); err != nil {
			return err
		}
	}
	if data, ok, err := src.ReadFile(ctx, "app.json"); err != nil {
		return err
	} else if ok {
		if rel.AppJSON, err = platform.ParseAppJSON(data); err != nil {
			return err
		}
	}
	return nil
}

// buildEnv is the config a builder hands to the build: the global config
// under the release's, as the release's containers get it (a global
// BUILDPACK_URL chooses herokuish and names its buildpack).
func (d *Deployer) buildEnv(config map[string]string) map[string]string {
	env := d.globals.Config()
	maps.Copy(env, config)
	return env
}

// globalOnly names the global config vars that config does not override
// (what buildEnv takes from the global config).
func (d *Deployer) globalOnly(config map[string]string) map[string]bool {
	out := map[string]bool{}
	for k := range d.globals.Config() {
		if _, own := config[k]; !own {
			out[k] = true
		}
	}
	return out
}

// errBuildTimeout is the cause of a build phase that ran out of time.
var errBuildTimeout = errors.New("build timeout")

// oomHint adds what to do when a build step was killed, which under a
// memory limit is most likely the kernel's OOM killer (exit code 137).
func oomHint(err error, memory int64, app string) string {
	if memory <= 0 || !strings.Contains(err.Error(), "code: 137") {
		return ""
	}
	return fmt.Sprintf(" (a build step was killed: it probably needed more than the build's memory limit of %dm; raise it with resource:limit %s --process-type build --memory SIZE, an admin key's command, or the Caddyfile's build_memory)", memory>>20, app)
}

// indent prefixes each line written to w, so a container's output stands
// apart from Berth's own lines in a push.
func indent(w io.Writer) io.Writer { return &prefixWriter{w: w, prefix: "       ", atStart: true} }

type prefixWriter struct {
	w       io.Writer
	prefix  string
	atStart bool
}

func (p *prefixWriter) Write(b []byte) (int, error) {
	var out []byte
	for _, c := range b {
		if p.atStart {
			out = append(out, p.prefix...)
			p.atStart = false
		}
		out = append(out, c)
		if c == '\n' {
			p.atStart = true
		}
	}
	if _, err := p.w.Write(out); err != nil {
		return 0, err
	}
	return len(b), nil
}
