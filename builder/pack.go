package builder

import (
	"archive/tar"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/BurntSushi/toml"

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

// builderMetadata is the part of a builder image's
// io.buildpacks.builder.metadata label Berth reads (pack writes it).
type builderMetadata struct {
	Buildpacks []struct {
		ID      string `json:"id"`
		Version string `json:"version"`
	} `json:"buildpacks"`
	Stack struct {
		RunImage struct {
			Image string `json:"image"`
		} `json:"runImage"`
	} `json:"stack"`
	RunImages []struct {
		Image string `json:"image"`
	} `json:"runImages"`
}

const builderMetadataLabel = "io.buildpacks.builder.metadata"

func parseBuilderMetadata(labels map[string]string) (builderMetadata, error) {
	var m builderMetadata
	raw, ok := labels[builderMetadataLabel]
	if !ok {
		return m, fmt.Errorf("it has no %s label", builderMetadataLabel)
	}
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return m, fmt.Errorf("its %s label is not valid JSON: %w", builderMetadataLabel, err)
	}
	return m, nil
}

func (m builderMetadata) runImage() string {
	if len(m.RunImages) > 0 && m.RunImages[0].Image != "" {
		return m.RunImages[0].Image
	}
	return m.Stack.RunImage.Image
}

// buildpackRef is one buildpack of an explicit group.
type buildpackRef struct{ ID, Version string }

