package builder

import (
	"archive/tar"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"sync"
)

// treeGuard checks a pushed source's tar entries before they are unpacked
// into a build container. The pack builder copies the source to / of a
// container that then runs the CNB lifecycle as root with the engine's
// socket mounted, and git accepts trees git itself would never write
// (duplicate names, a symlink and a path below it): an entry that goes
// through a symlink, or a symlink that leads out of the source, would let
// a pusher overwrite the builder's own files (/cnb/lifecycle/creator) and
// so run as root on the host. So the tree must be plain: every entry's
// ancestors are directories, no path twice, and every symlink resolves
// inside the source. Hard links must name a regular file met before.
type treeGuard struct {
	// kinds holds each path seen: a tar type flag, or 0 for a directory
	// implied by a deeper entry.
	kinds map[string]byte
	// links holds each symlink's target, checked at the end (a later
	// symlink can change where an earlier one's target leads).
	links map[string]string
}

func newTreeGuard() *treeGuard {
	return &treeGuard{kinds: map[string]byte{}, links: map[string]string{}}
}

// refuse words a refusal: what is wrong, and what to do.
func refuse(name, why string) error {
	return &treeError{fmt.Errorf("the pushed tree cannot be built: %s %s", name, why)}
}

// treeError is a refusal of treeGuard. The builders report it as it is,
// not inside the engine's error about the copy it cut short (see
// copyResult).
type treeError struct{ error }

// copyResult keeps the error a goroutine that writes a build container's
// tar ended with, for the builder to report a refusal plainly.
type copyResult struct {
	mu  sync.Mutex
	err error
}

func (c *copyResult) set(err error) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.err = err
	return err
}

// refusal returns the treeGuard refusal the copy ended with, if any.
func (c *copyResult) refusal() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	var te *treeError
	if errors.As(c.err, &te) {
		return te
	}
	return nil
}

// crafted is the advice for what git itself never writes.
const crafted = "; git does not make such a tree: push a commit made by git without it"

// check takes one entry, its name already cleaned and relative to the
// source's root.
func (g *treeGuard) check(name string, h *tar.Header) error {
	switch h.Typeflag {
	case tar.TypeRegA:
		h.Typeflag = tar.TypeReg // the old spelling; 0 means an implied directory below
	case tar.TypeReg, tar.TypeDir, tar.TypeSymlink, tar.TypeLink:
	default:
		return refuse(name, fmt.Sprintf("is of tar type %q, which a build source cannot have", h.Typeflag)+crafted)
	}
	// Every ancestor must be a directory: a symlink or file on the way
	// would make the unpacking write elsewhere.
	for dir := path.Dir(name); dir != "."; dir = path.Dir(dir) {
		kind, seen := g.kinds[dir]
		if !seen {
			g.kinds[dir] = 0
			continue
		}
		if kind != 0 && kind != tar.TypeDir {
			return refuse(name, "lies below "+dir+", which is "+kindName(kind)+", not a directory"+crafted)
		}
	}
	if prev, seen := g.kinds[name]; seen && !(prev == 0 && h.Typeflag == tar.TypeDir) {
		return refuse(name, "appears twice in the tree"+crafted)
	}
	g.kinds[name] = h.Typeflag
	switch h.Typeflag {
	case tar.TypeSymlink:
		target := h.Linkname
		if target == "" || strings.HasPrefix(target, "/") {
			return refuse(name, fmt.Sprintf("is a symlink to %q, an absolute path: a symlink of a build source must point inside it, by a relative path: replace it with a relative symlink or with the file itself, and push again", target))
		}
		if t := path.Clean(path.Join(path.Dir(name), target)); t == ".." || strings.HasPrefix(t, "../") {
			return refuse(name, fmt.Sprintf("is a symlink to %q, which leads out of the source: a symlink of a build source must point inside it; replace it with the file itself, and push again", target))
		}
		g.links[name] = target
	case tar.TypeLink:
		target := path.Clean(strings.TrimPrefix(h.Linkname, "/"))
		if kind, seen := g.kinds[target]; !seen || kind != tar.TypeReg {
			return refuse(name, fmt.Sprintf("is a hard link to %q, which is not a file met before it", h.Linkname)+crafted)
		}
	}
	return nil
}

// finish resolves every symlink through the others (a lexically clean
// target such as s/.. still leaves the source when s is a symlink to .).
func (g *treeGuard) finish() error {
	for name, target := range g.links {
		if _, err := g.resolve(path.Dir(name)+"/"+target, 0); err != nil {
			return refuse(name, fmt.Sprintf("is a symlink to %q, which %v: a symlink of a build source must point inside it; replace it with the file itself, and push again", target, err))
		}
	}
	return nil
}

// resolve follows p (relative to the root, and not cleaned: cleaning
// would take s/.. away before s is known to be a symlink) through the
// symlinks of the tree and returns where it leads, or an error if it
// leads out of the tree or loops.
func (g *treeGuard) resolve(p string, depth int) (string, error) {
	if depth > 40 {
		return "", fmt.Errorf("goes through too many symlinks")
	}
	cur := ""
	for _, comp := range strings.Split(p, "/") {
		switch comp {
		case "", ".":
			continue
		case "..":
			if cur == "" {
				return "", fmt.Errorf("leads out of the source")
			}
			if cur = path.Dir(cur); cur == "." {
				cur = ""
			}
			continue
		}
		next := path.Join(cur, comp)
		target, isLink := g.links[next]
		if !isLink {
			cur = next
			continue
		}
		if strings.HasPrefix(target, "/") {
			return "", fmt.Errorf("leads out of the source")
		}
		resolved, err := g.resolve(cur+"/"+target, depth+1)
		if err != nil {
			return "", err
		}
		cur = resolved
	}
	return cur, nil
}

func kindName(kind byte) string {
	switch kind {
	case tar.TypeSymlink:
		return "a symlink"
	case tar.TypeLink:
		return "a hard link"
	default:
		return "a file"
	}
}

// guardTree copies the source tar r to w unchanged, and fails (before
// the end of the stream, so the build container never starts) on the
// first entry treeGuard refuses. The herokuish builder's source goes
// through it; the pack builder checks its entries as it rewrites them.
func guardTree(w io.Writer, r io.Reader) error {
	guard := newTreeGuard()
	tr := tar.NewReader(r)
	tw := tar.NewWriter(w)
	for {
		h, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
		if h.Typeflag != tar.TypeXGlobalHeader {
			name := path.Clean(strings.TrimPrefix(h.Name, "/"))
			if name == ".." || strings.HasPrefix(name, "../") {
				return refuse(h.Name, "is outside the tree"+crafted)
			}
			if name != "." {
				if err := guard.check(name, h); err != nil {
					return err
				}
			}
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return fmt.Errorf("reading the source: %w", err)
		}
	}
	if err := guard.finish(); err != nil {
		return err
	}
	return tw.Close()
}
