package berthtest

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
)

// BusyboxApplets are the commands the busybox images have: what test apps
// and the benchmark's apps run (a shell, httpd, nc, wget to call another
// app, ...). One list for every image, so an app that works in the suite
// works in the benchmark.
var BusyboxApplets = []string{"sh", "httpd", "echo", "cat", "ls", "sleep", "mkdir", "env", "nc", "true", "false", "wget"}

// StaticBusybox returns the path of a statically linked busybox (Debian's
// busybox-static). No registry is reachable where the suite runs, so
// images are made from it; a dynamically linked one would need a libc
// inside the image.
func StaticBusybox() (string, error) {
	busybox, err := exec.LookPath("busybox")
	if err != nil {
		return "", fmt.Errorf("busybox is required (apt-get install busybox-static): %w", err)
	}
	if out, _ := exec.Command("file", "-L", busybox).Output(); len(out) > 0 && !bytes.Contains(out, []byte("statically linked")) {
		return "", fmt.Errorf("%s is not statically linked; install busybox-static", busybox)
	}
	return busybox, nil
}

// BusyboxRootfs makes an image's root file system in root: /bin/busybox
// and a symlink to it for each of BusyboxApplets.
func BusyboxRootfs(root string) error {
	busybox, err := StaticBusybox()
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Join(root, "bin"), 0o755); err != nil {
		return err
	}
	data, err := os.ReadFile(busybox)
	if err != nil {
		return err
	}
	if err := os.WriteFile(filepath.Join(root, "bin", "busybox"), data, 0o755); err != nil {
		return err
	}
	for _, applet := range BusyboxApplets {
		if err := os.Symlink("busybox", filepath.Join(root, "bin", applet)); err != nil {
			return err
		}
	}
	return nil
}

// ImportBusybox makes the image name from a static busybox: the root file
// system goes into a new directory under dir, then `docker import` with
// changes (Dockerfile instructions such as `CMD [...]`).
func ImportBusybox(dir, name string, changes ...string) error {
	root, err := os.MkdirTemp(dir, "rootfs-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(root)
	if err := BusyboxRootfs(root); err != nil {
		return err
	}
	return DockerImport(root, name, changes...)
}

// DockerImport makes the image name from the directory root with `docker
// import`, applying changes. It uses the docker CLI, and so the engine
// DOCKER_HOST names, as the scripts' own docker commands do.
func DockerImport(root, name string, changes ...string) error {
	args := []string{"import"}
	for _, c := range changes {
		args = append(args, "--change", c)
	}
	args = append(args, "-", name)
	return Pipe(exec.Command("tar", "-C", root, "-c", "."), exec.Command("docker", args...))
}

// Pipe runs `from | to`; an error carries to's output. to's Env and Dir
// are the caller's to set (a private engine's DOCKER_HOST, say).
func Pipe(from, to *exec.Cmd) error {
	pipe, err := from.StdoutPipe()
	if err != nil {
		return err
	}
	to.Stdin = pipe
	var out bytes.Buffer
	to.Stdout, to.Stderr = &out, &out
	if err := from.Start(); err != nil {
		return err
	}
	if err := to.Run(); err != nil {
		from.Wait()
		return fmt.Errorf("%s: %v: %s", strings.Join(to.Args, " "), err, out.String())
	}
	if err := from.Wait(); err != nil {
		return fmt.Errorf("%s: %w", strings.Join(from.Args, " "), err)
	}
	return nil
}

// ImageID returns the ID of the local image name (what a release record
// holds besides the name).
func ImageID(name string) (string, error) {
	out, err := exec.Command("docker", "image", "inspect", "-f", "{{.Id}}", name).Output()
	if err != nil {
		return "", fmt.Errorf("docker image inspect %s: %w", name, err)
	}
	return strings.TrimSpace(string(out)), nil
}
