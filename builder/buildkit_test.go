package builder

import (
	"context"
	"encoding/json"
	"io"
	"strings"
	"testing"

	"github.com/moby/moby/api/types/build"
	"github.com/moby/moby/client"
	"google.golang.org/protobuf/encoding/protowire"
)

// Encoders of the StatusResponse fields decodeStatus reads, with the
// field numbers of buildkit's control.proto.
func pbString(b []byte, num protowire.Number, s string) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendString(b, s)
}

func pbMsg(b []byte, num protowire.Number, m []byte) []byte {
	b = protowire.AppendTag(b, num, protowire.BytesType)
	return protowire.AppendBytes(b, m)
}

func pbTime(sec int64) []byte {
	b := protowire.AppendTag(nil, 1, protowire.VarintType)
	return protowire.AppendVarint(b, uint64(sec))
}

type testVertex struct {
	digest, name, err  string
	cached             bool
	started, completed int64
}

func encodeVertex(v testVertex) []byte {
	b := pbString(nil, 1, v.digest)
	b = pbString(b, 2, "sha256:input") // inputs: read past
	b = pbString(b, 3, v.name)
	if v.cached {
		b = protowire.AppendTag(b, 4, protowire.VarintType)
		b = protowire.AppendVarint(b, 1)
	}
	if v.started != 0 {
		b = pbMsg(b, 5, pbTime(v.started))
	}
	if v.completed != 0 {
		b = pbMsg(b, 6, pbTime(v.completed))
	}
	if v.err != "" {
		b = pbString(b, 7, v.err)
	}
	return b
}

func encodeLog(digest, msg string) []byte {
	b := pbString(nil, 1, digest)
	b = pbMsg(b, 2, pbTime(1))
	b = protowire.AppendTag(b, 3, protowire.VarintType)
	b = protowire.AppendVarint(b, 1)
	return pbString(b, 4, msg)
}

func traceLine(t *testing.T, vertices []testVertex, logs [][2]string) string {
	var b []byte
	for _, v := range vertices {
		b = pbMsg(b, 1, encodeVertex(v))
	}
	b = pbMsg(b, 2, pbString(nil, 1, "status, not read"))
	for _, l := range logs {
		b = pbMsg(b, 3, encodeLog(l[0], l[1]))
	}
	aux, err := json.Marshal(b) // []byte: a base64 JSON string, as the engine sends
	if err != nil {
		t.Fatal(err)
	}
	return `{"id":"moby.buildkit.trace","aux":` + string(aux) + "}\n"
}

func TestReadBuildKitOutputPrintsStepsLogsAndTheImageID(t *testing.T) {
	stream := traceLine(t, []testVertex{{digest: "a", name: "[1/3] FROM base"}}, nil) + // not started: nothing
		traceLine(t, []testVertex{{digest: "a", name: "[1/3] FROM base", started: 10, completed: 10, cached: true}}, nil) +
		traceLine(t, []testVertex{{digest: "b", name: "[2/3] RUN make", started: 10}}, [][2]string{{"b", "compiling\npart"}}) +
		traceLine(t, []testVertex{{digest: "b", name: "[2/3] RUN make", started: 10}}, [][2]string{{"b", "ial line\n"}}) +
		traceLine(t, []testVertex{{digest: "b", name: "[2/3] RUN make", started: 10, completed: 12}}, nil) +
		traceLine(t, []testVertex{{digest: "b", name: "[2/3] RUN make", started: 10, completed: 12}}, nil) + // repeated: once
		`{"id":"moby.image.id","aux":{"ID":"sha256:built"}}` + "\n" +
		`{"stream":"Successfully tagged berth/app:v1\n"}` + "\n"
	var log strings.Builder
	id, err := readBuildKitOutput(strings.NewReader(stream), &log)
	if err != nil {
		t.Fatal(err)
	}
	if id != "sha256:built" {
		t.Fatalf("image %q", id)
	}
	want := "#1 [1/3] FROM base\n#1 CACHED\n#2 [2/3] RUN make\n#2 compiling\n#2 partial line\n#2 DONE 2.0s\nSuccessfully tagged berth/app:v1\n-----> Built image sha256:built\n"
	if log.String() != want {
		t.Fatalf("log\n%s\nwant\n%s", log.String(), want)
	}
}

