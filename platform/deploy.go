package platform

import (
	"io"
	"maps"
	"strconv"
	"strings"
	"time"
)

// Deploy timings. They are variables so tests of the pipeline's logic can
// shorten them; Berth itself never changes them.
var (
	// ReadyTimeout bounds the wait for a new web container to accept
	// connections on its port when the app defines no checks.
	ReadyTimeout = 60 * time.Second
	// ReadyUptime is how long a new container must stay up, without a
	// restart, before it counts as started when the app defines no checks
	// (for web, counted from when it first accepts a connection). Dokku
	// waits 10 s and checks nothing else; Berth also checks the port, so a
	// shorter wait catches the same crashes.
	ReadyUptime = 2 * time.Second
	// DrainDelay is the least time an old container keeps running after
	// the route has moved away from it, so that a request which picked it
	// just before the swap is counted before the drain looks.
	DrainDelay = time.Second
	// ProgressInterval is how often a wait (the port wait, a check's
	// initialDelay) says in the deploy's log what it waits for.
	ProgressInterval = 5 * time.Second
)

// DefaultPort is the container port of an image that exposes none
// (Dokku's rule); the container's PORT variable says it either way.
const DefaultPort = 5000

// ReleaseEnv is the environment of a release's containers: the global
// config, overridden by the release's config, then the variables Berth
// sets, which config cannot override.
func (p *Platform) ReleaseEnv(a *App, rel Release, dyno string) []string {
	merged := p.globals.Config()
	maps.Copy(merged, rel.Config)
	rev := p.buildSettings.RevEnvVar(a)
	env := make([]string, 0, len(merged)+3)
	for _, k := range sortedKeys(merged) {
		if k != "PORT" && k != "DYNO" && k != "GIT_REV" && k != rev {
			env = append(env, k+"="+merged[k])
		}
	}
	env = append(env,
		"PORT="+strconv.Itoa(a.ProxyPort(rel)),
		"DYNO="+dyno,
	)
	if rev != "" {
		env = append(env, rev+"="+rel.GitRev)
	}
	return env
}

// ShellQuote quotes s for a POSIX shell.
func ShellQuote(s string) string {
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

func logWriter(w io.Writer) io.Writer {
	if w == nil {
		return io.Discard
	}
	return w
}
