package builder

import (
	"context"
	"fmt"
	"io"
	"slices"
	"strings"
)

// Builder turns an app's source into an image. Each kind of build is one
// implementation in one file (dockerfile.go; BuildKit, Cloud Native
// Buildpacks and herokuish are the next ones), handed to a Selector at
// construction: nothing registers itself.
type Builder interface {
	// Name is what users call the builder ("dockerfile"): the value of
	// the app's chosen builder, the build log's "Using builder" line and
	// the build and release records.
	Name() string
	// Detect says whether src is the builder's kind of app, from its
	// files and the app's config (herokuish detects BUILDPACK_URL), and
	// why. When ok, why says what it found ("found a Dockerfile at the
	// root"); when not, why names what the source would need, as a noun
	// phrase that follows "add" ("a Dockerfile at the root"), for the
	// error that tells the user what to add. Detect reads; it builds
	// nothing.
	Detect(ctx context.Context, src Source, config map[string]string) (ok bool, why string, err error)
	// Build builds req.Source into an image tagged req.Tag. A builder
	// chosen for an app whose source it cannot build says so in its
	// error, with what to add (ErrNoDockerfile).
	Build(ctx context.Context, req Request) (Result, error)
}

// Request is one build.
type Request struct {
	Source Source
	// Tag names the resulting image, e.g. "berth/blog:v3".
	Tag string
	// Labels are put on the image.
	Labels map[string]string
	// App is the app being built, for builders that keep something per
	// app between builds (a buildpack cache volume).
	App string
	// Env is the app's config, for builders that hand it to the build
	// (buildpacks see it as platform env, herokuish as its environment).
	// The Dockerfile builder ignores it: config is not a build input there.
	Env map[string]string
	// GlobalEnv names the vars of Env that come from the global config
	// (config:set --global), so that an error about one says how to
	// unset it there.
	GlobalEnv map[string]bool
	// Buildpacks are the app's chosen buildpacks (buildpacks:add), in
	// order; empty means the builder detects them.
	Buildpacks []string
	// BuilderImage is the image a builder runs the build in when the
	// app's settings choose one (buildpacks:set-property stack); empty
	// means the builder's own default.
	BuilderImage string
	// Dockerfile is the path of the Dockerfile in the source
	// (builder-dockerfile:set APP dockerfile-path); "" means
	// "Dockerfile" at the root. Other builders ignore it.
	Dockerfile string
	// Options are the app's build-phase docker-options (--build-arg,
	// --target), for the Dockerfile builder.
	Options BuildOptions
	// Log receives the build's output, line by line, as it happens.
	Log io.Writer
	// Memory and MemorySwap (bytes; MemorySwap -1 for unlimited swap)
	// and NanoCPUs (billionths of a CPU) limit the build's containers;
	// zero means no limit. The classic builder takes no pids limit:
	// the build's deadline (ctx) bounds a fork bomb instead. PidsLimit
	// bounds the processes of a herokuish build's container; zero takes
	// DefaultBuildPidsLimit.
	Memory, MemorySwap, NanoCPUs, PidsLimit int64
}

// DefaultBuildPidsLimit is how many processes a herokuish build's
// container may run at once: far above what buildpacks (compilers, make
// -j, npm) use, low enough that a fork bomb in a build script hits it
// instead of the host's pid table.
const DefaultBuildPidsLimit = 4096

// Result is what a build made, and what the builder learned on the way.
type Result struct {
	// ImageID is the built image's ID.
	ImageID string
	// Processes are process types the builder found (a buildpack's
	// launch metadata): type → command. They apply when the source has
	// no Procfile; the Dockerfile builder finds none.
	Processes map[string]string
	// Launch is, per process type, the exact argv (entrypoint first)
	// that starts that type in the built image, for images whose
	// processes do not start as "/bin/sh -c COMMAND" (a buildpack image's
	// /cnb/process/TYPE, herokuish's /start TYPE). A type without an
	// entry runs its Processes command through /bin/sh -c, as today.
	Launch map[string][]string
}

// Selector picks the builder of each deploy. It holds the builders it was
// made with, in detection order, and is safe for concurrent use (it never
// changes after NewSelector).
type Selector struct {
	builders []Builder
	fallback string
}

// NewSelector returns a selector over builders, tried in the order given
// (Dokku's: herokuish for a .buildpacks file or BUILDPACK_URL, pack for a
// project.toml, dockerfile for a Dockerfile). fallback names the builder
// of a source none of them detects, as Dokku's global default builder
// does; "" makes such a source an error that says what to add.
func NewSelector(fallback string, builders ...Builder) (*Selector, error) {
	s := &Selector{builders: builders, fallback: fallback}
	seen := map[string]bool{}
	for _, b := range builders {
		if b.Name() == "" || seen[b.Name()] {
			return nil, fmt.Errorf("builders need distinct, non-empty names; %q is not", b.Name())
		}
		seen[b.Name()] = true
	}
	if fallback != "" && !seen[fallback] {
		return nil, fmt.Errorf("the default builder %q is not one of the builders (%s)", fallback, strings.Join(s.Names(), ", "))
	}
	return s, nil
}

