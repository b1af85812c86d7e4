package platform

import (
	"context"
	"fmt"
	"slices"
	"strconv"
	"strings"
)

// ParseVersion reads "v3" or "3".
func ParseVersion(s string) (int, error) {
	n, err := strconv.Atoi(strings.TrimPrefix(s, "v"))
	if err != nil || n <= 0 {
		return 0, fmt.Errorf("%q is not a release; give one like v3", s)
	}
	return n, nil
}

// removeUnreleasedImage removes the image a deploy of a tagged as release
// version and that never became a release (Berth stopped during it, say),
// unless a release record names it.
func (p *Platform) removeUnreleasedImage(ctx context.Context, a *App, version int) {
	if version <= 0 || slices.ContainsFunc(a.Releases, func(r Release) bool { return r.Version == version }) {
		return
	}
	ref := fmt.Sprintf("berth/%s:v%d", a.Name, version)
	if err := p.docker.RemoveImage(ctx, ref); err != nil {
		p.log.Warn("remove the image of a deploy that did not finish", "app", a.Name, "image", ref, "error", err)
	}
}