func TestReadBuildKitOutputReportsTheFailingStep(t *testing.T) {
	stream := traceLine(t, []testVertex{{digest: "c", name: "[2/2] RUN false", started: 1}}, [][2]string{{"c", "about to fail"}}) +
		traceLine(t, []testVertex{{digest: "c", name: "[2/2] RUN false", started: 1, completed: 2, err: "process \"/bin/sh -c false\" did not complete successfully: exit code: 1"}}, nil) +
		`{"errorDetail":{"message":"executor failed running [/bin/sh -c false]: exit code: 1"},"error":"executor failed running [/bin/sh -c false]: exit code: 1"}` + "\n"
	var log strings.Builder
	_, err := readBuildKitOutput(strings.NewReader(stream), &log)
	if err == nil || !strings.Contains(err.Error(), "exit code: 1") {
		t.Fatalf("error %v", err)
	}
	if want := "#1 [2/2] RUN false\n#1 about to fail\n#1 ERROR: process \"/bin/sh -c false\" did not complete successfully: exit code: 1\n"; log.String() != want {
		t.Fatalf("log %q, want %q", log.String(), want)
	}
}

func TestDecodeStatusRefusesGarbage(t *testing.T) {
	if _, err := decodeStatus([]byte{0x0a, 0x05, 0x01}); err == nil {
		t.Fatal("a truncated message decoded")
	}
}

func TestBuildKitOnlyFindsWhatTheClassicBuilderCannotBuild(t *testing.T) {
	for df, want := range map[string]string{
		"FROM x\nRUN make\nCOPY --from=b --chown=1 a b\n":           "",
		"FROM x\nRUN --mount=type=cache,target=/c make\n":           "line 2: RUN --mount",
		"FROM x\nRUN --network=none make\n":                         "line 2: RUN --network",
		"FROM x\nRUN <<EOF\necho hi\nEOF\n":                         "line 2: a heredoc (RUN <<)",
		"FROM x\nCOPY <<EOF /a\nhi\nEOF\n":                          "line 2: a heredoc (COPY <<)",
		"FROM x\nRUN echo --mount is only text here && cat <<<x\n":  "",
		"FROM x\n# RUN --mount=type=cache in a comment\nRUN true\n": "",
		// Left to the classic builder, which says "requires BuildKit"
		// where it lacks them; a # syntax= line is a comment to it.
		"# syntax=docker/dockerfile:1\nFROM x\n": "",
		"FROM x\ncopy --chmod=755 a /a\n":        "",
		"FROM x\nCOPY --link a /a\n":             "",
	} {
		if got := buildKitOnly([]byte(df)); got != want {
			t.Errorf("buildKitOnly(%q) = %q, want %q", df, got, want)
		}
	}
}

func TestBuildOptionsParse(t *testing.T) {
	var o BuildOptions
	if err := o.Parse([]string{"--build-arg", "A=1", "--build-arg=B=x=y", "--target", "web"}); err != nil {
		t.Fatal(err)
	}
	if err := o.Parse([]string{"--target=final", "--build-arg", "A=2"}); err != nil {
		t.Fatal(err)
	}
	if o.BuildArgs["A"] != "2" || o.BuildArgs["B"] != "x=y" || o.Target != "final" {
		t.Fatalf("%+v", o)
	}
	if err := o.Parse([]string{"--secret", "id=token,env=API_TOKEN", "--secret=id=npmrc"}); err != nil {
		t.Fatal(err)
	}
	if o.Secrets["token"] != "API_TOKEN" || o.Secrets["npmrc"] != "npmrc" {
		t.Fatalf("secrets %v", o.Secrets)
	}
	if _, err := o.secretValues("app", map[string]string{"API_TOKEN": "x"}); err == nil || !strings.Contains(err.Error(), "config:set app npmrc=VALUE") {
		t.Fatalf("a missing config var: %v", err)
	}
	for _, words := range [][]string{{"--secret", "id=a,src=/etc/shadow"}, {"--secret", "id=a,type=file"}, {"--secret", "env=X"}, {"--secret", "id=a,env=1x"}, {"--memory", "1g"}, {"--build-arg"}, {"--build-arg", "NOVALUE"}, {"--build-arg", "1A=1"}, {"--target", "-x"}, {"--squash"}, {"A=1"}} {
		if _, err := ParseBuildOptions(words); err == nil {
			t.Errorf("%q accepted", words)
		}
	}
}

