package builder

import (
	"archive/tar"
	"bytes"
	"encoding/json"
	"io"
	"path"
	"slices"
	"strings"
	"testing"
)

// FuzzFilterContext: whatever the .dockerignore says, the build context
// keeps the Dockerfile and .dockerignore, keeps every other entry whole
// and in order or leaves it out, leaves out a path a plain line names (and
// what is under it), and keeps everything when there is no pattern.
func FuzzFilterContext(f *testing.F) {
	for _, s := range []struct{ ignore, name string }{
		{"secrets\n# c\nlogs/*.log\n!logs/keep.log\n", "logs/a.log"},
		{"*\n", "x"},
		{"Dockerfile\n.dockerignore\n**\n", "a/b/c"},
		{"!\n", "y"},
		{"[\n", "z"},
		{"../x\n/abs\n", "abs/f"},
		{"", "./other"},
	} {
		f.Add([]byte(s.ignore), s.name)
	}
	f.Fuzz(func(t *testing.T, ignore []byte, name string) {
		names := []string{".dockerignore", "./Dockerfile", "app/main.go", "secrets/key"}
		// A name ending in / is a directory to tar, with no body; git
		// archive never writes an absolute name, so one is not a context.
		if name != "" && !strings.ContainsRune(name, 0) && !strings.HasSuffix(name, "/") && !strings.HasPrefix(name, "/") && len(name) < 100 && !slices.Contains(names, name) {
			names = append(names, name)
		}
		var src bytes.Buffer
		tw := tar.NewWriter(&src)
		for _, n := range names {
			body := "content of " + n
			if err := tw.WriteHeader(&tar.Header{Name: n, Mode: 0o644, Size: int64(len(body))}); err != nil {
				return // a name tar cannot hold: not a context git makes
			}
			io.WriteString(tw, body)
		}
		tw.Close()
		var out bytes.Buffer
		if err := FilterContext(&out, &src, ignore); err != nil {
			return // a pattern the docker CLI refuses too
		}
		var kept []string
		tr := tar.NewReader(&out)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("filtered context is not a tar: %v", err)
			}
			body, _ := io.ReadAll(tr)
			if string(body) != "content of "+h.Name {
				t.Fatalf("%s: body %q", h.Name, body)
			}
			kept = append(kept, h.Name)
		}
		if !slices.Contains(kept, "./Dockerfile") || !slices.Contains(kept, ".dockerignore") {
			t.Fatalf("%q: kept %q, without the Dockerfile or .dockerignore", ignore, kept)
		}
		i := 0
		for _, n := range names {
			if i < len(kept) && kept[i] == n {
				i++
			}
		}
		if i != len(kept) {
			t.Fatalf("kept %q out of order (or made up) from %q", kept, names)
		}
		var lines []string
		for _, l := range strings.Split(string(ignore), "\n") {
			if l = strings.TrimSpace(l); l != "" && !strings.HasPrefix(l, "#") {
				lines = append(lines, l)
			}
		}
		if len(lines) == 0 && len(kept) != len(names) {
			t.Fatalf("no pattern, but kept only %q", kept)
		}
		if slices.ContainsFunc(lines, func(l string) bool { return strings.HasPrefix(l, "!") || strings.ContainsAny(l, `*?[\`) }) {
			return
		}
		for _, n := range kept {
			clean := path.Clean(strings.TrimPrefix(n, "./"))
			if clean == "Dockerfile" || clean == ".dockerignore" {
				continue
			}
			for _, l := range lines {
				// The docker CLI's reading: clean, then drop one leading /.
				l = strings.TrimPrefix(path.Clean(l), "/")
				if clean == l || strings.HasPrefix(clean, l+"/") {
					t.Fatalf(".dockerignore line %q, but %q was kept", l, n)
				}
			}
		}
	})
}

// FuzzBuildKitOutput feeds the engine's BuildKit stream reader arbitrary
// protobuf in a trace message: it must return an error or lines, never
// panic, and every line it writes ends with a newline.
func FuzzBuildKitOutput(f *testing.F) {
	f.Add([]byte("\n\x05\n\x01a\x1a\x00"))
	f.Add([]byte("\x1a\x07\n\x01a\"\x02hi"))
	f.Add([]byte{0x0a, 0x05, 0x01})
	f.Fuzz(func(t *testing.T, pb []byte) {
		aux, _ := json.Marshal(pb)
		stream := `{"id":"moby.buildkit.trace","aux":` + string(aux) + "}\n" + `{"id":"moby.image.id","aux":{"ID":"sha256:x"}}` + "\n"
		var log strings.Builder
		readBuildKitOutput(strings.NewReader(stream), &log)
		if s := log.String(); s != "" && !strings.HasSuffix(s, "\n") {
			t.Fatalf("log %q does not end with a newline", s)
		}
	})
}
