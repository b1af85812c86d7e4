package platform

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"strings"

	"github.com/berth-paas/berth/builder"
)

// selectBuilder picks the builder of a deploy of src to a: its chosen
// builder, else detection over the platform's builders (package builder's
// Selector), with the global config under the release's for detection
// (BUILDPACK_URL may be set either way, as in Dokku).
func (p *Platform) selectBuilder(ctx context.Context, a *App, src builder.Source, config map[string]string) (builder.Choice, error) {
	if p.builders == nil {
		return builder.Choice{}, errors.New("this Berth has no builders configured, so it deploys images only (git:from-image)")
	}
	env := p.GlobalConfig()
	maps.Copy(env, config)
	return p.builders.Select(ctx, a.Name, a.Builder, src, env)
}

// SetBuilder chooses the builder of the app's next deploys (Dokku's
// builder:set APP selected NAME); "" returns the choice to detection.
func (p *Platform) SetBuilder(ctx context.Context, app, name string) error {
	if name != "" {
		if p.builders == nil {
			return errors.New("this Berth has no builders configured")
		}
		if _, ok := p.builders.Lookup(name); !ok {
			return fmt.Errorf("there is no builder %q; this Berth has %s", name, strings.Join(p.builders.Names(), ", "))
		}
	}
	a, unlock, err := p.lockedApp(ctx, app, "a builder change")
	if err != nil {
		return err
	}
	defer unlock()
	a.Builder = name
	return saveApp(ctx, p.store, a)
}
