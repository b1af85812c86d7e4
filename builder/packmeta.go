// The pack builder's reading of image labels: the builder image's metadata
// (run image, buildpacks, the explicit order) and the built image's launch processes.

package builder

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
)

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
