package berthtest

import (
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The root file system's applets run on their own: busybox is static, so
// the image needs nothing else.
func TestBusyboxRootfsRunsItsApplets(t *testing.T) {
	root := t.TempDir()
	if err := BusyboxRootfs(root); err != nil {
		t.Fatal(err)
	}
	for _, applet := range BusyboxApplets {
		if _, err := exec.LookPath(filepath.Join(root, "bin", applet)); err != nil {
			t.Errorf("applet %s: %v", applet, err)
		}
	}
	out, err := exec.Command(filepath.Join(root, "bin", "sh"), "-c", "echo hello from busybox").CombinedOutput()
	if err != nil || strings.TrimSpace(string(out)) != "hello from busybox" {
		t.Errorf("sh -c echo: %q, %v", out, err)
	}
	if out, err := exec.Command("file", "-L", filepath.Join(root, "bin", "busybox")).Output(); err != nil || !strings.Contains(string(out), "statically linked") {
		t.Errorf("file: %q, %v", out, err)
	}
}
