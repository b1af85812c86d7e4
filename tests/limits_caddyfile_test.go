package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The limits of the berth block adapt to the app's JSON, and a bad value
// is an error that names the option, never ignored.
func TestCaddyfileLimits(t *testing.T) {
	write := func(opts string) string {
		file := filepath.Join(t.TempDir(), "Caddyfile")
		body := "{\n\tberth {\n\t\tauthorized_keys /etc/berth/admin_keys\n" + opts + "\t}\n}\n"
		if err := os.WriteFile(file, []byte(body), 0o600); err != nil {
			t.Fatal(err)
		}
		return file
	}
	cfg := adapt(t, write("\t\tmax_scale 10\n\t\tmax_containers 20\n\t\tbuild_timeout 5m\n\t\tbuild_log_max 1MiB\n\t\tbuild_memory 2g\n\t\tbuild_cpus 1.5\n\t\tpush_max 512m\n"))
	berth := cfg["apps"].(map[string]any)["berth"].(map[string]any)
	for k, want := range map[string]any{"max_scale": 10.0, "max_containers": 20.0, "build_timeout": 300e9,
		"build_log_max": "1MiB", "build_memory": "2g", "build_cpus": "1.5", "push_max": "512m"} {
		if berth[k] != want {
			t.Errorf("%s = %v, want %v", k, berth[k], want)
		}
	}
	for opt, want := range map[string]string{
		"max_scale 0":          "want a whole number from 1 up",
		"build_timeout soon":   "want a duration like 30m",
		"build_log_max 10PB":   "is not a size",
		"push_max lots":        "is not a size",
		"build_memory 1x":      "build_memory",
		"build_cpus many":      "not a number of CPUs",
		"max_scale 1 2":        "takes one value",
		"build_timeout_max 1h": "unknown berth option",
	} {
		out, err := exec.Command(caddyBin, "adapt", "--config", write("\t\t"+opt+"\n")).CombinedOutput()
		if err == nil || !strings.Contains(string(out), want) {
			t.Errorf("%s: %v\n%s\nwant an error with %q", opt, err, out, want)
		}
	}
}