// buildKitEngine is an engine with BuildKit that answers every build
// with stream.
type buildKitEngine struct {
	recordingEngine
	kit       bool
	stream    string
	cancelled []string
}

func (e *buildKitEngine) BuildKit(context.Context) (bool, string, error) {
	return e.kit, "the engine says no", nil
}

func (e *buildKitEngine) BuildCancel(_ context.Context, id string) error {
	e.cancelled = append(e.cancelled, id)
	return nil
}

func (e *buildKitEngine) ImageBuild(ctx context.Context, r io.Reader, o client.ImageBuildOptions) (client.ImageBuildResult, error) {
	if _, err := e.recordingEngine.ImageBuild(ctx, r, o); err != nil {
		return client.ImageBuildResult{}, err
	}
	return client.ImageBuildResult{Body: io.NopCloser(strings.NewReader(e.stream))}, nil
}

func TestDockerfileBuildUsesBuildKitWhenNothingLimitsIt(t *testing.T) {
	e := &buildKitEngine{kit: true, stream: `{"id":"moby.image.id","aux":{"ID":"sha256:kit"}}` + "\n"}
	var log strings.Builder
	res, err := Dockerfile{Engine: e}.Build(context.Background(), Request{
		Source: Files{"web.Dockerfile": "FROM x\nRUN --mount=type=cache,target=/c true\n", ".dockerignore": "web.Dockerfile\n*.txt\n", "a.txt": "x"},
		Tag:    "berth/a:v1", Log: &log, Dockerfile: "web.Dockerfile",
		Options: BuildOptions{BuildArgs: map[string]string{"A": "1"}, Target: "web"},
	})
	if err != nil {
		t.Fatal(err)
	}
	o := e.opts
	if res.ImageID != "sha256:kit" || o.Version != build.BuilderBuildKit || o.Dockerfile != "web.Dockerfile" || o.Target != "web" || *o.BuildArgs["A"] != "1" || !strings.HasPrefix(o.BuildID, "berth-") {
		t.Fatalf("result %+v, options %+v", res, o)
	}
	if !strings.Contains(log.String(), "-----> Building with BuildKit\n") {
		t.Fatalf("log %q", log.String())
	}
	// The Dockerfile is kept though .dockerignore names it, as the CLI does.
	if got := strings.Join(e.context, ","); got != ".dockerignore,web.Dockerfile" {
		t.Fatalf("context %s", got)
	}
	// Memory cannot be enforced by BuildKit: the classic builder runs, and
	// a Dockerfile only BuildKit builds is refused with why.
	_, err = Dockerfile{Engine: e}.Build(context.Background(), Request{
		Source: Files{"Dockerfile": "FROM x\nRUN --mount=type=cache,target=/c true\n"}, Tag: "berth/a:v2", Memory: 1 << 30,
	})
	if err == nil || !strings.Contains(err.Error(), "Dockerfile needs BuildKit (line 2: RUN --mount)") || !strings.Contains(err.Error(), "build_memory none") {
		t.Fatalf("error %v", err)
	}
	// An engine without BuildKit: the classic builder, and the log says why.
	e.kit = false
	e.stream = `{"aux":{"ID":"sha256:classic"}}` + "\n"
	log.Reset()
	res, err = Dockerfile{Engine: e}.Build(context.Background(), Request{Source: Files{"Dockerfile": "FROM x\n"}, Tag: "berth/a:v3", Log: &log})
	if err != nil || res.ImageID != "sha256:classic" || e.opts.Version != build.BuilderV1 || !strings.Contains(log.String(), "classic builder: the engine says no") {
		t.Fatalf("%v %+v %q", err, res, log.String())
	}
	// What the classic builder refuses as BuildKit's, the error says why
	// the classic builder ran.
	e.stream = `{"errorDetail":{"message":"the --chmod option requires BuildKit."}}` + "\n"
	_, err = Dockerfile{Engine: e}.Build(context.Background(), Request{Source: Files{"Dockerfile": "FROM x\nCOPY --chmod=1 a b\n"}, Tag: "berth/a:v4"})
	if err == nil || !strings.Contains(err.Error(), "requires BuildKit.; Berth built it with the classic builder because the engine says no") {
		t.Fatalf("error %v", err)
	}
}

