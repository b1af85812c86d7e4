package platform

import (
	"context"
	"fmt"
)

// What package deploy, which runs the deploy pipeline and the apps'
// releases, needs of the core beyond the app record and its lock: the
// report that ends a deploy's log (the URLs are the core's), the
// release's environment (ReleaseEnv, which the scheduler uses as well),
// and a few of the core's helpers. The core never imports package
// deploy: it calls the build records through the BuildRecords it is
// given.

// ProcessTypes returns the types a release runs, web first: the
// Procfile's types but release, or just web without a Procfile.
func ProcessTypes(procfile map[string]string) []string { return processTypes(procfile) }

// ChangeConfig applies a config change to *cfg (made when nil): set's
// vars, then unset's removed; with replace, unset is every var set lacks.
// It returns the removed keys.
func ChangeConfig(cfg *map[string]string, set map[string]string, unset []string, replace bool) []string {
	return changeConfig(cfg, set, unset, replace)
}

// ValidEnvName says whether k may name a config var.
func ValidEnvName(k string) bool { return validEnvName(k) }

// WithStep gives ctx a deploy's step tracker, set to first (SetStep
// moves it); CancelledError says why a deploy cancelled at step ended.
func WithStep(ctx context.Context, first string) (context.Context, fmt.Stringer) {
	return withStep(ctx, first)
}

// CancelledError says why a cancelled deploy ended: which step the
// pusher's disconnect cut, and what that means; any other cause as it is.
func CancelledError(cause error, step string) error { return cancelledError(cause, step) }

// NewSpecs is the contributors' parts of the deploy's one-offs and
// builds, for package deploy (the same contributors as Config.Specs).
func NewSpecs(cs ...SpecContributor) Specs { return Specs{specs(cs)} }

// Build is what the contributors give a's build: its resources and
// options (BuildContributor).
func (s Specs) Build(a *App) (BuildSpec, error) { return s.cs.build(a) }
