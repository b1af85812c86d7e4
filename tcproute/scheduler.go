package tcproute

import "context"

// otherScheduler reports whether app's current generation runs on a
// scheduler other than docker-local (its record says so): its route's
// targets are then not containers of this host, whose every port is the
// app's, but NODE-IP:PUBLISHED-PORT of a Swarm task, where the mapping's
// container port swapped in would be any program of the node (Caddy's
// admin API on 127.0.0.1:2019). Such an app's tcp mappings are refused
// when they are made (ports:*, scheduler:set, the swarm rollout); this
// serves none should one be on its record all the same. A record not read
// (a rename's moment) leaves the targets as they are.
func (r *Router) otherScheduler(app string) bool {
	ctx, cancel := context.WithTimeout(context.Background(), DialTimeout)
	defer cancel()
	a, err := r.cfg.Apps.App(ctx, app)
	return err == nil && a.SchedulerRan != ""
}
