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

// Dockerfile builds a source's root Dockerfile with the classic builder
// through the Engine API, which needs no BuildKit session and works on
// every engine Berth supports; base images come from the engine's local
// store (nothing is pulled unless missing).
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

// Build builds req.Source's Dockerfile into an image, leaving out what
// its .dockerignore excludes.
func (d Dockerfile) Build(ctx context.Context, req Request) (Result, error) {
	if _, ok, err := req.Source.ReadFile(ctx, "Dockerfile"); err != nil {
		return Result{}, err
	} else if !ok {
		return Result{}, ErrNoDockerfile
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
	go func() { pw.CloseWithError(FilterContext(pw, archive, ignore)) }()
	defer pr.Close()

	opts := client.ImageBuildOptions{
		Tags:        []string{req.Tag},
		Labels:      req.Labels,
		Remove:      true,
		ForceRemove: true,
		Dockerfile:  "Dockerfile",
		Version:     build.BuilderV1,
		Memory:      req.Memory,
		MemorySwap:  req.MemorySwap,
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
	return Result{ImageID: id}, err
}

// readBuildOutput relays the engine's JSON message stream to log and
// returns the built image's ID, or the build's error.
func readBuildOutput(body io.Reader, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	dec := json.NewDecoder(body)
	var imageID string
	for {
		var msg jsonstream.Message
		if err := dec.Decode(&msg); errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return "", fmt.Errorf("docker build: reading the engine's output: %w", err)
		}
		if msg.Error != nil {
			return "", fmt.Errorf("docker build failed: %s", strings.TrimSpace(msg.Error.Message))
		}
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
	}
	if imageID == "" {
		return "", errors.New("docker build ended without an image ID; see the build log above")
	}
	return imageID, nil
}
