package builder

import (
	"context"
	"fmt"
	"io"
	"maps"
	"strconv"
	"strings"

	"github.com/berth-paas/berth/docker"
)

// PackName is the Cloud Native Buildpacks builder's name.
const PackName = "pack"

// DefaultPackBuilderImage is the CNB builder image of an app that sets
// none (buildpacks:set-property stack): Dokku's default.
const DefaultPackBuilderImage = "heroku/builder:24"

// packPlatformAPI is the CNB Platform API Berth speaks to the lifecycle:
// the one whose inputs (run.toml, -run-image, <layers>/order.toml) this
// file writes. Lifecycles from v0.17 on support it.
const packPlatformAPI = "0.12"

// PackEngine is what the pack builder asks of the engine; *docker.Client
// implements it.
type PackEngine interface {
	ImageConfig(ctx context.Context, ref string) (docker.ImageConfig, bool, error)
	Pull(ctx context.Context, image string, log io.Writer) error
	EnsureVolume(ctx context.Context, name string, labels map[string]string) (existed bool, err error)
	RunBuildContainer(ctx context.Context, spec docker.BuildContainer) (int, error)
	LocalSocket() (string, error)
	SetEntrypoint(ctx context.Context, ref string, entrypoint []string) (string, error)
}

// Pack builds a source with Cloud Native Buildpacks the way `pack build`
// does with a trusted builder, without the pack binary or a registry: the
// lifecycle's creator runs in the builder image, as root with the engine's
// socket mounted in, and exports the app image into the engine (-daemon);
// it drops to the builder's CNB user for the buildpacks. The source is
// copied into /workspace, the config is /platform/env, and a volume per
// app (PackCacheVolume) keeps cached layers between builds.
type Pack struct {
	Engine PackEngine
}

var _ Builder = Pack{}

// Name returns "pack".
func (Pack) Name() string { return PackName }

// Detect finds a project.toml at the source's root (Dokku's rule; pack is
// also the default builder of a source nothing else detects).
func (Pack) Detect(ctx context.Context, src Source, _ map[string]string) (bool, string, error) {
	if _, ok, err := src.ReadFile(ctx, "project.toml"); err != nil || !ok {
		return false, "a project.toml at the root", err
	}
	return true, "found a project.toml at the root", nil
}

// PackCacheVolume is the volume that keeps an app's buildpack cache
// between builds. The platform removes it with the app.
// The "_" before the suffix keeps the names of two apps' volumes apart:
// app names are [a-z0-9-], so no app's name ends where another's suffix
// starts (berth-pack-cache-APP was app a's pack cache and app
// pack-cache-a's herokuish cache's prefix alike).
func PackCacheVolume(app string) string { return "berth-" + app + "_pack-cache" }

// Paths inside the build container, the lifecycle's defaults.
const (
	packWorkspace = "/workspace"
	packLayers    = "/layers"
	packPlatform  = "/platform"
	packCache     = "/cache"
	packSocket    = "/var/run/docker.sock"
	packLauncher  = "/cnb/lifecycle/launcher"
)

