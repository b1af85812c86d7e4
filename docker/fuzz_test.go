package docker

// Fuzz targets for the values of storage:mount, docker-options (-v) and
// resource:limit. FuzzParseOptions (options_test.go) covers the whole
// docker-options line.

import (
	"fmt"
	"path"
	"slices"
	"strings"
	"testing"
)

// FuzzValidateMount: a mount that passes never mounts the host's root or
// the engine's socket (or a directory that holds it), and has the shape
// Docker reads: SOURCE:DEST[:ro|rw] with a clean absolute DEST other than
// /.
func FuzzValidateMount(f *testing.F) {
	for _, s := range []string{
		"/srv/data:/data", "/srv/data:/data:ro", "cache:/cache:rw", "/:/host", "/var/run/docker.sock:/s",
		"/run:/r", "/var:/v", "/var/run/:/x", "//var/run/docker.sock:/s", "/srv/../var/run:/x", "vol:/",
		"/a:/b:z", "a:b", "/srv/my-docker.sock:/s", "/run/containerd:/c", "/a:/b:ro:x",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, spec string) {
		if ValidateMount(spec) != nil {
			return
		}
		parts := strings.Split(spec, ":")
		src, dest := parts[0], parts[1]
		if strings.HasPrefix(src, "/") {
			if path.Clean(src) != src || src == "/" {
				t.Fatalf("%q mounts host path %q", spec, src)
			}
			for _, sock := range dockerSockets {
				if sock == src || strings.HasPrefix(sock, src+"/") {
					t.Fatalf("%q mounts the engine's socket %s", spec, sock)
				}
			}
		} else if !volumeName.MatchString(src) {
			t.Fatalf("%q mounts %q, neither a host path nor a volume", spec, src)
		}
		if !strings.HasPrefix(dest, "/") || path.Clean(dest) != dest || dest == "/" {
			t.Fatalf("%q mounts at %q", spec, dest)
		}
		if len(parts) == 3 && parts[2] != "ro" && parts[2] != "rw" || len(parts) > 3 {
			t.Fatalf("%q has options %q", spec, parts[2:])
		}
	})
}

// FuzzParseAmounts: resource:limit --memory/--cpu and docker-options
// --memory/--cpus. An accepted amount is a real limit: at least a byte,
// at least a hundredth of a CPU; 0, which Docker reads as "no limit", is
// never the result.
func FuzzParseAmounts(f *testing.F) {
	for _, s := range []string{"512m", "1g", "1.5G", "64kb", "1048576b", "512", "0.5", "2", "0", "-1", "1e9", "NaN", "Inf", "0.0000001", "0.4b", "0x1p-2", " 1m"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if n, err := ParseMemory(s); err == nil && (n < 1 || n > 1<<50) {
			t.Fatalf("ParseMemory(%q) = %d", s, n)
		} else if err != nil && n != 0 {
			t.Fatalf("ParseMemory(%q) refused (%v) but gave %d", s, err, n)
		}
		if n, err := ParseCPUs(s); err == nil && (n < 1e7 || n > 1024e9) {
			t.Fatalf("ParseCPUs(%q) = %d", s, n)
		} else if err != nil && n != 0 {
			t.Fatalf("ParseCPUs(%q) refused (%v) but gave %d", s, err, n)
		}
	})
}

// FuzzSplitWords: what a user quotes the POSIX way comes back as the
// words they meant, and splitting never makes up characters.
func FuzzSplitWords(f *testing.F) {
	f.Add("--label", "a=b c", `it's "x" \ $HOME`)
	f.Add("-e", "", "\t\n")
	f.Fuzz(func(t *testing.T, a, b, c string) {
		words := []string{a, b, c}
		var line []string
		for _, w := range words {
			// Single quotes keep everything but a single quote, which is
			// written '\'' (close, escaped quote, reopen).
			line = append(line, "'"+strings.ReplaceAll(w, "'", `'\''`)+"'")
		}
		got, err := SplitWords(strings.Join(line, " "))
		if err != nil || !slices.Equal(got, words) {
			t.Fatalf("%q reads back as %q, %v", words, got, err)
		}
		// Whatever the line, the words hold only bytes it had.
		raw := strings.Join(words, "")
		split, err := SplitWords(raw)
		if err != nil {
			return
		}
		for _, w := range split {
			for i := 0; i < len(w); i++ {
				if strings.IndexByte(raw, w[i]) < 0 {
					t.Fatalf("%q split into %q, with a byte it did not have", raw, split)
				}
			}
			if strings.ContainsAny(w, " \t\n") && !strings.ContainsAny(raw, `'"\`) {
				t.Fatalf("%q, with no quotes, split into a word with a space: %q", raw, w)
			}
		}
	})
}

// FuzzRestartPolicy: ps:set APP restart-policy gives one of Docker's
// policies and a retry count only for on-failure, written back the same.
func FuzzRestartPolicy(f *testing.F) {
	for _, s := range []string{"no", "always", "unless-stopped", "on-failure", "on-failure:5", "on-failure:-1", "always:3", "on-failure:+2", ""} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		name, n, err := ParseRestartPolicy(s)
		if err != nil {
			if name != "" || n != 0 {
				t.Fatalf("%q refused (%v) but gave %q %d", s, err, name, n)
			}
			return
		}
		if !slices.Contains([]string{"no", "always", "unless-stopped", "on-failure"}, name) || n < 0 || n > 0 && name != "on-failure" {
			t.Fatalf("%q gave %q %d", s, name, n)
		}
		back := name
		if strings.Contains(s, ":") {
			back = fmt.Sprintf("%s:%d", name, n)
		}
		if n2, c2, err := ParseRestartPolicy(back); err != nil || n2 != name || c2 != n {
			t.Fatalf("%q gave %q %d, which reads back as %q %d, %v", s, name, n, n2, c2, err)
		}
	})
}
