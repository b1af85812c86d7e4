package builder

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// Engine is the part of the Docker client a Dockerfile build needs.
type Engine interface {
	ImageBuild(ctx context.Context, buildContext io.Reader, options client.ImageBuildOptions) (client.ImageBuildResult, error)
}

// cpuPeriod is the CFS period CPU limits are expressed in (Docker's).
const cpuPeriod = 100_000

// ErrNoDockerfile means the source has no Dockerfile at its root.
var ErrNoDockerfile = errors.New("no Dockerfile at the root of the pushed commit: Berth builds apps from a Dockerfile; add one and push again")

// DockerfileName is the Dockerfile builder's name.
const DockerfileName = "dockerfile"

// Dockerfile builds a source's Dockerfile through the Engine API, with
// the engine's own BuildKit where it has one and the build can use it,
// else with the classic builder. Base images come from the engine's
// local store (nothing is pulled unless missing), either way.
//
// BuildKit in Docker Engine applies none of a build request's memory or
// CPU limits (moby's builder-next passes no Memory, CPUQuota or
// CgroupParent to its RUN containers, in 20.10 and today; they run in
// per-step cgroups under one fixed parent, docker/buildkit). Berth sets
// a build's limits (build_memory, which defaults to half the host's
// memory, build_cpus, or resource:limit APP --process-type build) on
// that parent while the build runs (BuildKitLimiter), so BuildKit is
// the default with limits on. Where it cannot (a remote engine, the
// systemd cgroup driver, a cgroup it cannot write) a limited build runs
// on the classic builder, which enforces them, and the log says why; a
// Dockerfile that needs BuildKit is refused there with what to change.
type Dockerfile struct {
	Engine Engine
}

var _ Builder = Dockerfile{}

// Name returns "dockerfile".
func (Dockerfile) Name() string { return DockerfileName }

// Detect finds a Dockerfile at the source's root.
func (Dockerfile) Detect(ctx context.Context, src Source, _ map[string]string) (bool, string, error) {
	if _, ok, err := src.ReadFile(ctx, "Dockerfile"); err != nil || !ok {
		return false, "a Dockerfile at the root", err
	}
	return true, "found a Dockerfile at the root", nil
}

// Build builds req.Source's Dockerfile (req.Dockerfile, else the root's)
// into an image, leaving out what its .dockerignore excludes.
func (d Dockerfile) Build(ctx context.Context, req Request) (Result, error) {
	name := req.Dockerfile
	if name == "" {
		name = "Dockerfile"
	}
	text, ok, err := req.Source.ReadFile(ctx, name)
	if err != nil {
		return Result{}, err
	} else if !ok {
		if name == "Dockerfile" {
			return Result{}, ErrNoDockerfile
		}
		return Result{}, fmt.Errorf("no %s in the pushed commit, the app's dockerfile-path: add it, or change it with builder-dockerfile:set APP dockerfile-path PATH (no PATH for the root's Dockerfile)", name)
	}
	log := req.Log
	if log == nil {
		log = io.Discard
	}
	kit, why, err := d.chooseBuildKit(ctx, req)
	if err != nil {
		return Result{}, err
	}
	if kit {
		release, whyNot, err := d.limitBuildKit(ctx, req)
		if err != nil {
			return Result{}, err
		}
		if release == nil {
			kit, why = false, whyNot
		} else {
			defer release()
		}
	}
	if !kit {
		if need := buildKitOnly(text); need != "" {
			return Result{}, fmt.Errorf("%s needs BuildKit (%s), and this build cannot use it: %s", name, need, why)
		}
	}
	ignore, _, err := req.Source.ReadFile(ctx, ".dockerignore")
	if err != nil {
		return Result{}, err
	}
	archive, err := req.Source.Archive(ctx)
	if err != nil {
		return Result{}, err
	}
	defer archive.Close()

	// Filter the archive on its way to the engine, so an ignored file is
	// neither uploaded nor visible to COPY.
	pr, pw := io.Pipe()
	go func() { pw.CloseWithError(FilterContext(pw, archive, ignore, name)) }()
	defer pr.Close()

	if kit {
		fmt.Fprintln(log, "-----> Building with BuildKit")
		id, err := d.buildKitBuild(ctx, req, pr, name, req.Options)
		if err != nil {
			return Result{}, fmt.Errorf("%w%s", err, buildKitHint(err.Error(), text))
		}
		return Result{ImageID: id}, nil
	}
	fmt.Fprintf(log, "-----> Building with the classic builder: %s\n", why)
	opts := client.ImageBuildOptions{
		Tags:        []string{req.Tag},
		Labels:      req.Labels,
		Remove:      true,
		ForceRemove: true,
		Dockerfile:  name,
		Version:     build.BuilderV1,
		Memory:      req.Memory,
		MemorySwap:  req.MemorySwap,
		BuildArgs:   req.Options.buildArgs(),
		Target:      req.Options.Target,
	}
	if req.NanoCPUs > 0 {
		opts.CPUPeriod, opts.CPUQuota = cpuPeriod, req.NanoCPUs*cpuPeriod/1e9
	}
	res, err := d.Engine.ImageBuild(ctx, pr, opts)
	if err != nil {
		return Result{}, fmt.Errorf("docker build: %w", err)
	}
	defer res.Body.Close()
	id, err := readBuildOutput(res.Body, req.Log)
	if err != nil && strings.Contains(err.Error(), "requires BuildKit") {
		err = fmt.Errorf("%w; Berth built it with the classic builder because %s", err, why)
	}
	return Result{ImageID: id}, err
}

