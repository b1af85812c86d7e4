package platform

import "context"

// AutocreationDisabled reports whether a push to an app that does not
// exist is refused (apps:set --global disable-autocreation true) rather
// than creating it. A settings document that cannot be read refuses: the
// admin who turned creation off must not find apps made behind their back.
func (p *Platform) AutocreationDisabled(ctx context.Context) (bool, error) {
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return true, err
	}
	return g.DisableAutocreation, nil
}

// SetDisableAutocreation sets apps:set --global disable-autocreation.
func (p *Platform) SetDisableAutocreation(ctx context.Context, disabled bool) error {
	return p.changeGlobal(ctx, "a global settings change", func(g *Global) error { g.DisableAutocreation = disabled; return nil }, nil)
}
