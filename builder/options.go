package builder

import (
	"fmt"
	"maps"
	"regexp"
	"strings"
)

// BuildOptions are the build-phase docker-options the Dockerfile builder
// takes (Dokku's docker-options:add APP build ...): build arguments and
// the target stage. Anything else is refused when it is added, never
// ignored.
type BuildOptions struct {
	// BuildArgs are --build-arg K=V, for the Dockerfile's ARGs.
	BuildArgs map[string]string
	// Target is --target STAGE: the stage to build instead of the last.
	Target string
}

var (
	argName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	stageName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
)

// buildOptionsHelp says what the build phase takes.
const buildOptionsHelp = "the build phase takes --build-arg NAME=VALUE and --target STAGE (for a build's memory and CPUs use resource:limit APP --process-type build)"

// Parse reads the words of one or more build-phase option
// strings into opts, later words overriding earlier ones.
func (opts *BuildOptions) Parse(words []string) error {
	for i := 0; i < len(words); i++ {
		w := words[i]
		name, value, inline := strings.Cut(w, "=")
		switch name {
		case "--build-arg", "--target":
		default:
			return fmt.Errorf("unknown build option %q: %s", w, buildOptionsHelp)
		}
		if !inline {
			if i+1 >= len(words) {
				return fmt.Errorf("%s needs a value: %s", name, buildOptionsHelp)
			}
			i++
			value = words[i]
		}
		switch name {
		case "--build-arg":
			k, v, ok := strings.Cut(value, "=")
			if !ok || !argName.MatchString(k) {
				return fmt.Errorf("--build-arg %q: want NAME=VALUE, NAME a Dockerfile ARG name (letters, digits, _)", value)
			}
			if opts.BuildArgs == nil {
				opts.BuildArgs = map[string]string{}
			}
			opts.BuildArgs[k] = v
		case "--target":
			if !stageName.MatchString(value) {
				return fmt.Errorf("--target %q: want the name of a stage of the Dockerfile (FROM IMAGE AS NAME)", value)
			}
			opts.Target = value
		}
	}
	return nil
}

// ParseBuildOptions checks the words of one build-phase option string.
func ParseBuildOptions(words []string) (BuildOptions, error) {
	var o BuildOptions
	return o, o.Parse(words)
}

func (opts BuildOptions) buildArgs() map[string]*string {
	if len(opts.BuildArgs) == 0 {
		return nil
	}
	out := make(map[string]*string, len(opts.BuildArgs))
	for k, v := range maps.All(opts.BuildArgs) {
		out[k] = &v
	}
	return out
}
