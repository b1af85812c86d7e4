// Package routing holds the in-memory map from a request's host to the app
// that serves it and to that app's live upstream addresses.
//
// Reads never take a lock: the table is a snapshot of host → app cell maps
// swapped atomically (copy on write), and each app's cell holds its current
// Route behind an atomic pointer. Writes are serialised by a mutex. A write
// that changes only an app's targets (every container event) stores a new
// Route into the app's cell: O(1), whatever the number of apps. Only a
// write that adds or removes an app or changes its hosts (deploys of new
// apps, domain changes: rare) copies the maps. A request on the hot path
// pays two atomic loads and one map lookup.
//
// Wildcard hosts ("*.example.org", Dokku's wildcard domains) match, as
// nginx's server_name does, every host that ends in ".example.org", at
// any depth, but not example.org itself. The most specific entry wins: an
// exact host before any wildcard, and a deeper wildcard (*.a.example.org)
// before a shallower one (*.example.org). Match tries the exact host, and
// only when the table holds wildcards, each suffix after a dot from the
// longest down: one map lookup per label, on substrings of the host, so
// it allocates nothing.
package routing

import (
	"maps"
	"slices"
	"sync"
	"sync/atomic"
)

// Route is what the table knows about one app.
type Route struct {
	// App is the app's name.
	App string
	// Hosts are the lowercase host names the app answers on.
	Hosts []string
	// Targets are the dial addresses ("ip:port") of the app's containers
	// that are ready to take requests. Empty while the app has none.
	Targets []string
	// Disabled is set while the app is out of routing (proxy:disable,
	// domains:disable): its hosts stay claimed, so that no other app's
	// wildcard takes them (their cookies, a certificate for them), but it
	// serves nothing: Berth answers 404 and issues no certificate.
	Disabled bool
	// Remote is set when Targets are not containers of this host but
	// processes another scheduler runs (Swarm tasks, NODE-IP:PUBLISHED-
	// PORT), written with them in one route: a tcp mapping, which swaps
	// a target's port for its own, must not be served on such a target
	// (it would reach any program of the node).
	Remote bool
}

// cell holds one app's current Route. Snapshots share cells, so a targets
// change stored into a cell is seen through every snapshot at once.
type cell struct {
	route atomic.Pointer[Route]
}

func newCell(r *Route) *cell {
	c := &cell{}
	c.route.Store(r)
	return c
}

type snapshot struct {
	// byHost holds every host as the apps name it, wildcards included
	// ("*.example.org"): Lookup's exact view, which conflicts are
	// checked against.
	byHost map[string]*cell
	// wild holds the wildcards by the domain they cover: "example.org"
	// for "*.example.org". Empty when no app has one.
	wild  map[string]*cell
	byApp map[string]*cell
}

// Table is the routing table. The zero value is not usable; call New.
type Table struct {
	current atomic.Pointer[snapshot]
	// reserved are the hosts (and "*.domain" patterns) that are Berth's
	// own or the Caddyfile's: Match never resolves one to an app's
	// wildcard (SetReserved).
	reserved atomic.Pointer[reservedSet]
	writeMu  sync.Mutex
	// hostsGone, when set, is told the hosts a write took away.
	hostsGone func(hosts []string)

	// InFlight counts the requests each target is serving.
	InFlight InFlight
}

// New returns an empty table.
func New() *Table {
	t := &Table{}
	t.current.Store(&snapshot{byHost: map[string]*cell{}, wild: map[string]*cell{}, byApp: map[string]*cell{}})
	return t
}

// reservedSet is what SetReserved installs.
type reservedSet struct {
	exact map[string]struct{}
	wild  map[string]struct{} // "example.org" for "*.example.org"
}

// SetReserved sets the hosts no app's wildcard may take: the dashboard's
// host, the Caddyfile's own sites' hosts. Match (and so every caller:
// the proxy, the certificate manager, the on-demand permission) never
// resolves one to a wildcard; an app that names one exactly still gets it
// (the platform refuses that for Berth's own). A "*.domain" entry
// reserves every name under domain that no app names exactly or through
// a deeper wildcard. It replaces the previous set (a config reload).
func (t *Table) SetReserved(hosts []string) {
	rs := &reservedSet{exact: map[string]struct{}{}, wild: map[string]struct{}{}}
	for _, h := range normalizeHosts(hosts) {
		if IsWildcard(h) {
			rs.wild[h[len("*."):]] = struct{}{}
		} else {
			rs.exact[h] = struct{}{}
		}
	}
	t.reserved.Store(rs)
}

