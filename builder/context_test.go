package builder

import (
	"archive/tar"
	"bytes"
	"io"
	"slices"
	"strings"
	"testing"
)

func makeTar(t *testing.T, names ...string) *bytes.Buffer {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, name := range names {
		body := "content of " + name
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: int64(len(body))}); err != nil {
			t.Fatal(err)
		}
		io.WriteString(tw, body)
	}
	tw.Close()
	return &buf
}

func tarNames(t *testing.T, r io.Reader) []string {
	t.Helper()
	var names []string
	tr := tar.NewReader(r)
	for {
		h, err := tr.Next()
		if err == io.EOF {
			return names
		}
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(tr)
		if string(body) != "content of "+h.Name {
			t.Errorf("%s: body %q", h.Name, body)
		}
		names = append(names, h.Name)
	}
}

func TestFilterContextHonoursDockerignore(t *testing.T) {
	src := makeTar(t, ".dockerignore", "Dockerfile", "app.go", "secrets/key.pem", "logs/a.log", "logs/keep.log", "node_modules/x/y.js")
	ignore := "secrets\n# a comment\nlogs/*.log\n!logs/keep.log\nnode_modules\nDockerfile\n.dockerignore\n"
	var out bytes.Buffer
	if err := FilterContext(&out, src, []byte(ignore)); err != nil {
		t.Fatal(err)
	}
	got := tarNames(t, &out)
	want := []string{".dockerignore", "Dockerfile", "app.go", "logs/keep.log"}
	if !slices.Equal(got, want) {
		t.Fatalf("kept %v, want %v", got, want)
	}
}

func TestFilterContextWithoutDockerignoreKeepsAll(t *testing.T) {
	names := []string{"Dockerfile", "a", "b/c"}
	var out bytes.Buffer
	if err := FilterContext(&out, makeTar(t, names...), nil); err != nil {
		t.Fatal(err)
	}
	if got := tarNames(t, &out); !slices.Equal(got, names) {
		t.Fatalf("kept %v", got)
	}
}

func TestReadBuildOutput(t *testing.T) {
	stream := `{"stream":"Step 1/2 : FROM base\n"}
{"stream":" ---\u003e abc\n"}
{"aux":{"ID":"sha256:1234"}}
{"stream":"Successfully built 1234\n"}
`
	var log bytes.Buffer
	id, err := readBuildOutput(strings.NewReader(stream), &log)
	if err != nil || id != "sha256:1234" {
		t.Fatalf("id %q, err %v", id, err)
	}
	if !strings.Contains(log.String(), "Step 1/2 : FROM base") {
		t.Fatalf("log: %q", log.String())
	}
}

func TestReadBuildOutputError(t *testing.T) {
	stream := `{"stream":"Step 1/2 : RUN false\n"}
{"errorDetail":{"code":1,"message":"The command '/bin/sh -c false' returned a non-zero code: 1"},"error":"The command '/bin/sh -c false' returned a non-zero code: 1"}
`
	_, err := readBuildOutput(strings.NewReader(stream), io.Discard)
	if err == nil || !strings.Contains(err.Error(), "returned a non-zero code: 1") {
		t.Fatalf("err = %v", err)
	}
}