// Build runs the creator for req and returns the image's process types.
func (p Pack) Build(ctx context.Context, req Request) (Result, error) {
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	// The engine's socket first: without it nothing else can work.
	socket, err := p.Engine.LocalSocket()
	if err != nil {
		return Result{}, fmt.Errorf("the pack builder cannot run here: %w; set Berth's docker_host to the engine's unix socket, or build this app from a Dockerfile", err)
	}
	image := req.BuilderImage
	if image == "" {
		image = DefaultPackBuilderImage
	}
	bcfg, err := p.ensureImage(ctx, image, "builder image", log)
	if err != nil {
		return Result{}, err
	}
	meta, err := parseBuilderMetadata(bcfg.Labels)
	if err != nil {
		return Result{}, fmt.Errorf("%s is not a CNB builder image: %w; set another with buildpacks:set-property %s stack IMAGE", image, err, req.App)
	}
	uid, gid, err := cnbUser(bcfg.Env)
	if err != nil {
		return Result{}, fmt.Errorf("%s is not a CNB builder image: %w", image, err)
	}
	if err := socketClosedTo(socket, uid, gid); err != nil {
		return Result{}, err
	}
	runImage := meta.runImage()
	if runImage == "" {
		return Result{}, fmt.Errorf("the builder image %s names no run image (its io.buildpacks.builder.metadata label has none)", image)
	}
	if _, err := p.ensureImage(ctx, runImage, "run image", log); err != nil {
		return Result{}, err
	}

	project, err := readProjectTOML(ctx, req.Source)
	if err != nil {
		return Result{}, err
	}
	// The buildpacks: the app's own (buildpacks:add) win over
	// project.toml's group; none means the builder's order detects.
	refs := req.Buildpacks
	from := "buildpacks:list " + req.App
	if len(refs) == 0 {
		refs, from = project.buildpacks(), "project.toml"
	}
	var order []byte
	if len(refs) > 0 {
		group, err := meta.resolve(refs, image, from)
		if err != nil {
			return Result{}, err
		}
		order = orderTOML(group)
		ids := make([]string, len(group))
		for i, g := range group {
			ids[i] = g.ID + "@" + g.Version
		}
		fmt.Fprintf(log, "-----> Buildpacks (from %s): %s\n", from, strings.Join(ids, ", "))
	}
	env := maps.Clone(req.Env)
	if env == nil {
		env = map[string]string{}
	}
	for k, v := range project.env() {
		if _, set := env[k]; !set { // the app's config wins, as pack's --env does
			env[k] = v
		}
	}

	files, copied := packFiles(ctx, req.Source, env, order, uid, gid)
	defer files.Close()
	cache := PackCacheVolume(req.App)
	if _, err := p.Engine.EnsureVolume(ctx, cache, map[string]string{docker.LabelOneOff: req.App, docker.LabelApp: req.App, LabelBuilder: PackName}); err != nil {
		return Result{}, fmt.Errorf("the build cache of %s: %w", req.App, err)
	}
	cmd := []string{"/cnb/lifecycle/creator",
		"-daemon", "-no-color", "-log-level", "info",
		"-app", packWorkspace, "-layers", packLayers, "-platform", packPlatform,
		"-cache-dir", packCache, "-run-image", runImage,
		"-uid", strconv.Itoa(uid), "-gid", strconv.Itoa(gid),
	}
	if order != nil {
		cmd = append(cmd, "-order", packLayers+"/order.toml")
	}
	cmd = append(cmd, req.Tag)
	fmt.Fprintf(log, "-----> Running the CNB lifecycle's creator in %s (run image %s, cache volume %s)\n", image, runImage, cache)
	code, err := p.Engine.RunBuildContainer(ctx, docker.BuildContainer{
		Image:   image,
		User:    "root",
		Cmd:     cmd,
		Env:     []string{"CNB_PLATFORM_API=" + packPlatformAPI},
		Labels:  map[string]string{docker.LabelOneOff: req.App},
		Binds:   []string{socket + ":" + packSocket},
		Volumes: map[string]string{cache: packCache},
		Files:   files,
		Output:  log,
		Memory:  req.Memory, MemorySwap: req.MemorySwap, NanoCPUs: req.NanoCPUs,
	})
	if refusal := copied.refusal(); refusal != nil {
		return Result{}, refusal
	}
	if err != nil {
		return Result{}, err
	}
	if code != 0 {
		return Result{}, creatorError(code, image)
	}
	built, ok, err := p.Engine.ImageConfig(ctx, req.Tag)
	if err != nil {
		return Result{}, err
	}
	if !ok {
		return Result{}, fmt.Errorf("the creator succeeded but the engine has no image %s; see the build log above", req.Tag)
	}
	res, err := launchProcesses(built.Labels)
	if err != nil {
		return Result{}, err
	}
	// The lifecycle makes the default process (web) the ENTRYPOINT, so
	// that `docker run IMAGE` serves. Berth starts each process type by
	// its Launch argv instead, and runs one-off commands (the release
	// phase, predeploy, run) as CMD /bin/sh -c ...: with the launcher as
	// ENTRYPOINT those run in the buildpacks' environment (their PATH,
	// their env), as `heroku run` does, rather than as arguments of web.
	// "--": the launcher execs the command as given (direct), not
	// through bash, which a run image need not have.
	id, err := p.Engine.SetEntrypoint(ctx, req.Tag, []string{packLauncher, "--"})
	if err != nil {
		return Result{}, err
	}
	res.ImageID = id
	return res, nil
}

// ensureImage returns a local image's config, pulling the image when the
// engine lacks it (the builder and run images are inputs of the build,
// like a Dockerfile's base image).
func (p Pack) ensureImage(ctx context.Context, image, what string, log io.Writer) (docker.ImageConfig, error) {
	cfg, ok, err := p.Engine.ImageConfig(ctx, image)
	if err != nil || ok {
		return cfg, err
	}
	fmt.Fprintf(log, "-----> Pulling the %s %s\n", what, image)
	if err := p.Engine.Pull(ctx, image, log); err != nil {
		return docker.ImageConfig{}, fmt.Errorf("the %s %s is not on this host and cannot be pulled: %w; load it on the server (docker load), choose another with buildpacks:set-property [--global|APP] stack IMAGE, or add a Dockerfile to build with the dockerfile builder", what, image, err)
	}
	cfg, ok, err = p.Engine.ImageConfig(ctx, image)
	if err == nil && !ok {
		err = fmt.Errorf("the %s %s is still missing after its pull", what, image)
	}
	return cfg, err
}

// creatorError explains the creator's exit code (the lifecycle's codes
// of Platform API 0.12).
func creatorError(code int, image string) error {
	switch code {
	case 20, 21:
		return fmt.Errorf("no buildpack of the builder %s recognised the app (creator exit code %d): add what its buildpacks look for (a Procfile, a package.json, requirements.txt, ...), choose buildpacks with buildpacks:add, or add a Dockerfile", image, code)
	case 51:
		return fmt.Errorf("a buildpack failed (creator exit code %d); its output is above", code)
	}
	return fmt.Errorf("the CNB build failed (creator exit code %d); see the build log above", code)
}
