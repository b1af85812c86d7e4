package builder

import (
	"archive/tar"
	"bytes"
	"errors"
	"fmt"
	"io"
	"path"
	"slices"
	"strings"

	"github.com/moby/patternmatcher"
	"github.com/moby/patternmatcher/ignorefile"
)

// FilterContext copies the tar stream src to dst, leaving out the entries
// that the .dockerignore patterns exclude, the way the docker CLI does:
// the Dockerfile and .dockerignore themselves are always kept, because the
// builder needs them, and so are the keep names (a Dockerfile elsewhere).
func FilterContext(dst io.Writer, src io.Reader, dockerignore []byte, keep ...string) error {
	patterns, err := ignorefile.ReadAll(bytes.NewReader(dockerignore))
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	pm, err := patternmatcher.New(patterns)
	if err != nil {
		return fmt.Errorf(".dockerignore: %w", err)
	}
	tr := tar.NewReader(src)
	tw := tar.NewWriter(dst)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return fmt.Errorf("read build context: %w", err)
		}
		if hdr.Typeflag == tar.TypeXGlobalHeader { // git archive's commit id comment
			continue
		}
		name := path.Clean(strings.TrimPrefix(hdr.Name, "./"))
		if name != "Dockerfile" && name != ".dockerignore" && !slices.Contains(keep, name) && len(patterns) > 0 {
			excluded, err := pm.MatchesOrParentMatches(name)
			if err != nil {
				return fmt.Errorf(".dockerignore: %w", err)
			}
			if excluded {
				continue
			}
		}
		if err := tw.WriteHeader(hdr); err != nil {
			return err
		}
		if _, err := io.Copy(tw, tr); err != nil {
			return err
		}
	}
	return tw.Close()
}