func TestBuildKitHints(t *testing.T) {
	for _, c := range []struct{ msg, dockerfile, want string }{
		{"failed to solve with frontend dockerfile.v0: failed to solve with frontend gateway.v0: failed to do request: Head ...", "# syntax=docker/dockerfile:1.7\nFROM x\n", "remove the line"},
		{"no active sessions", "FROM x\nRUN --mount=type=secret,id=a cat /run/secrets/a\n", "--secret id=ID,env=CONFIG_KEY"},
		{"secret token: not found", "FROM x\n", "declare each secret"},
		{"dockerfile parse error line 2: Unknown flag: link", "FROM x\nCOPY --link a b\n", "Dockerfile syntax 1.4"},
		{"dockerfile parse error line 3: unknown instruction: ECHO", "FROM x\nRUN <<EOF\necho\nEOF\n", "Dockerfile syntax 1.4"},
		{"executor failed: exit code 1", "FROM x\n", ""},
	} {
		got := buildKitHint(c.msg, []byte(c.dockerfile))
		if (c.want == "") != (got == "") || !strings.Contains(got, c.want) {
			t.Errorf("hint for %q: %q, want one with %q", c.msg, got, c.want)
		}
	}
}

// limitingEngine can bound its BuildKit's cgroup, or says why not.
type limitingEngine struct {
	buildKitEngine
	why              string
	memory, nanoCPUs int64
	claims, releases int
}

func (e *limitingEngine) LimitBuildKit(_ context.Context, memory, _, nanoCPUs int64) (func(), string, error) {
	if e.why != "" {
		return nil, e.why, nil
	}
	e.memory, e.nanoCPUs = memory, nanoCPUs
	e.claims++
	return func() { e.releases++ }, "", nil
}

func TestDockerfileBuildBoundsBuildKitWhereTheEngineCan(t *testing.T) {
	e := &limitingEngine{buildKitEngine: buildKitEngine{kit: true, stream: `{"id":"moby.image.id","aux":{"ID":"sha256:kit"}}` + "\n"}}
	var log strings.Builder
	src := Files{"Dockerfile": "FROM x\nRUN --mount=type=cache,target=/c true\n"}
	res, err := Dockerfile{Engine: e}.Build(context.Background(), Request{Source: src, Tag: "berth/a:v1", Log: &log, Memory: 1 << 30, NanoCPUs: 1e9})
	if err != nil || res.ImageID != "sha256:kit" || e.opts.Version != build.BuilderBuildKit {
		t.Fatalf("%v %+v %+v", err, res, e.opts)
	}
	if e.memory != 1<<30 || e.nanoCPUs != 1e9 || e.claims != 1 || e.releases != 1 {
		t.Fatalf("limits %d %d, claims %d, releases %d", e.memory, e.nanoCPUs, e.claims, e.releases)
	}
	// Where the cgroup cannot be bounded, a limited build goes to the
	// classic builder with the reason.
	e.why = "the engine is far away"
	e.stream = `{"aux":{"ID":"sha256:classic"}}` + "\n"
	log.Reset()
	res, err = Dockerfile{Engine: e}.Build(context.Background(), Request{Source: Files{"Dockerfile": "FROM x\n"}, Tag: "berth/a:v2", Log: &log, Memory: 1 << 30})
	if err != nil || res.ImageID != "sha256:classic" || !strings.Contains(log.String(), "classic builder: this build has a memory or CPU limit") || !strings.Contains(log.String(), "the engine is far away") {
		t.Fatalf("%v %+v %q", err, res, log.String())
	}
	// A build without limits builds with BuildKit all the same.
	e.stream = `{"id":"moby.image.id","aux":{"ID":"sha256:kit"}}` + "\n"
	if res, err = (Dockerfile{Engine: e}).Build(context.Background(), Request{Source: src, Tag: "berth/a:v3"}); err != nil || res.ImageID != "sha256:kit" {
		t.Fatalf("%v %+v", err, res)
	}
}
