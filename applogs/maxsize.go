package applogs

import (
	"context"
	"fmt"
	"math"
	"regexp"
	"strconv"

	"github.com/berth-paas/berth/platform"
)

// DefaultMaxSize is the log retention of an app's containers unless
// logs:set max-size says otherwise (Dokku's default too): Docker's
// json-file log rotates at this size, keeping 3 files.
const DefaultMaxSize = "10m"

// MaxSizeUnlimited turns the rotation off.
const MaxSizeUnlimited = platform.LogMaxSizeUnlimited

var sizePattern = regexp.MustCompile(`^[1-9][0-9]*[kmg]$`)

// SetMaxSize sets the app's log retention (Dokku's logs:set APP max-size
// SIZE): a whole number and k, m or g, or "unlimited"; "" goes back to
// DefaultMaxSize. It applies to containers started from now on (the next
// deploy or ps:restart).
//
// Log files are on the host's disk, and everything a deploy key can do
// to fill the host is bounded: a deploy key may set a size up to
// DefaultMaxSize, or up to what an admin key set for the app (its
// LogMaxSizeAllowed), never more; an admin's setting is the new bound
// (an admin unsetting it goes back to the default bound).
func (l *Logs) SetMaxSize(ctx context.Context, app, size string) error {
	if size != "" && size != MaxSizeUnlimited && !sizePattern.MatchString(size) {
		return fmt.Errorf("max-size %q: use a whole number and k, m or g (20m), or unlimited", size)
	}
	return l.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		if !platform.IsDeployKey(ctx) {
			a.LogMaxSize, a.LogMaxSizeAllowed = size, size
			return nil
		}
		bound := DefaultMaxSize
		if sizeBytes(a.LogMaxSizeAllowed) > sizeBytes(bound) {
			bound = a.LogMaxSizeAllowed
		}
		if size != "" && sizeBytes(size) > sizeBytes(bound) {
			return fmt.Errorf("max-size %s is more than a deploy key may set for %s (at most %s): logs fill the host's disk, so a larger size or unlimited needs an admin key (logs:set %s max-size %s from one)", size, app, bound, app, size)
		}
		a.LogMaxSize = size
		return nil
	})
}

// sizeBytes is a max-size in bytes: "unlimited" is the most, a size too
// large to count counts as unlimited, "" (unset) is nothing.
func sizeBytes(size string) uint64 {
	switch {
	case size == "":
		return 0
	case size == MaxSizeUnlimited || !sizePattern.MatchString(size):
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

// MaxSizes are the app's log retention as set, and as it applies.
func MaxSizes(a *platform.App) (set, computed string) {
	if a.LogMaxSize == "" {
		return "", DefaultMaxSize
	}
	return a.LogMaxSize, a.LogMaxSize
}
