package platform

import "context"

// changeGlobal changes the global settings document under the global lock.
// applied, when not nil, runs after the document is saved, still under
// the lock, for a setting the platform also keeps in memory: caches are
// then set in the order the saves happened, and not when a save fails.
func (p *Platform) changeGlobal(ctx context.Context, what string, change func(*Global), applied func()) error {
	unlock, err := p.lock("_global", what)
	if err != nil {
		return err
	}
	defer unlock()
	g, err := loadGlobal(ctx, p.store)
	if err != nil {
		return err
	}
	change(&g)
	if err := saveGlobal(ctx, p.store, g); err != nil {
		return err
	}
	if applied != nil {
		applied()
	}
	return nil
}
