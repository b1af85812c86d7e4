package builder

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"regexp"
	"strings"
	"time"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/api/types/jsonstream"
	"github.com/moby/moby/client"
)

// BuildKitProber is the part of an engine that says whether it builds
// with BuildKit. An Engine without it gets the classic builder.
type BuildKitProber interface {
	// BuildKit reports whether the engine's own BuildKit can build
	// (?version=2 of the build API), and when not, why, for the log.
	BuildKit(ctx context.Context) (ok bool, why string, err error)
}

// BuildKitLimiter is the part of an engine that can bound its BuildKit's
// RUN steps (see docker.Client.LimitBuildKit): memory and swap in bytes,
// CPUs in billionths, 0 for none. release ends the build's claim; why
// says, for the log, why it cannot (then release is nil).
type BuildKitLimiter interface {
	LimitBuildKit(ctx context.Context, memory, swap, nanoCPUs int64) (release func(), why string, err error)
}

// BuildCanceller stops a BuildKit build by its ID. On Docker 20.10 the
// closed request alone stops the solve (limits_buildkit_timeout.txtar
// passes without the cancel too); the docker CLI also cancels by ID, and
// so does Berth, so that no engine keeps a deadline-stopped step running.
type BuildCanceller interface {
	BuildCancel(ctx context.Context, id string) error
}

// buildKitBuild runs one build through the engine's BuildKit, with the
// context uploaded as the request's tar body. That needs no session:
// the engine serves the body to BuildKit's Dockerfile frontend as the
// remote context (moby's builder-next reqBodyHandler, in Docker 20.10
// and current alike), and base images resolve from the engine's own
// image store. A session (session.go) is opened only for build secrets;
// RUN --mount=type=ssh is refused with an error that says so
// (buildKitHint).
func (d Dockerfile) buildKitBuild(ctx context.Context, req Request, body io.Reader, dockerfile string, opts BuildOptions) (string, error) {
	id := newBuildID()
	bopts := client.ImageBuildOptions{
		Tags:       []string{req.Tag},
		Labels:     req.Labels,
		Dockerfile: dockerfile,
		Version:    build.BuilderBuildKit,
		BuildID:    id,
		BuildArgs:  opts.buildArgs(),
		Target:     opts.Target,
	}
	if len(opts.Secrets) > 0 {
		secrets, err := opts.secretValues(req.App, req.Env)
		if err != nil {
			return "", err
		}
		dialer, ok := d.Engine.(SessionDialer)
		if !ok {
			return "", errors.New("build secrets need a BuildKit session, which this engine client cannot open")
		}
		sid, stop, err := startSession(ctx, dialer, secrets)
		if err != nil {
			return "", err
		}
		defer stop()
		bopts.SessionID = sid
	}
	res, err := d.Engine.ImageBuild(ctx, body, bopts)
	if err != nil {
		return "", fmt.Errorf("docker build (BuildKit): %w", err)
	}
	defer res.Body.Close()
	if c, ok := d.Engine.(BuildCanceller); ok {
		stop := context.AfterFunc(ctx, func() {
			cctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 10*time.Second)
			defer cancel()
			c.BuildCancel(cctx, id)
		})
		defer stop()
	}
	return readBuildKitOutput(res.Body, req.Log)
}

func newBuildID() string {
	var b [16]byte
	rand.Read(b[:])
	return "berth-" + hex.EncodeToString(b[:])
}

