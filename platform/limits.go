package platform

import (
	"context"
	"errors"
	"time"
)

// Limits bound what one app can take of the host, whoever deploys it: a
// deploy key must not be able to exhaust the machine every other app runs
// on. Each has a default (the Default* constants) and a Caddyfile setting
// (berth { max_scale ... }); a zero field means the default.
type Limits struct {
	// MaxScale is the most containers of one process type, for ps:scale
	// and app.json's formation alike.
	MaxScale int
	// MaxContainers is the most containers of all types of one app.
	MaxContainers int
	// BuildTimeout bounds a deploy's build phase: the image build, the
	// predeploy script and the release command together.
	BuildTimeout time.Duration
	// BuildLogMax is the most bytes of a build's stored log; what comes
	// after is dropped, with a note, from the log and from the pusher's
	// stream alike.
	BuildLogMax int64
	// BuildMemory is the memory limit of a build (and its predeploy and
	// release one-offs) when the app sets none for process type build.
	// Zero means half the host's memory; a negative value means none.
	BuildMemory int64
	// BuildCPUs is the CPU limit of a build, in billionths of a CPU, when
	// the app sets none; zero means none (CPU time is shared, not used
	// up, and the timeout bounds how long a build holds it).
	BuildCPUs int64
	// KeepReleases is how many of an app's newest releases keep their
	// image, the current one among them, unless the app or the global
	// setting (releases:set) says otherwise; older releases are
	// forgotten and their images removed after each rollout.
	KeepReleases int
	// BuildCacheMax bounds the engine's build cache: after each build it
	// is pruned to this many bytes. Negative means never.
	BuildCacheMax int64
}

// The limits' defaults.
const (
	DefaultMaxScale      = 100
	DefaultMaxContainers = 200
	DefaultBuildTimeout  = 30 * time.Minute
	DefaultBuildLogMax   = 10 << 20
	DefaultKeepReleases  = 10
	DefaultBuildCacheMax = 10 << 30
	// MinKeepReleases is the least retention: the current release and
	// the one a plain rollback returns to.
	MinKeepReleases = 2
)

// BuildProcessType is the process type whose resource settings apply to
// builds (Dokku 0.38's resource:limit --process-type build). It is never
// a Procfile type: those run as containers, a build does not.
const BuildProcessType = "build"

// SetLimits sets the limits; zero fields take their defaults. They apply
// from the next deploy, scale or push on.
func (p *Platform) SetLimits(l Limits) {
	if l.MaxScale <= 0 {
		l.MaxScale = DefaultMaxScale
	}
	if l.MaxContainers <= 0 {
		l.MaxContainers = DefaultMaxContainers
	}
	if l.BuildTimeout <= 0 {
		l.BuildTimeout = DefaultBuildTimeout
	}
	if l.BuildLogMax <= 0 {
		l.BuildLogMax = DefaultBuildLogMax
	}
	if l.KeepReleases <= 0 {
		l.KeepReleases = DefaultKeepReleases
	}
	if l.KeepReleases < MinKeepReleases {
		l.KeepReleases = MinKeepReleases
	}
	if l.BuildCacheMax == 0 {
		l.BuildCacheMax = DefaultBuildCacheMax
	}
	p.mu.Lock()
	p.limits = l
	p.mu.Unlock()
}

// Limits returns the limits in force, defaults filled in.
func (p *Platform) Limits() Limits {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.limits
}

// ErrOverLimit marks a request refused because it would take more than a
// limit of the host allows.
var ErrOverLimit = errors.New("over a limit")

// CheckFormation refuses a formation above MaxScale for a type or above
// MaxContainers in all. what names where the numbers come from, for the
// message ("app.json's formation", "ps:scale").
func (p *Platform) CheckFormation(app string, formation map[string]int, what string) error {
	l := p.Limits()
	total := 0
	for _, typ := range sortedKeys(formation) {
		q := formation[typ]
		if q > l.MaxScale {
			return Errorf(ErrOverLimit, "%s asks for %s=%d, but Berth runs at most %d containers of one process type (the max_scale setting of the berth block in the Caddyfile); ask for %d or fewer, or have the admin raise max_scale", what, typ, q, l.MaxScale, l.MaxScale)
		}
		total += q
	}
	if total > l.MaxContainers {
		return Errorf(ErrOverLimit, "%s asks for %d containers of %s in all, but Berth runs at most %d per app (the max_containers setting of the berth block in the Caddyfile); ask for fewer, or have the admin raise max_containers", what, total, app, l.MaxContainers)
	}
	return nil
}

// deployKeyKey marks a context as a deploy key's request.
type deployKeyKey struct{}

// AsDeployKey marks ctx as the request of a deploy key (a key scoped to
// one app by ssh-keys:add --app), which may not loosen what an admin set.
// The SSH door marks every deploy key's command; an unmarked request is
// an admin's (the admin API, `caddy berth`, admin keys).
func AsDeployKey(ctx context.Context) context.Context {
	return context.WithValue(ctx, deployKeyKey{}, true)
}

// IsDeployKey says whether ctx is marked by AsDeployKey.
func IsDeployKey(ctx context.Context) bool { return isDeployKey(ctx) }

func isDeployKey(ctx context.Context) bool {
	v, _ := ctx.Value(deployKeyKey{}).(bool)
	return v
}

// keyFingerprintKey carries the SSH key a request came with.
type keyFingerprintKey struct{}

// WithKeyFingerprint records the SHA256 fingerprint of the SSH key that
// made a request (the SSH door sets it), so that what the request leaves
// behind (a dashboard session) can be tied to that key and end with it.
func WithKeyFingerprint(ctx context.Context, fingerprint string) context.Context {
	return context.WithValue(ctx, keyFingerprintKey{}, fingerprint)
}

// KeyFingerprint returns the fingerprint WithKeyFingerprint recorded, ""
// for a request that came with no key (the admin API, `caddy berth`).
func KeyFingerprint(ctx context.Context) string {
	v, _ := ctx.Value(keyFingerprintKey{}).(string)
	return v
}