// SetHosts replaces the host names app answers on, creating the app's
// route if it has none. The platform refuses a host that another app
// already answers on; should two apps name one host anyway, it goes to the
// first of them in name order, the same way every time. Whether the app
// is disabled stays as it was (SetHostsDisabled sets both).
func (t *Table) SetHosts(app string, hosts []string) {
	t.update(app, func(r *Route) { r.Hosts = normalizeHosts(hosts) })
}

// SetHostsDisabled is SetHosts that also sets whether the app is disabled
// (Route.Disabled), in one write: a disabled app is never routed, not
// even for a moment.
func (t *Table) SetHostsDisabled(app string, hosts []string, disabled bool) {
	t.update(app, func(r *Route) {
		r.Hosts = normalizeHosts(hosts)
		r.Disabled = disabled
	})
}

// SetAllHosts replaces the hosts of every app in hosts in one write
// (creating a route for an app that has none; targets and Disabled stay):
// after a global domain change, no request sees some apps moved and
// others not, so a wildcard never takes for a moment a host whose app is
// yet to be rewritten.
func (t *Table) SetAllHosts(hosts map[string][]string) {
	t.writeMu.Lock()
	old := t.current.Load()
	apps := maps.Clone(old.byApp)
	changed := false
	for app, hs := range hosts {
		r, _, sameHosts := old.edit(app, func(r *Route) { r.Hosts = normalizeHosts(hs) })
		if sameHosts {
			continue
		}
		apps[app] = newCell(r)
		changed = true
	}
	if !changed {
		t.writeMu.Unlock()
		return
	}
	t.swap(old, build(apps), nil) // unlocks
}

// SetTargets replaces the addresses app's requests are proxied to, its
// containers' on this host.
func (t *Table) SetTargets(app string, targets []string) {
	t.SetTargetsFrom(app, targets, false)
}

// SetTargetsFrom is SetTargets of targets that are, when remote, not
// containers of this host (Route.Remote).
func (t *Table) SetTargetsFrom(app string, targets []string, remote bool) {
	t.update(app, func(r *Route) {
		r.Targets = slices.Clone(targets)
		slices.Sort(r.Targets)
		r.Remote = remote
	})
}

// RemoveTarget takes addr out of app's targets, if it is there, reading
// and writing the route under the write lock: a read of App followed by
// SetTargets would overwrite a newer write that came in between (a
// rollout's new targets) with the old targets less addr. An app without
// a route stays without one. Only the targets change, so the new route
// goes into the app's cell; no snapshot is rebuilt.
func (t *Table) RemoveTarget(app, addr string) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	c, ok := t.current.Load().byApp[app]
	if !ok {
		return
	}
	cur := c.route.Load()
	if !slices.Contains(cur.Targets, addr) {
		return
	}
	r := *cur
	r.Targets = slices.DeleteFunc(slices.Clone(cur.Targets), func(a string) bool { return a == addr })
	c.route.Store(&r)
}

// Remove deletes app's route: its hosts answer 404 from then on.
func (t *Table) Remove(app string) {
	t.writeMu.Lock()
	old := t.current.Load()
	if _, ok := old.byApp[app]; !ok {
		t.writeMu.Unlock()
		return
	}
	apps := maps.Clone(old.byApp)
	delete(apps, app)
	t.swap(old, build(apps), nil)
}

// OnHostsGone sets f to be called with the hosts that stop being routed,
// after each write that takes some away (a domain removed, an app
// destroyed). It runs after the write, outside the table's write lock
// (so that its work, however long, holds up no other write), in the
// writer's goroutine: it is done before the change's caller returns. Two
// writes at once may call it at once, in either order: f must look at the
// table as it is then (Match), not trust the order of the calls.
func (t *Table) OnHostsGone(f func(hosts []string)) {
	t.writeMu.Lock()
	defer t.writeMu.Unlock()
	t.hostsGone = f
}

// swap installs next, releases writeMu (which the caller holds), then
// tells hostsGone what old served that next does not: the hosts next
// does not route, those whose route next disables (their certificates
// must go as a removed host's do: Caddy's cache would finish their
// handshakes), and extra (hosts disabled in a cell old and next share).
func (t *Table) swap(old, next *snapshot, extra []string) {
	t.current.Store(next)
	t.unlockThenReport(func() []string {
		gone := slices.Clone(extra)
		for h, oc := range old.byHost {
			nc, ok := next.byHost[h]
			if !ok || (nc.route.Load().Disabled && !oc.route.Load().Disabled) {
				gone = append(gone, h)
			}
		}
		return gone
	})
}

// unlockThenReport releases writeMu, which the caller holds, then calls
// the hostsGone hook set when the write was made with the hosts gone
// names, sorted and once each, if there are any. gone runs after the
// unlock and only when there is a hook: neither it nor the hook holds up
// another write.
func (t *Table) unlockThenReport(gone func() []string) {
	f := t.hostsGone
	t.writeMu.Unlock()
	if f == nil {
		return
	}
	if hosts := gone(); len(hosts) > 0 {
		slices.Sort(hosts)
		f(slices.Compact(hosts))
	}
}

