package berth_test

// These tests keep xcaddy.json (the custom-build spec read by
// `go run ./internal/xcaddybuild`) in step with go.mod. They read the real
// files in the repository and need neither network nor a build.

import (
	"bytes"
	"encoding/json"
	"go/ast"
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const (
	caddyModule   = "github.com/caddyserver/caddy/v2"
	xcaddyModule  = "github.com/caddyserver/xcaddy"
	xcaddyTool    = "github.com/caddyserver/xcaddy/cmd/xcaddy"
	buildProgram  = "internal/xcaddybuild/main.go"
	xcaddyJSON    = "xcaddy.json"
	localCheckout = "."
)

// goMod is the part of go.mod these tests look at.
type goMod struct {
	module   string
	requires map[string]string // module path -> version
	tools    []string
}

// readGoMod parses go.mod just enough for module, require and tool
// directives, in both their single-line and block forms.
func readGoMod(t *testing.T) goMod {
	t.Helper()
	data, err := os.ReadFile("go.mod")
	if err != nil {
		t.Fatal(err)
	}
	mod := goMod{requires: map[string]string{}}
	block := ""
	for i, line := range strings.Split(string(data), "\n") {
		if j := strings.Index(line, "//"); j >= 0 {
			line = line[:j]
		}
		f := strings.Fields(line)
		if len(f) == 0 {
			continue
		}
		if block != "" {
			if f[0] == ")" {
				block = ""
				continue
			}
			f = append([]string{block}, f...)
		} else if len(f) == 2 && f[1] == "(" {
			block = f[0]
			continue
		}
		switch f[0] {
		case "module":
			mod.module = unquote(t, f[1])
		case "require":
			if len(f) != 3 {
				t.Fatalf("go.mod:%d: cannot parse require %q", i+1, line)
			}
			mod.requires[unquote(t, f[1])] = f[2]
		case "tool":
			mod.tools = append(mod.tools, unquote(t, f[1]))
		}
	}
	if mod.module == "" {
		t.Fatal("go.mod: no module directive")
	}
	return mod
}

func unquote(t *testing.T, s string) string {
	t.Helper()
	if !strings.HasPrefix(s, `"`) && !strings.HasPrefix(s, "`") {
		return s
	}
	u, err := strconv.Unquote(s)
	if err != nil {
		t.Fatalf("go.mod: %v: %s", err, s)
	}
	return u
}

// buildSpec mirrors the fields of xcaddy's Builder JSON form that
// internal/xcaddybuild accepts; unknown fields are an error there and here.
type buildSpec struct {
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

func readBuildSpec(t *testing.T) buildSpec {
	t.Helper()
	data, err := os.ReadFile(xcaddyJSON)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var s buildSpec
	if err := dec.Decode(&s); err != nil {
		t.Fatalf("%s: %v", xcaddyJSON, err)
	}
	return s
}

func TestXcaddyJSONCaddyVersionMatchesGoMod(t *testing.T) {
	mod := readGoMod(t)
	spec := readBuildSpec(t)
	want, ok := mod.requires[caddyModule]
	if !ok {
		t.Fatalf("go.mod does not require %s", caddyModule)
	}
	if spec.CaddyVersion != want {
		t.Errorf("%s: caddy_version = %q, go.mod requires %s %s", xcaddyJSON, spec.CaddyVersion, caddyModule, want)
	}
}

func TestXcaddyJSONBuildsBerthFromWorkingTree(t *testing.T) {
	mod := readGoMod(t)
	spec := readBuildSpec(t)

	// Berth must be a plugin: its module itself or a package inside it.
	// The package must hold non-test Go files, or xcaddy's blank import
	// of it fails (berth.go at the root imports ./caddymodule).
	var found bool
	for _, p := range spec.Plugins {
		rel, ok := strings.CutPrefix(p.ModulePath, mod.module)
		if !ok || (rel != "" && !strings.HasPrefix(rel, "/")) {
			continue
		}
		found = true
		if !hasGoFiles(t, filepath.FromSlash("."+rel)) {
			t.Errorf("%s: plugin %s: no non-test Go files in ./%s", xcaddyJSON, p.ModulePath, strings.TrimPrefix(rel, "/"))
		}
	}
	if !found {
		t.Errorf("%s: no plugin in module %s", xcaddyJSON, mod.module)
	}

	// And it must be built from this checkout, not fetched.
	var replaced bool
	for _, r := range spec.Replacements {
		if r.Old == mod.module {
			replaced = true
			if r.New != localCheckout {
				t.Errorf("%s: %s is replaced by %q, want %q", xcaddyJSON, r.Old, r.New, localCheckout)
			}
		}
	}
	if !replaced {
		t.Errorf("%s: no replacement of %s by %q", xcaddyJSON, mod.module, localCheckout)
	}
}

func hasGoFiles(t *testing.T, dir string) bool {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		n := e.Name()
		if !e.IsDir() && strings.HasSuffix(n, ".go") && !strings.HasSuffix(n, "_test.go") {
			return true
		}
	}
	return false
}

// TestXcaddyBuildUsesPinnedTool checks that the build command runs the
// xcaddy version pinned in go.mod: go.mod declares xcaddy as a tool and
// requires a version of it, go.sum can verify that version, and the build
// program runs `go tool xcaddy` (which resolves through go.mod) rather than
// an xcaddy from PATH or `go run xcaddy@VERSION`.
func TestXcaddyBuildUsesPinnedTool(t *testing.T) {
	mod := readGoMod(t)
	var isTool bool
	for _, tool := range mod.tools {
		isTool = isTool || tool == xcaddyTool
	}
	if !isTool {
		t.Errorf("go.mod: no tool directive for %s", xcaddyTool)
	}
	version, ok := mod.requires[xcaddyModule]
	if !ok {
		t.Fatalf("go.mod does not require %s", xcaddyModule)
	}
	sum, err := os.ReadFile("go.sum")
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Contains(sum, []byte("\n"+xcaddyModule+" "+version+" h1:")) {
		t.Errorf("go.sum has no h1 hash for %s %s", xcaddyModule, version)
	}

	fset := token.NewFileSet()
	file, err := parser.ParseFile(fset, buildProgram, nil, 0)
	if err != nil {
		t.Fatal(err)
	}
	var lits []string
	ast.Inspect(file, func(n ast.Node) bool {
		if lit, ok := n.(*ast.BasicLit); ok && lit.Kind == token.STRING {
			if s, err := strconv.Unquote(lit.Value); err == nil {
				lits = append(lits, s)
			}
		}
		return true
	})
	var runsGoTool bool
	for i, s := range lits {
		if i+2 < len(lits) && s == "tool" && lits[i+1] == "xcaddy" && lits[i+2] == "build" {
			runsGoTool = true
		}
		if strings.Contains(s, "xcaddy@") || strings.Contains(s, xcaddyModule+"/cmd/xcaddy@") {
			t.Errorf("%s: %q overrides the xcaddy version pinned in go.mod", buildProgram, s)
		}
	}
	if !runsGoTool {
		t.Errorf("%s: does not run `go tool xcaddy build`, so the xcaddy %s pinned in go.mod may not be used", buildProgram, version)
	}
}
