// Command xcaddybuild builds a custom Caddy binary from xcaddy.json.
//
// xcaddy.json holds the JSON form of xcaddy's Builder struct. The xcaddy
// command line (v0.4.5) cannot read such a file: it takes its build spec
// only from arguments and XCADDY_* environment variables. This program
// therefore translates the file into
//
//	go tool xcaddy build CADDY_VERSION --with MODULE[@VERSION] ... --replace OLD=NEW ... --output FILE
//
// and runs that. `go tool xcaddy` runs the xcaddy version pinned by the
// tool directive in go.mod, so the build uses exactly that version.
//
// Usage, from the repository root:
//
//	go run ./internal/xcaddybuild [-f xcaddy.json] [-o ./caddy] [-n]
//
// Only the Builder fields caddy_version, plugins and replacements are
// accepted; any other field is an error rather than being silently
// ignored. Use xcaddy's XCADDY_* environment variables (for example
// XCADDY_SKIP_CLEANUP=1 or XCADDY_GO_BUILD_FLAGS) for the rest: they are
// passed through to xcaddy unchanged.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// spec is the subset of xcaddy.Builder's JSON form that this program
// understands. The JSON names are those of xcaddy v0.4.5's Builder,
// Dependency and Replace types.
type spec struct {
	CaddyVersion string `json:"caddy_version"`
	Plugins      []struct {
		ModulePath string `json:"module_path"`
		Version    string `json:"version"`
	} `json:"plugins"`
	Replacements []struct {
		Old string `json:"old"`
		New string `json:"new"`
	} `json:"replacements"`
}

func main() {
	file := flag.String("f", "xcaddy.json", "build spec (JSON form of xcaddy's Builder)")
	output := flag.String("o", "./caddy", "path of the binary to write")
	dryRun := flag.Bool("n", false, "print the xcaddy command instead of running it")
	flag.Parse()
	if flag.NArg() > 0 {
		fatalf("unexpected arguments: %q", flag.Args())
	}

	args, err := buildArgs(*file, *output)
	if err != nil {
		fatalf("%v", err)
	}
	fmt.Fprintln(os.Stderr, "+ go "+strings.Join(args, " "))
	if *dryRun {
		return
	}

	cmd := exec.Command("go", args...)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			os.Exit(exit.ExitCode())
		}
		fatalf("%v", err)
	}
}

// buildArgs reads the spec in file and returns the arguments for the go
// command. Relative local replacement paths are resolved against the
// directory holding file, and output against the working directory.
func buildArgs(file, output string) ([]string, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, err
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s spec
	if err := dec.Decode(&s); err != nil {
		return nil, fmt.Errorf("%s: %v (supported fields: caddy_version, plugins, replacements)", file, err)
	}
	if s.CaddyVersion == "" {
		return nil, fmt.Errorf("%s: caddy_version is required", file)
	}
	dir, err := filepath.Abs(filepath.Dir(file))
	if err != nil {
		return nil, err
	}
	out, err := filepath.Abs(output)
	if err != nil {
		return nil, err
	}

	args := []string{"tool", "xcaddy", "build", s.CaddyVersion}
	for _, p := range s.Plugins {
		if p.ModulePath == "" {
			return nil, fmt.Errorf("%s: plugin without module_path", file)
		}
		with := p.ModulePath
		if p.Version != "" {
			with += "@" + p.Version
		}
		args = append(args, "--with", with)
	}
	for _, r := range s.Replacements {
		if r.Old == "" || r.New == "" {
			return nil, fmt.Errorf("%s: replacement needs both old and new", file)
		}
		// Builder writes "path version"; the command line wants "path@version".
		old := strings.Replace(r.Old, " ", "@", 1)
		repl := r.New
		if isLocalPath(repl) {
			if !filepath.IsAbs(repl) {
				repl = filepath.Join(dir, repl)
			}
		} else {
			repl = strings.Replace(repl, " ", "@", 1)
		}
		args = append(args, "--replace", old+"="+repl)
	}
	return append(args, "--output", out), nil
}

func isLocalPath(p string) bool {
	return p == "." || p == ".." || filepath.IsAbs(p) ||
		strings.HasPrefix(p, "./") || strings.HasPrefix(p, "../")
}

func fatalf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "xcaddybuild: "+format+"\n", args...)
	os.Exit(1)
}