// Names returns the builders' names in detection order.
func (s *Selector) Names() []string {
	names := make([]string, len(s.builders))
	for i, b := range s.builders {
		names[i] = b.Name()
	}
	return names
}

// Lookup returns the builder called name.
func (s *Selector) Lookup(name string) (Builder, bool) {
	i := slices.IndexFunc(s.builders, func(b Builder) bool { return b.Name() == name })
	if i < 0 {
		return nil, false
	}
	return s.builders[i], true
}

// Choice is a selected builder and why it was selected, for the build log.
type Choice struct {
	Builder Builder
	Why     string
	// Needs are, when no builder recognised the source and the default
	// was taken, what each other builder would have needed: the build
	// error says what the user can add (Alternatives).
	Needs []Need
}

// Alternatives is what a failed build of the default builder adds to its
// error: what the source needs for each other builder. "" when the
// builder was chosen or detected.
func (c Choice) Alternatives() string {
	if len(c.Needs) == 0 {
		return ""
	}
	adds := make([]string, len(c.Needs))
	for i, n := range c.Needs {
		adds[i] = fmt.Sprintf("%s (%s builder)", n.What, n.Builder)
	}
	return "; or, to build it another way, add " + strings.Join(adds, " or ")
}

// Select picks the builder for a source of app: chosen, the app's own
// choice, when set; else the first builder that detects the source; else
// the default. config is the app's environment, for detection.
func (s *Selector) Select(ctx context.Context, app, chosen string, src Source, config map[string]string) (Choice, error) {
	if chosen != "" {
		b, ok := s.Lookup(chosen)
		if !ok {
			return Choice{}, fmt.Errorf("%s is set to build with %q, which this Berth does not have (it has %s); choose one of those for %s", app, chosen, strings.Join(s.Names(), ", "), app)
		}
		return Choice{Builder: b, Why: "chosen for " + app}, nil
	}
	var needs []Need
	for _, b := range s.builders {
		ok, why, err := b.Detect(ctx, src, config)
		if err != nil {
			return Choice{}, fmt.Errorf("detecting the builder of %s (%s): %w", app, b.Name(), err)
		}
		if ok {
			return Choice{Builder: b, Why: why}, nil
		}
		needs = append(needs, Need{Builder: b.Name(), What: why})
	}
	if b, ok := s.Lookup(s.fallback); ok {
		others := slices.DeleteFunc(slices.Clone(needs), func(n Need) bool { return n.Builder == s.fallback })
		return Choice{Builder: b, Why: "the default; no builder recognised " + src.Describe(), Needs: others}, nil
	}
	return Choice{}, &NoBuilderError{Source: src.Describe(), Needs: needs}
}

// Need is what one builder would need to build a source.
type Need struct{ Builder, What string }

// NoBuilderError says that no builder recognised a source, and what the
// user can add for each.
type NoBuilderError struct {
	Source string
	Needs  []Need
}

func (e *NoBuilderError) Error() string {
	if len(e.Needs) == 0 {
		return "this Berth has no builder to build " + e.Source + " with; its admin must configure one"
	}
	adds := make([]string, len(e.Needs))
	for i, n := range e.Needs {
		adds[i] = fmt.Sprintf("%s (%s builder)", n.What, n.Builder)
	}
	list := adds[0]
	if len(adds) > 1 {
		list = strings.Join(adds[:len(adds)-1], ", ") + " or " + adds[len(adds)-1]
	}
	return fmt.Sprintf("nothing in %s says how to build it: add %s and push again", e.Source, list)
}

// StackImage is the image a build by the builder named name runs in, for
// the buildpacks stack stack (buildpacks:set-property stack; "" : the
// builder's default). One stack serves both buildpack builders, as
// Dokku's buildpacks:set-property stack did, and goes where Dokku 0.39
// forwards it: an image whose name says herokuish to the herokuish
// builder, any other to pack (a CNB builder is no herokuish image, and
// the reverse); a builder the stack is not for gets "" and builds with
// its default.
func StackImage(stack, name string) string {
	forHerokuish := strings.Contains(stack, "herokuish")
	switch name {
	case "herokuish":
		if forHerokuish {
			return stack
		}
	case DockerfileName:
	default:
		if !forHerokuish {
			return stack
		}
	}
	return ""
}
