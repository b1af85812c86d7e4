package caddymodule

import (
	"log/slog"
	"os"
	"runtime/debug"
	"sync"
)

// DefaultGOGC is the garbage collector's target that Berth sets when the
// user has set no GOGC. Go's default (100) made garbage collection about
// 8 % of Caddy's CPU under proxy load in the issue 16 profile (most of the
// garbage is Caddy's per-request request clones, replacer maps and log
// fields); 200 halves how often it runs, for a heap that may grow to 3x
// the live data instead of 2x (a few MiB here). Set GOGC (and GOMEMLIMIT)
// in caddy's environment to choose otherwise; Berth then leaves both alone.
const DefaultGOGC = 200

var gcDefaultsOnce sync.Once

// applyGCDefaults sets DefaultGOGC once per process unless the user set
// GOGC or GOMEMLIMIT (either means they are tuning the collector).
func applyGCDefaults(log *slog.Logger) {
	gcDefaultsOnce.Do(func() {
		if os.Getenv("GOGC") != "" || os.Getenv("GOMEMLIMIT") != "" {
			return
		}
		debug.SetGCPercent(DefaultGOGC)
		log.Debug("GOGC not set: using Berth's default", "gogc", DefaultGOGC)
	})
}
