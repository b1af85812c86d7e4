package platform

import (
	"context"
	"fmt"
	"path"
	"strings"
)

// LogMaxSizeUnlimited is the app's log max-size (logs:set max-size
// unlimited, package applogs) that turns the rotation off.
const LogMaxSizeUnlimited = "unlimited"

// SetProcfilePath says where the app's Procfile is in its source
// (Dokku's ps:set APP procfile-path PATH), relative to the root; ""
// goes back to Procfile. It applies from the next deploy.
func (p *Platform) SetProcfilePath(ctx context.Context, app, file string) error {
	if file != "" {
		clean := path.Clean(file)
		if path.IsAbs(file) || clean != file || clean == "." || strings.HasPrefix(clean, "../") || clean == ".." {
			return fmt.Errorf("procfile-path %q: give a path in the app's source, relative to its root, such as deploy/Procfile", file)
		}
	}
	return p.update(ctx, app, func(a *App) { a.ProcfilePath = file })
}
