// What the pack builder copies into the build container (source, env, order),
// and its checks of the builder's CNB user against the engine's socket.

package builder

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"path"
	"slices"
	"strconv"
	"strings"
	"syscall"
)

// socketClosedTo refuses a build whose buildpacks (and the app code they
// run: npm's install scripts, say) could use the engine's socket, which
// is mounted into the creator's container: whoever can write to it is
// root on the host. The creator connects to it as root and then drops to
// the CNB user (uid, gid) for the buildpacks, so the socket must be
// closed to that user: not root, not the socket's owner or group, and the
// socket not writable by all.
func socketClosedTo(socket string, uid, gid int) error {
	if uid == 0 || gid == 0 {
		return fmt.Errorf("the builder image's CNB user is root (CNB_USER_ID %d, CNB_GROUP_ID %d): its buildpacks would run with the engine's socket, which is root on this host; use a builder image whose CNB user is not root", uid, gid)
	}
	fi, err := os.Stat(socket)
	if err != nil {
		return fmt.Errorf("the pack builder cannot check the engine's socket: %w", err)
	}
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return fmt.Errorf("the pack builder cannot read the owner of the engine's socket %s", socket)
	}
	switch {
	case fi.Mode().Perm()&0o002 != 0:
		return fmt.Errorf("the engine's socket %s is writable by every user (mode %v), so the buildpacks could use it (root on this host); chmod o-rw %s, then push again", socket, fi.Mode().Perm(), socket)
	case int(st.Uid) == uid:
		return fmt.Errorf("the engine's socket %s belongs to uid %d, the builder image's CNB user, so the buildpacks could use it (root on this host); use a builder whose CNB_USER_ID differs", socket, uid)
	case int(st.Gid) == gid && fi.Mode().Perm()&0o020 != 0:
		return fmt.Errorf("the engine's socket %s is writable by group %d, the builder image's CNB group, so the buildpacks could use it (root on this host); use a builder whose CNB_GROUP_ID is not the docker group's", socket, gid)
	}
	return nil
}

// cnbUser reads CNB_USER_ID and CNB_GROUP_ID from a builder image's env.
func cnbUser(env []string) (uid, gid int, err error) {
	get := func(name string) (int, error) {
		for _, kv := range env {
			if v, ok := strings.CutPrefix(kv, name+"="); ok {
				n, err := strconv.Atoi(v)
				if err != nil || n < 0 {
					return 0, fmt.Errorf("its %s is %q, not a number", name, v)
				}
				return n, nil
			}
		}
		return 0, fmt.Errorf("its environment has no %s", name)
	}
	if uid, err = get("CNB_USER_ID"); err != nil {
		return
	}
	gid, err = get("CNB_GROUP_ID")
	return
}

// packFiles is the tar copied to / of the build container: the source
// under /workspace, the env as /platform/env/NAME files, and the explicit
// order at /layers/order.toml, all owned by the builder's CNB user (the
// buildpacks run as it and write into /workspace).
func packFiles(ctx context.Context, src Source, env map[string]string, order []byte, uid, gid int) (io.ReadCloser, *copyResult) {
	pr, pw := io.Pipe()
	res := &copyResult{}
	go func() { pw.CloseWithError(res.set(writePackFiles(ctx, pw, src, env, order, uid, gid))) }()
	return pr, res
}

func writePackFiles(ctx context.Context, w io.Writer, src Source, env map[string]string, order []byte, uid, gid int) error {
	archive, err := src.Archive(ctx)
	if err != nil {
		return err
	}
	defer archive.Close()
	tw := tar.NewWriter(w)
	dir := func(name string) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: name + "/", Mode: 0o755, Uid: uid, Gid: gid})
	}
	file := func(name string, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(data)), Uid: uid, Gid: gid}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	for _, d := range []string{"workspace", "layers", "platform", "platform/env"} {
		if err := dir(d); err != nil {
			return err
		}
	}
	for _, k := range slices.Sorted(maps.Keys(env)) {
		if !validEnvName.MatchString(k) {
			continue
		}
		if err := file("platform/env/"+k, []byte(env[k])); err != nil {
			return err
		}
	}
	if order != nil {
		if err := file("layers/order.toml", order); err != nil {
			return err
		}
	}
	guard := newTreeGuard()
	tr := tar.NewReader(archive)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
		name := path.Clean(strings.TrimPrefix(h.Name, "/"))
		if name == "." || name == ".." || strings.HasPrefix(name, "../") {
			continue
		}
		if h.Typeflag == tar.TypeXGlobalHeader {
			continue
		}
		if err := guard.check(name, h); err != nil {
			return err
		}
		h.Name = "workspace/" + name
		if h.Typeflag == tar.TypeDir {
			h.Name += "/"
		}
		if h.Typeflag == tar.TypeLink {
			// A hard link names a file of the same archive; one that
			// points outside the tree is dropped (git archive makes none).
			target := path.Clean(strings.TrimPrefix(h.Linkname, "/"))
			if target == ".." || strings.HasPrefix(target, "../") {
				continue
			}
			h.Linkname = "workspace/" + target
		}
		h.Uid, h.Gid, h.Uname, h.Gname = uid, gid, "", ""
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
	}
	// An error here fails the copy into the container, which is then
	// removed without having started.
	if err := guard.finish(); err != nil {
		return err
	}
	return tw.Close()
}
