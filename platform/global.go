package platform

import "context"

// changeGlobal changes the global settings document under the global lock
// (busy with what): load, change, save. An error from change leaves the
// document as it was. applied, when not nil, runs after the document is
// saved, still under the lock, for a setting the platform also keeps in
// memory: caches are then set in the order the saves happened, and not
// when a save fails. Its error is the change's (the document stays saved).
func (p *Platform) changeGlobal(ctx context.Context, what string, change func(*Global) error, applied func(Global) error) error {
	unlock, err := p.lock("_global", what)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	if err := change(&g); err != nil {
		return err
	}
	if err := saveGlobal(ctx, p.store, g); err != nil {
		return err
	}
	if applied != nil {
		return applied(g)
	}
	return nil
}