// readBuildKitOutput relays a BuildKit build's JSON message stream to log
// as readable lines (see progress) and returns the built image's ID.
func readBuildKitOutput(body io.Reader, log io.Writer) (string, error) {
	if log == nil {
		log = io.Discard
	}
	p := newProgress(log)
	var imageID string
	err := eachBuildMessage(body, p.flush, func(msg jsonstream.Message) error {
		switch {
		case msg.ID == "moby.buildkit.trace" && msg.Aux != nil:
			var raw []byte // a JSON string: the protobuf, base64
			if err := json.Unmarshal(*msg.Aux, &raw); err != nil {
				return fmt.Errorf("docker build: BuildKit's progress is not what Berth reads: %w", err)
			}
			st, err := decodeStatus(raw)
			if err != nil {
				return fmt.Errorf("docker build: BuildKit's progress: %w", err)
			}
			p.write(st)
		case msg.ID == "moby.image.id" && msg.Aux != nil:
			var aux struct{ ID string }
			if json.Unmarshal(*msg.Aux, &aux) == nil && aux.ID != "" {
				imageID = aux.ID
			}
		case msg.Stream != "":
			io.WriteString(log, msg.Stream)
		}
		return nil
	})
	if err != nil {
		return "", err
	}
	p.flush()
	if imageID == "" {
		return "", errors.New("docker build ended without an image ID; see the build log above")
	}
	// BuildKit's own "writing image" status is not relayed (statuses
	// are left out of the log): say which image the build made, as the
	// classic builder's "Successfully built" does.
	fmt.Fprintf(log, "-----> Built image %s\n", imageID)
	return imageID, nil
}

// progress writes BuildKit's vertex updates the way `docker build
// --progress=plain` does: each step once, numbered, when it starts
// ("#3 [2/4] RUN make"), its output lines under the same number, then
// "#3 CACHED", "#3 DONE 1.2s" or "#3 ERROR: ...". Updates repeat whole
// vertices; what was written is remembered so nothing is written twice.
type progress struct {
	log     io.Writer
	num     map[string]int
	started map[string]bool
	ended   map[string]bool
	partial map[string]string // a log line still without its newline
	order   []string
}

func newProgress(log io.Writer) *progress {
	return &progress{log: log, num: map[string]int{}, started: map[string]bool{}, ended: map[string]bool{}, partial: map[string]string{}}
}

func (p *progress) id(digest string) int {
	n, ok := p.num[digest]
	if !ok {
		n = len(p.num) + 1
		p.num[digest] = n
		p.order = append(p.order, digest)
	}
	return n
}

func (p *progress) write(st status) {
	for _, v := range st.vertices {
		if v.started == nil && !v.cached && v.err == "" {
			continue // not running yet
		}
		n := p.id(v.digest)
		if !p.started[v.digest] {
			p.started[v.digest] = true
			fmt.Fprintf(p.log, "#%d %s\n", n, v.name)
		}
		if p.ended[v.digest] {
			continue
		}
		switch {
		case v.err != "":
			p.flushOne(v.digest)
			fmt.Fprintf(p.log, "#%d ERROR: %s\n", n, v.err)
			p.ended[v.digest] = true
		case v.cached:
			fmt.Fprintf(p.log, "#%d CACHED\n", n)
			p.ended[v.digest] = true
		case v.completed != nil:
			p.flushOne(v.digest)
			fmt.Fprintf(p.log, "#%d DONE %.1fs\n", n, v.completed.Sub(*v.started).Seconds())
			p.ended[v.digest] = true
		}
	}
	for _, l := range st.logs {
		n := p.id(l.vertex)
		text := p.partial[l.vertex] + string(l.msg)
		lines := strings.Split(text, "\n")
		for _, line := range lines[:len(lines)-1] {
			fmt.Fprintf(p.log, "#%d %s\n", n, strings.TrimRight(line, "\r"))
		}
		p.partial[l.vertex] = lines[len(lines)-1]
	}
	for _, w := range st.warnings {
		fmt.Fprintf(p.log, "#%d WARNING: %s\n", p.id(w.vertex), w.short)
	}
}

func (p *progress) flushOne(digest string) {
	if s := p.partial[digest]; s != "" {
		fmt.Fprintf(p.log, "#%d %s\n", p.id(digest), s)
		delete(p.partial, digest)
	}
}

func (p *progress) flush() {
	for _, d := range p.order {
		p.flushOne(d)
	}
}

