package builder

import (
	"archive/tar"
	"bufio"
	"bytes"
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"

	"github.com/berth-paas/berth/docker"
)

// HerokuishName is the herokuish builder's name.
const HerokuishName = "herokuish"

// DefaultHerokuishImage is the image herokuish builds run in unless the
// Caddyfile's herokuish_image (or the app's stack) names another: Dokku's.
const DefaultHerokuishImage = "gliderlabs/herokuish:latest-24"

// herokuish's paths (`herokuish paths`): the source is imported from
// /tmp/app, buildpacks keep their cache in /tmp/cache and read the app's
// config from /tmp/env (Heroku's ENV_DIR: a file per variable).
const (
	herokuishImportPath = "/tmp/app"
	herokuishCachePath  = "/tmp/cache"
	herokuishEnvPath    = "/tmp/env"
)

// HerokuishEngine is the part of the container runtime (docker.Client) a
// herokuish build needs.
type HerokuishEngine interface {
	HasImage(ctx context.Context, image string) (bool, error)
	Pull(ctx context.Context, image string, log io.Writer) error
	EnsureVolume(ctx context.Context, name string, labels map[string]string) (existed bool, err error)
	RemoveOwnVolume(ctx context.Context, name string) error
	RunBuild(ctx context.Context, spec docker.BuildRun) (exitCode int, id string, err error)
	Commit(ctx context.Context, id, ref string, cmd []string) (string, error)
	RemoveOneOff(ctx context.Context, id string) error
}

// Herokuish builds an app with classic Heroku buildpacks the way Dokku's
// herokuish builder does: a container of the herokuish image gets the
// source in /tmp/app and the app's cache volume at /tmp/cache, runs
// /build (which picks the buildpack of .buildpacks or BUILDPACK_URL, or
// detects one, and leaves the built app in /app), and is committed as the
// release's image. Each process type then starts as `/start TYPE`, which
// runs the Procfile's command with the buildpack's environment.
type Herokuish struct {
	Engine HerokuishEngine
	// Image is the herokuish image; "" means DefaultHerokuishImage.
	Image string
}

var _ Builder = Herokuish{}

// Name returns "herokuish".
func (Herokuish) Name() string { return HerokuishName }

// Detect finds what Dokku's herokuish builder looks for: a .buildpacks
// file, BUILDPACK_URL in the app's config, or BUILDPACK_URL in a .env file.
func (Herokuish) Detect(ctx context.Context, src Source, config map[string]string) (bool, string, error) {
	if config["BUILDPACK_URL"] != "" {
		return true, "the config var BUILDPACK_URL is set", nil
	}
	if _, ok, err := src.ReadFile(ctx, ".buildpacks"); err != nil {
		return false, "", err
	} else if ok {
		return true, "found .buildpacks at the root", nil
	}
	if env, ok, err := src.ReadFile(ctx, ".env"); err != nil {
		return false, "", err
	} else if ok && dotenvBuildpack.Match(env) {
		return true, "found BUILDPACK_URL in .env", nil
	}
	return false, "a .buildpacks file naming the buildpacks (or the config var BUILDPACK_URL)", nil
}

var dotenvBuildpack = regexp.MustCompile(`(?m)^\s*(export\s+)?BUILDPACK_URL=\S`)

// CacheVolume is the name of app's herokuish build cache volume; "_"
// cannot be in an app's name, so it is no other app's (PackCacheVolume).
func CacheVolume(app string) string { return "berth-" + app + "_herokuish-cache" }

// RemoveCache removes app's cache volume (the app was destroyed).
func (h Herokuish) RemoveCache(ctx context.Context, app string) error {
	return h.Engine.RemoveOwnVolume(ctx, CacheVolume(app))
}