// newlyDisabled are next's hosts when it disables what was served.
func newlyDisabled(was, next *Route) []string {
	if was == nil || was.Disabled || !next.Disabled {
		return nil
	}
	return slices.Clone(next.Hosts)
}

// update applies change to a copy of app's route. When the app exists
// and its hosts stay the same, the copy is stored into the app's cell and
// nothing else is touched; otherwise the snapshot is rebuilt with a new
// cell for the app.
func (t *Table) update(app string, change func(*Route)) {
	t.writeMu.Lock()
	old := t.current.Load()
	r, was, sameHosts := old.edit(app, change)
	if sameHosts {
		old.byApp[app].route.Store(r)
		// A disable keeps the hosts (no new snapshot), but they are
		// served no more.
		t.unlockThenReport(func() []string { return newlyDisabled(was, r) })
		return
	}
	apps := maps.Clone(old.byApp)
	apps[app] = newCell(r)
	t.swap(old, build(apps), nil) // unlocks
}

// edit applies change to a copy of app's route in s (to a new route for
// an app that has none). was is the route copied (nil when none);
// sameHosts says that there was one and the copy keeps its hosts, so the
// copy may go into the app's cell with no new snapshot. The caller holds
// writeMu, under which alone cells change.
func (s *snapshot) edit(app string, change func(*Route)) (r, was *Route, sameHosts bool) {
	r = &Route{App: app}
	if c, ok := s.byApp[app]; ok {
		was = c.route.Load()
		copied := *was
		r = &copied
	}
	change(r)
	return r, was, was != nil && slices.Equal(r.Hosts, was.Hosts)
}

// build indexes routes by host. Apps are visited in name order so that a
// host claimed by two apps resolves the same way every time.
func build(apps map[string]*cell) *snapshot {
	names := make([]string, 0, len(apps))
	for name := range apps {
		names = append(names, name)
	}
	slices.Sort(names)
	s := &snapshot{byHost: make(map[string]*cell, len(apps)), wild: map[string]*cell{}, byApp: apps}
	for _, name := range names {
		for _, h := range apps[name].route.Load().Hosts {
			if _, taken := s.byHost[h]; !taken {
				s.byHost[h] = apps[name]
				if IsWildcard(h) {
					s.wild[h[len("*."):]] = apps[name]
				}
			}
		}
	}
	return s
}

// SetIfUnchanged replaces, in one write, the route of every app in next
// whose current route is still the one in seen (an app absent from seen
// must still be absent), and removes every app in remove under the same
// condition. A route that changed meanwhile (a container event, a deploy)
// is newer than the caller's view and is kept. It costs one copy of the
// table however many apps change, where one SetHosts or SetTargets per
// app would copy it once each.
func (t *Table) SetIfUnchanged(seen map[string]*Route, next map[string]Route, remove []string) {
	t.writeMu.Lock()
	old := t.current.Load()
	current := func(name string) *Route {
		if c, ok := old.byApp[name]; ok {
			return c.route.Load()
		}
		return nil
	}
	// Targets-only changes go into the apps' cells; new apps, changed
	// hosts and removals need a new snapshot (rebuilt once, at the end).
	var apps map[string]*cell
	var disabled []string // hosts disabled in cells the snapshots share
	rebuild := func() {
		if apps == nil {
			apps = maps.Clone(old.byApp)
		}
	}
	for name, r := range next {
		cur := current(name)
		if cur != seen[name] {
			continue
		}
		r.App = name
		r.Hosts = normalizeHosts(r.Hosts)
		r.Targets = slices.Clone(r.Targets)
		slices.Sort(r.Targets)
		switch {
		case cur != nil && slices.Equal(cur.Hosts, r.Hosts) && slices.Equal(cur.Targets, r.Targets) && cur.Disabled == r.Disabled && cur.Remote == r.Remote:
			// nothing to change; keep the pointer so readers share it
		case cur != nil && slices.Equal(cur.Hosts, r.Hosts):
			old.byApp[name].route.Store(&r)
			disabled = append(disabled, newlyDisabled(cur, &r)...)
		default:
			rebuild()
			apps[name] = newCell(&r)
		}
	}
	for _, name := range remove {
		if cur := current(name); cur != nil && cur == seen[name] {
			rebuild()
			delete(apps, name)
		}
	}
	if apps == nil {
		t.unlockThenReport(func() []string { return disabled })
		return
	}
	t.swap(old, build(apps), disabled) // unlocks
}