// buildKitOnly finds what in a Dockerfile no classic builder builds, for
// the message of a build that cannot use BuildKit: RUN's --mount,
// --network and --security, and heredocs. It answers the first such
// line, as "line N: WHAT", or "". COPY and ADD flags are left to the
// classic builder, which says "the --chmod option requires BuildKit"
// where it lacks one (newer classic builders take more of them), and a
// # syntax= line is a comment to it.
func buildKitOnly(dockerfile []byte) string {
	for i, line := range strings.Split(string(dockerfile), "\n") {
		m := flagLine.FindStringSubmatch(strings.TrimSpace(line))
		if m == nil {
			continue
		}
		instr := strings.ToUpper(m[1])
		// Only the leading --flags are the instruction's; later ones are
		// the command's own words.
		rest := strings.Fields(m[2])
		for len(rest) > 0 && strings.HasPrefix(rest[0], "--") {
			flag := strings.ToLower(strings.TrimPrefix(strings.SplitN(rest[0], "=", 2)[0], "--"))
			if instr == "RUN" && (flag == "mount" || flag == "network" || flag == "security") {
				return fmt.Sprintf("line %d: %s --%s", i+1, instr, flag)
			}
			rest = rest[1:]
		}
		if len(rest) > 0 && strings.HasPrefix(rest[0], "<<") && !strings.HasPrefix(rest[0], "<<<") {
			return fmt.Sprintf("line %d: a heredoc (%s <<)", i+1, instr)
		}
	}
	return ""
}

var (
	syntaxAny = regexp.MustCompile(`(?m)^#\s*syntax\s*=`)
	flagLine  = regexp.MustCompile(`(?i)^(RUN|COPY|ADD)\s+(.*)$`)
	heredocRe = regexp.MustCompile(`(?mi)^\s*(RUN|COPY|ADD)\s+(--\S+\s+)*<<`)
	linkRe    = regexp.MustCompile(`(?mi)^\s*(COPY|ADD)\s+(--\S+\s+)*--link\b`)
)

// buildKitHint says what to do about a BuildKit build error that, on its
// own, names a cause a user cannot act on.
func buildKitHint(msg string, dockerfile []byte) string {
	switch {
	case syntaxAny.Match(firstLines(dockerfile)) && (strings.Contains(msg, "frontend gateway") || strings.Contains(msg, "resolve image config") || strings.Contains(msg, "failed to do request")):
		return "; the Dockerfile's # syntax= line asks BuildKit to fetch that Dockerfile frontend image, and this engine cannot pull it: remove the line to build with the engine's built-in frontend, or put the image on the server (docker load)"
	case strings.Contains(msg, "no active session"):
		return "; a RUN --mount=type=secret needs the secret declared: docker-options:add APP build --secret id=ID,env=CONFIG_KEY (its value is the app's config var); --mount=type=ssh is not supported"
	case strings.Contains(msg, "secret") && strings.Contains(msg, "not found"):
		return "; declare each secret the Dockerfile mounts: docker-options:add APP build --secret id=ID,env=CONFIG_KEY"
	case (strings.Contains(msg, "Unknown flag: link") || strings.Contains(msg, "unknown flag: link")) && linkRe.Match(dockerfile),
		strings.Contains(msg, "unknown instruction") && heredocRe.Match(dockerfile):
		return "; this engine's built-in Dockerfile frontend predates COPY --link and heredocs (Dockerfile syntax 1.4, built into Docker 23 and later; Docker 20.10 has 1.2): rewrite those lines, or upgrade the server's Docker"
	case strings.Contains(msg, "failed to resolve source metadata") || strings.Contains(msg, "pull access denied"):
		return "; a FROM image must be in the server's image store or pullable by its engine: docker pull or docker load it on the server"
	}
	return ""
}

func firstLines(b []byte) []byte {
	lines := strings.SplitN(string(b), "\n", 21)
	if len(lines) > 20 {
		lines = lines[:20]
	}
	var keep []string
	for _, l := range lines {
		keep = append(keep, strings.TrimSpace(l))
	}
	return []byte(strings.Join(keep, "\n"))
}