// buildpackID is a CNB buildpack ID ("heroku/nodejs", "paketo-buildpacks/go").
var buildpackID = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]*(/[A-Za-z0-9][A-Za-z0-9._-]*)*$`)

// resolve turns buildpack references (ID, ID@VERSION,
// urn:cnb:builder:ID[@VERSION]) into the builder's buildpacks. Berth
// fetches no buildpack: a URL or an image reference is refused with what
// to use instead.
func (m builderMetadata) resolve(refs []string, image, from string) ([]buildpackRef, error) {
	var out []buildpackRef
	for _, ref := range refs {
		id := strings.TrimPrefix(ref, "urn:cnb:builder:")
		if strings.Contains(id, "://") || strings.HasPrefix(id, "docker:") || strings.HasPrefix(id, "urn:") || strings.HasPrefix(id, "/") || strings.HasPrefix(id, ".") {
			return nil, fmt.Errorf("the buildpack %s (from %s) cannot be fetched: the pack builder uses the buildpacks of its builder image %s only, by ID (%s); use one of those, or a builder image that has it (buildpacks:set-property APP stack IMAGE)", ref, from, image, strings.Join(m.ids(), ", "))
		}
		id, version, _ := strings.Cut(id, "@")
		if !buildpackID.MatchString(id) {
			return nil, fmt.Errorf("%q (from %s) is not a buildpack ID; the builder %s has %s", ref, from, image, strings.Join(m.ids(), ", "))
		}
		found := false
		for _, b := range m.Buildpacks {
			if b.ID == id && (version == "" || b.Version == version) {
				out = append(out, buildpackRef{ID: b.ID, Version: b.Version})
				found = true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("the builder image %s has no buildpack %s (from %s); it has %s", image, ref, from, strings.Join(m.ids(), ", "))
		}
	}
	return out, nil
}

func (m builderMetadata) ids() []string {
	var ids []string
	for _, b := range m.Buildpacks {
		ids = append(ids, b.ID+"@"+b.Version)
	}
	if len(ids) == 0 {
		return []string{"none"}
	}
	return ids
}

// orderTOML is an order.toml of one group: the explicit buildpacks.
func orderTOML(group []buildpackRef) []byte {
	var b bytes.Buffer
	b.WriteString("[[order]]\n")
	for _, g := range group {
		fmt.Fprintf(&b, "  [[order.group]]\n    id = %s\n    version = %s\n", strconv.Quote(g.ID), strconv.Quote(g.Version))
	}
	return b.Bytes()
}

// socketClosedTo refuses a build whose buildpacks (and the app code they
// run: npm's install scripts, say) could use the engine's socket, which
// is mounted into the creator's container: whoever can write to it is
// root on the host. The creator connects to it as root and then drops to
// the CNB user (uid, gid) for the buildpacks, so the socket must be
// closed to that user: not root, not the socket's owner or group, and the
// socket not writable by all.
func socketClosedTo(socket string, uid, gid int) error {
	if uid == 0 || gid == 0 {
		return fmt.Errorf("the builder image's CNB user is root (CNB_USER_ID %d, CNB_GROUP_ID %d): its buildpacks would run with the engine's socket, which is root on this host; use a builder image whose CNB user is not root", uid, gid)
	}
	fi, err := os.Stat(socket)
	if err != nil {
		return fmt.Errorf("the pack builder cannot check the engine's socket: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("the pack builder cannot read the owner of the engine's socket %s", socket)
	}
	switch {
	case fi.Mode().Perm()&0o002 != 0:
		return fmt.Errorf("the engine's socket %s is writable by every user (mode %v), so the buildpacks could use it (root on this host); chmod o-rw %s, then push again", socket, fi.Mode().Perm(), socket)
	case int(st.Uid) == uid:
		return fmt.Errorf("the engine's socket %s belongs to uid %d, the builder image's CNB user, so the buildpacks could use it (root on this host); use a builder whose CNB_USER_ID differs", socket, uid)
	case int(st.Gid) == gid && fi.Mode().Perm()&0o020 != 0:
		return fmt.Errorf("the engine's socket %s is writable by group %d, the builder image's CNB group, so the buildpacks could use it (root on this host); use a builder whose CNB_GROUP_ID is not the docker group's", socket, gid)
	}
	return nil
}

// cnbUser reads CNB_USER_ID and CNB_GROUP_ID from a builder image's env.
func cnbUser(env []string) (uid, gid int, err error) {
	get := func(name string) (int, error) {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return 0, fmt.Errorf("its %s is %q, not a number", name, v)
				}
				return n, nil
			}
		}
		return 0, fmt.Errorf("its environment has no %s", name)
	}
	if uid, err = get("CNB_USER_ID"); err != nil {
		return
	}
	gid, err = get("CNB_GROUP_ID")
	return
}

// projectTOML is the part of a project descriptor (project.toml, schema
// 0.1 and 0.2) Berth honours: the build's env and buildpack group.
type projectTOML struct {
	Build struct {
		Env        []projectEnv       `toml:"env"`
		Buildpacks []projectBuildpack `toml:"buildpacks"`
	} `toml:"build"`
	IO struct {
		Buildpacks struct {
			Build struct {
				Env []projectEnv `toml:"env"`
			} `toml:"build"`
			Group []projectBuildpack `toml:"group"`
		} `toml:"buildpacks"`
	} `toml:"io"`
}

type projectEnv struct{ Name, Value string }

type projectBuildpack struct {
	ID      string `toml:"id"`
	Version string `toml:"version"`
	URI     string `toml:"uri"`
}

func readProjectTOML(ctx context.Context, src Source) (projectTOML, error) {
	var p projectTOML
	data, ok, err := src.ReadFile(ctx, "project.toml")
	if err != nil || !ok {
		return p, err
	}
	if _, err := toml.Decode(string(data), &p); err != nil {
		return p, fmt.Errorf("project.toml is not valid TOML: %w; fix it and push again", err)
	}
	return p, nil
}

func (p projectTOML) env() map[string]string {
	out := map[string]string{}
	for _, e := range slices.Concat(p.Build.Env, p.IO.Buildpacks.Build.Env) {
		if e.Name != "" {
			out[e.Name] = e.Value
		}
	}
	return out
}

func (p projectTOML) buildpacks() []string {
	var refs []string
	for _, b := range slices.Concat(p.Build.Buildpacks, p.IO.Buildpacks.Group) {
		switch {
		case b.URI != "":
			refs = append(refs, b.URI)
		case b.Version != "":
			refs = append(refs, b.ID+"@"+b.Version)
		default:
			refs = append(refs, b.ID)
		}
	}
	return refs
}

// validEnvName is a POSIX environment variable name: a platform env file
// is named after it, so it must not be a path.
var validEnvName = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

// packFiles is the tar copied to / of the build container: the source
// under /workspace, the env as /platform/env/NAME files, and the explicit
// order at /layers/order.toml, all owned by the builder's CNB user (the
// buildpacks run as it and write into /workspace).
func packFiles(ctx context.Context, src Source, env map[string]string, order []byte, uid, gid int) (io.ReadCloser, *copyResult) {
	pr, pw := io.Pipe()
	res := &copyResult{}
	go func() { pw.CloseWithError(res.set(writePackFiles(ctx, pw, src, env, order, uid, gid))) }()
	return pr, res
}

func writePackFiles(ctx context.Context, w io.Writer, src Source, env map[string]string, order []byte, uid, gid int) error {
	archive, err := src.Archive(ctx)
	if err != nil {
		return err
	}
	defer archive.Close()
	tw := tar.NewWriter(w)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Uid: uid, Gid: gid})
	}
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), Uid: uid, Gid: gid}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"workspace", "layers", "platform", "platform/env"} {
		if err := dir(d); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if !validEnvName.MatchString(k) {
			continue
		}
		if err := file("platform/env/"+k, []byte(env[k])); err != nil {
			return err
		}
	}
	if order != nil {
		if err := file("layers/order.toml", order); err != nil {
			return err
		}
	}
	guard := newTreeGuard()
	tr := tar.NewReader(archive)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			continue
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := guard.check(name, h); err != nil {
			return err
		}
		h.Name = "workspace/" + name
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			// A hard link names a file of the same archive; one that
			// points outside the tree is dropped (git archive makes none).
			target := path.Clean(strings.TrimPrefix(h.Linkname, "/"))
			if target == ".." || strings.HasPrefix(target, "../") {
				continue
			}
			h.Linkname = "workspace/" + target
		}
		h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
	}
	// An error here fails the copy into the container, which is then
	// removed without having started.
	if err := guard.finish(); err != nil {
		return err
	}
	return tw.Close()
}

// buildMetadata is the part of a CNB image's io.buildpacks.build.metadata
// label Berth reads: the launch processes.
type buildMetadata struct {
	Processes []struct {
		Type    string   `json:"type"`
		Command []string `json:"command"`
		Args    []string `json:"args"`
	} `json:"processes"`
}

// launchProcesses reads the image's process types: each runs as
// /cnb/process/TYPE (the launcher sets the buildpacks' environment up
// first), and its command is kept for display (ps:report, the Procfile
// a source without one is given).
func launchProcesses(labels map[string]string) (Result, error) {
	var res Result
	raw, ok := labels["io.buildpacks.build.metadata"]
	if !ok {
		return res, errors.New("the built image has no io.buildpacks.build.metadata label; is the builder image a CNB builder?")
	}
	var m buildMetadata
	if err := json.Unmarshal([]byte(raw), &m); err != nil {
		return res, fmt.Errorf("the built image's io.buildpacks.build.metadata label is not valid JSON: %w", err)
	}
	for _, p := range m.Processes {
		if p.Type == "" || strings.ContainsAny(p.Type, "/ ") {
			continue
		}
		if res.Processes == nil {
			res.Processes, res.Launch = map[string]string{}, map[string][]string{}
		}
		res.Processes[p.Type] = strings.Join(slices.Concat(p.Command, p.Args), " ")
		res.Launch[p.Type] = []string{"/cnb/process/" + p.Type}
	}
	return res, nil
}
