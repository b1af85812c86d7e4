package platform

import (
	"context"
	"fmt"
	"io"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
)

// DefaultLogMaxSize is the log retention of an app's containers unless
// logs:set max-size says otherwise (Dokku's default too): Docker's
// json-file log rotates at this size, keeping 3 files.
const DefaultLogMaxSize = "10m"

// LogMaxSizeUnlimited turns the rotation off.
const LogMaxSizeUnlimited = "unlimited"

var logSize = regexp.MustCompile(`^[1-9][0-9]*[kmg]$`)

// SetLogMaxSize sets the app's log retention (Dokku's logs:set APP
// max-size SIZE): a whole number and k, m or g, or "unlimited"; ""
// goes back to DefaultLogMaxSize. It applies to containers started from
// now on (the next deploy or ps:restart).
//
// Log files are on the host's disk, and everything a deploy key can do
// to fill the host is bounded: a deploy key may set a size up to
// DefaultLogMaxSize, or up to what an admin key set for the app (its
// LogMaxSizeAllowed), never more; an admin's setting is the new bound
// (an admin unsetting it goes back to the default bound).
func (p *Platform) SetLogMaxSize(ctx context.Context, app, size string) error {
	if size != "" && size != LogMaxSizeUnlimited && !logSize.MatchString(size) {
		return fmt.Errorf("max-size %q: use a whole number and k, m or g (20m), or unlimited", size)
	}
	a, unlock, err := p.lockedApp(ctx, app, "a settings change")
	if err != nil {
		return err
	}
	defer unlock()
	if !isDeployKey(ctx) {
		a.LogMaxSize, a.LogMaxSizeAllowed = size, size
		return saveApp(ctx, p.store, a)
	}
	bound := DefaultLogMaxSize
	if logSizeBytes(a.LogMaxSizeAllowed) > logSizeBytes(bound) {
		bound = a.LogMaxSizeAllowed
	}
	if size != "" && logSizeBytes(size) > logSizeBytes(bound) {
		return fmt.Errorf("max-size %s is more than a deploy key may set for %s (at most %s): logs fill the host's disk, so a larger size or unlimited needs an admin key (logs:set %s max-size %s from one)", size, app, bound, app, size)
	}
	a.LogMaxSize = size
	return saveApp(ctx, p.store, a)
}

// logSizeBytes is a max-size in bytes: "unlimited" is the most, a size
// too large to count counts as unlimited, "" (unset) is nothing.
func logSizeBytes(size string) uint64 {
	switch {
	case size == "":
		return 0
	case size == LogMaxSizeUnlimited || !logSize.MatchString(size):
		return math.MaxUint64
	}
	n, err := strconv.ParseUint(size[:len(size)-1], 10, 64)
	if err != nil {
		return math.MaxUint64
	}
	unit := map[byte]uint64{'k': 1 << 10, 'm': 1 << 20, 'g': 1 << 30}[size[len(size)-1]]
	if n > math.MaxUint64/unit {
		return math.MaxUint64
	}
	return n * unit
}

// LogMaxSizes are the app's log retention as set, and as it applies.
func (a *App) LogMaxSizes() (set, computed string) {
	if a.LogMaxSize == "" {
		return "", DefaultLogMaxSize
	}
	return a.LogMaxSize, a.LogMaxSize
}

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

// FailedDeployLog writes the log of the app's latest failed deploy to w
// (Dokku's logs:failed); found is false when none of the builds Berth
// keeps failed.
func (p *Platform) FailedDeployLog(ctx context.Context, app string, w io.Writer) (found bool, err error) {
	if _, err := p.App(ctx, app); err != nil {
		return false, err
	}
	builds, err := p.builds.list(app)
	if err != nil {
		return false, err
	}
	for _, b := range builds {
		if b.Status != "failed" {
			continue
		}
		_, log, err := p.BuildOutput(ctx, app, b.ID)
		if err != nil {
			return false, err
		}
		defer log.Close()
		_, err = io.Copy(w, log)
		return true, err
	}
	return false, nil
}