// chooseBuildKit says whether req builds with BuildKit, and when not,
// why, in words for the build log that say how to get it.
func (d Dockerfile) chooseBuildKit(ctx context.Context, req Request) (bool, string, error) {
	p, ok := d.Engine.(BuildKitProber)
	if !ok {
		return false, "this engine client cannot use BuildKit", nil
	}
	kit, why, err := p.BuildKit(ctx)
	if err != nil {
		return false, "", fmt.Errorf("asking the engine whether it has BuildKit: %w", err)
	}
	return kit, why, nil
}

// limitBuildKit bounds a BuildKit build's RUN steps to req's limits
// through the engine's BuildKit cgroup (docker/buildcgroup.go). When it
// cannot, and the build has a limit, why says so and the build goes to
// the classic builder; a build without limits builds with BuildKit
// either way (its failed attempt only means no stale limit is lifted).
func (d Dockerfile) limitBuildKit(ctx context.Context, req Request) (release func(), why string, err error) {
	limited := req.Memory > 0 || req.NanoCPUs > 0
	l, ok := d.Engine.(BuildKitLimiter)
	if !ok {
		if limited {
			return nil, "this build has a memory or CPU limit (build_memory, build_cpus or resource:limit --process-type build), which BuildKit in Docker Engine does not apply, and this engine client cannot bound BuildKit's cgroup; the classic builder applies them. An admin who sets build_memory none, and no CPU limit, gets BuildKit", nil
		}
		return func() {}, "", nil
	}
	release, why, err = l.LimitBuildKit(ctx, req.Memory, req.MemorySwap, req.NanoCPUs)
	if err != nil {
		return nil, "", fmt.Errorf("bounding BuildKit's cgroup: %w", err)
	}
	if why != "" {
		if limited {
			return nil, "this build has a memory or CPU limit (build_memory, build_cpus or resource:limit --process-type build), which BuildKit in Docker Engine does not apply, and Berth cannot bound BuildKit's RUN steps itself here: " + why + "; the classic builder applies the limits. An admin who sets build_memory none, and no CPU limit, gets BuildKit", nil
		}
		return func() {}, "", nil
	}
	return release, "", nil
}

// eachBuildMessage calls fn with each message of a build's JSON message
// stream (both builders speak it) until it ends. A build error ends it
// with that error, after beforeError (what is held back is written
// first, so the log shows the step that failed).
func eachBuildMessage(body io.Reader, beforeError func(), fn func(jsonstream.Message) error) error {
	dec := json.NewDecoder(body)
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			return nil
		} else if err != nil {
			return fmt.Errorf("docker build: reading the engine's output: %w", err)
		}
		if msg.Error != nil {
			beforeError()
			return fmt.Errorf("docker build failed: %s", strings.TrimSpace(msg.Error.Message))
		}
		if err := fn(msg); err != nil {
			return err
		}
	}
}

// readBuildOutput relays the engine's JSON message stream to log and
// returns the built image's ID, or the build's error.
func readBuildOutput(body io.Reader, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	var imageID string
	err := eachBuildMessage(body, func() {}, func(msg jsonstream.Message) error {
		if msg.Stream != "" {
			io.WriteString(log, msg.Stream)
		} else if msg.Status != "" {
			io.WriteString(log, msg.Status+"\n")
		}
		if msg.Aux != nil {
			var aux struct{ ID string }
			if json.Unmarshal(*msg.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	if imageID == "" {
		return "", errors.New("docker build ended without an image ID; see the build log above")
	}
	return imageID, nil
}