// Build runs herokuish's /build on req.Source and commits the result as
// req.Tag.
func (h Herokuish) Build(ctx context.Context, req Request) (Result, error) {
	if req.App == "" {
		return Result{}, errors.New("a herokuish build needs the app's name, for its cache volume")
	}
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	image := cmp.Or(req.BuilderImage, h.Image, DefaultHerokuishImage)
	if ok, err := h.Engine.HasImage(ctx, image); err != nil {
		return Result{}, err
	} else if !ok {
		fmt.Fprintf(log, "-----> Pulling %s\n", image)
		if err := h.Engine.Pull(ctx, image, log); err != nil {
			return Result{}, fmt.Errorf("the herokuish image %s is not on this server and could not be pulled (%v); load it into Docker (docker load), or have the admin name a local one with herokuish_image in the Caddyfile's berth block", image, err)
		}
	}
	procfile, _, err := req.Source.ReadFile(ctx, "Procfile")
	if err != nil {
		return Result{}, err
	}
	volume := CacheVolume(req.App)
	existed, err := h.Engine.EnsureVolume(ctx, volume, map[string]string{docker.LabelApp: req.App, LabelBuilder: HerokuishName})
	if err != nil {
		return Result{}, err
	}
	if existed {
		fmt.Fprintf(log, "-----> Restoring the build cache from volume %s\n", volume)
	} else {
		fmt.Fprintf(log, "-----> Creating the build cache volume %s\n", volume)
	}
	archive, err := req.Source.Archive(ctx)
	if err != nil {
		return Result{}, err
	}
	defer archive.Close()
	// The pushed tree is checked the way the pack builder's is (see
	// treeGuard): no entry through a symlink, no symlink out of /tmp/app.
	guarded, gw := io.Pipe()
	copied := &copyResult{}
	guardDone := make(chan struct{})
	go func() {
		defer close(guardDone)
		gw.CloseWithError(copied.set(guardTree(gw, archive)))
	}()
	// As below: the guard must have stopped reading the archive before
	// the archive is closed (deferred above).
	defer func() {
		guarded.Close()
		<-guardDone
	}()
	src := io.Reader(guarded)
	if len(req.Buildpacks) > 0 {
		// The app's buildpacks (buildpacks:add) replace the source's
		// .buildpacks, as Dokku's buildpacks plugin does.
		pr, pw := io.Pipe()
		content := strings.Join(req.Buildpacks, "\n") + "\n"
		done := make(chan struct{})
		go func() {
			defer close(done)
			pw.CloseWithError(replaceFile(pw, guarded, ".buildpacks", content))
		}()
		// Runs before archive.Close (deferred above): the goroutine must
		// have stopped reading the archive when it is closed. Closing pr
		// makes its next write fail, if it has not finished.
		defer func() {
			pr.Close()
			<-done
		}()
		src = pr
		fmt.Fprintf(log, "-----> Using the app's buildpacks: %s\n", strings.Join(req.Buildpacks, " "))
	}
	// The config reaches the build as files in /tmp/env, on a volume of
	// the container (Heroku's ENV_DIR, which buildpacks read), and as the
	// environment of /build through a shell that reads them: not as the
	// container's environment, which docker commit would copy into the
	// image with every secret in it.
	files := make(map[string]string, len(req.Env))
	for k, v := range req.Env {
		if !envName.MatchString(k) {
			unset := fmt.Sprintf("config:unset %s %s", req.App, k)
			if req.GlobalEnv[k] {
				unset = "config:unset --global " + k
			}
			return Result{}, fmt.Errorf("the config var name %q cannot be passed to a buildpack; unset it (%s) or rename it to letters, digits and underscores", k, unset)
		}
		files[k] = v
	}
	const loadEnv = `for f in ` + herokuishEnvPath + `/*; do [ -f "$f" ] || continue; v=$(cat "$f"; echo x); export "${f##*/}=${v%x}"; done; exec /build`
	fmt.Fprintf(log, "-----> Running /build in %s\n", image)
	code, id, err := h.Engine.RunBuild(ctx, docker.BuildRun{
		Image:     image,
		Cmd:       []string{"/bin/sh", "-c", loadEnv},
		Labels:    map[string]string{docker.LabelOneOff: req.App},
		Volumes:   map[string]string{volume: herokuishCachePath},
		Files:     files,
		FilesDir:  herokuishEnvPath,
		Source:    src,
		SourceDir: herokuishImportPath,
		Output:    log,
		Memory:    req.Memory, MemorySwap: req.MemorySwap, NanoCPUs: req.NanoCPUs,
		PidsLimit: cmp.Or(req.PidsLimit, DefaultBuildPidsLimit),
	})
	if id != "" {
		// Removed whatever happened, cancelled or not: the container
		// holds the app's build and its files volume its config.
		defer h.Engine.RemoveOneOff(context.WithoutCancel(ctx), id)
	}
	if refusal := copied.refusal(); refusal != nil {
		return Result{}, refusal
	}
	if err != nil {
		if ctx.Err() != nil {
			return Result{}, context.Cause(ctx)
		}
		return Result{}, err
	}
	if code != 0 {
		return Result{}, fmt.Errorf("herokuish's /build failed (exit code: %d); its output above says why: fix the app or its buildpack and push again", code)
	}
	imageID, err := h.Engine.Commit(ctx, id, req.Tag, []string{"/start", "web"})
	if err != nil {
		return Result{}, err
	}
	return Result{ImageID: imageID, Launch: herokuishLaunch(procfile)}, nil
}

// LabelBuilder names the builder on what a builder keeps (its cache
// volume).
const LabelBuilder = "berth.builder"

var envName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// herokuishLaunch starts each process type of the Procfile, and web, as
// `/start TYPE`: herokuish reads the command from the Procfile in /app
// (or the buildpack's default process types) and runs it with the
// buildpack's profile. The release entry, which is not a process type,
// runs the same way (/start release) in the release phase.
func herokuishLaunch(procfile []byte) map[string][]string {
	launch := map[string][]string{"web": {"/start", "web"}}
	sc := bufio.NewScanner(bytes.NewReader(procfile))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		typ, _, ok := strings.Cut(line, ":")
		if typ = strings.TrimSpace(typ); ok && processType.MatchString(typ) {
			launch[typ] = []string{"/start", typ}
		}
	}
	return launch
}

var processType = regexp.MustCompile(`^[a-z0-9][a-z0-9_-]*$`)

// replaceFile copies the tar stream r to w without the entry name, and
// adds name with content at the end.
func replaceFile(w io.Writer, r io.Reader, name, content string) error {
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return err
		}
		if strings.TrimPrefix(hdr.Name, "./") == name {
			continue
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(content))}); err != nil {
		return err
	}
	if _, err := io.WriteString(tw, content); err != nil {
		return err
	}
	return tw.Close()
}
