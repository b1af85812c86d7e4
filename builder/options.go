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
	// Secrets are --secret id=ID[,env=KEY]: RUN --mount=type=secret,id=ID
	// reads the app's config var KEY (ID when no env is given), handed to
	// BuildKit through a session, never in a layer or the image's config.
	Secrets map[string]string
}

var (
	argName   = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)
	stageName = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9_.-]*$`)
)

// buildOptionsHelp says what the build phase takes.
const buildOptionsHelp = "the build phase takes --build-arg NAME=VALUE, --target STAGE and --secret id=ID,env=CONFIG_KEY (for a build's memory and CPUs use resource:limit APP --process-type build)"

// Parse reads the words of one or more build-phase option
// strings into opts, later words overriding earlier ones.
func (opts *BuildOptions) Parse(words []string) error {
	for i := 0; i < len(words); i++ {
		w := words[i]
		name, value, inline := strings.Cut(w, "=")
		switch name {
		case "--build-arg", "--target", "--secret":
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
		case "--secret":
			id, env, err := parseSecret(value)
			if err != nil {
				return err
			}
			if opts.Secrets == nil {
				opts.Secrets = map[string]string{}
			}
			opts.Secrets[id] = env
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

// parseSecret reads docker build's --secret value, of the kind Berth can
// serve: id=ID[,env=KEY][,type=env]. Its value comes from the app's
// config at build time; src= (a file on the server) is refused, since a
// deploy would read the server's files.
func parseSecret(value string) (id, env string, err error) {
	for _, part := range strings.Split(value, ",") {
		k, v, _ := strings.Cut(part, "=")
		switch k {
		case "id":
			id = v
		case "env":
			env = v
		case "type":
			if v != "env" {
				return "", "", fmt.Errorf("--secret %q: Berth's build secrets come from the app's config (type=env), not files: --secret id=ID,env=CONFIG_KEY", value)
			}
		case "src", "source":
			return "", "", fmt.Errorf("--secret %q: Berth's build secrets come from the app's config, not files on the server: config:set APP KEY=VALUE, then --secret id=ID,env=KEY", value)
		default:
			return "", "", fmt.Errorf("--secret %q: unknown field %q; want id=ID,env=CONFIG_KEY", value, k)
		}
	}
	if env == "" {
		env = id
	}
	if !argName.MatchString(id) && !stageName.MatchString(id) {
		return "", "", fmt.Errorf("--secret %q: want id=ID (letters, digits, _ . -),env=CONFIG_KEY", value)
	}
	if !argName.MatchString(env) {
		return "", "", fmt.Errorf("--secret %q: env=%q is not a config var name", value, env)
	}
	return id, env, nil
}

// secretValues reads the secrets' values from the app's config.
func (opts BuildOptions) secretValues(app string, config map[string]string) (map[string][]byte, error) {
	out := map[string][]byte{}
	for id, key := range opts.Secrets {
		v, ok := config[key]
		if !ok {
			return nil, fmt.Errorf("build secret %s reads config var %s, which %s does not have: config:set %s %s=VALUE, or docker-options:remove the --secret", id, key, app, app, key)
		}
		out[id] = []byte(v)
	}
	return out, nil
}
