package berthtest

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// ModuleRoot returns the directory of Berth's go.mod, found with `go env
// GOMOD` from the current directory. The suite runs in tests/ and the
// benchmark from wherever `go run ./bench` was typed: both build from
// the module's root so that package paths mean the same thing to both.
func ModuleRoot() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		return "", fmt.Errorf("go env GOMOD: %w", err)
	}
	gomod := strings.TrimSpace(string(out))
	if gomod == "" || gomod == os.DevNull {
		return "", errors.New("not inside Berth's module: run this from the repository (go test ./tests, go run ./bench)")
	}
	return filepath.Dir(gomod), nil
}

// GoBuild runs `go build [flags] -o out pkg` in the module root with env
// added to the environment, and returns the compiler's output in the
// error when it fails.
func GoBuild(root, out, pkg string, flags []string, env ...string) error {
	args := append([]string{"build"}, flags...)
	args = append(args, "-o", out, pkg)
	cmd := exec.Command("go", args...)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), env...)
	var buf bytes.Buffer
	cmd.Stdout, cmd.Stderr = &buf, &buf
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go %s: %v\n%s", strings.Join(args, " "), err, buf.String())
	}
	return nil
}

// BuildCaddy builds the caddy binary with Berth inside (./cmd/caddy) to
// out. The suite builds it with the race detector, to find races under
// real traffic; the benchmark without, because the race detector slows
// everything it measures several times over.
func BuildCaddy(root, out string, race bool) error {
	var flags []string
	if race {
		flags = []string{"-race"}
	}
	return GoBuild(root, out, "./cmd/caddy", flags)
}
