package appspec

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"slices"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/platform"
)

// This file holds Dokku's resource:limit and resource:reserve: CPU and
// memory amounts by process type, kept in the app record's Resources.

// DefaultProcessType stands for every process type in resource settings
// (Dokku's name).
const DefaultProcessType = "_default_"

// Who changed resource settings (platform.ResourceSettings.SetBy).
const (
	SetByAdmin     = "admin"
	SetByDeployKey = "deploy key"
)

// The kinds of resource settings, as the commands name them.
const (
	Limit   = "limit"
	Reserve = "reserve"
)

// AdminOwned reports whether only an admin key may change the settings r:
// an admin changed them last. Settings recorded before Berth kept SetBy
// count as an admin's: nobody can tell, and the safe guess keeps a deploy
// key from undoing them.
func AdminOwned(r platform.ResourceSettings) bool {
	return r.SetBy == SetByAdmin || (r.SetBy == "" && (len(r.Limits) > 0 || len(r.Reservations) > 0))
}

// resolve returns the resources of typ: its own settings, else the
// default's, field by field.
func resolve(r platform.ResourceSettings, typ string) (docker.HostOptions, error) {
	var h docker.HostOptions
	pick := func(m map[string]platform.Resources, get func(platform.Resources) string) string {
		if v := get(m[typ]); v != "" {
			return v
		}
		return get(m[DefaultProcessType])
	}
	var err error
	if v := pick(r.Limits, func(x platform.Resources) string { return x.CPU }); v != "" {
		if h.NanoCPUs, err = docker.ParseCPUs(v); err != nil {
			return h, err
		}
	}
	if v := pick(r.Limits, func(x platform.Resources) string { return x.Memory }); v != "" {
		if h.Memory, err = docker.ParseMemory(v); err != nil {
			return h, err
		}
	}
	if v := pick(r.Limits, func(x platform.Resources) string { return x.MemorySwap }); v != "" {
		if v == "-1" {
			h.MemorySwap = -1
		} else if h.MemorySwap, err = docker.ParseMemory(v); err != nil {
			return h, err
		}
	}
	if v := pick(r.Reservations, func(x platform.Resources) string { return x.Memory }); v != "" {
		if h.MemoryReservation, err = docker.ParseMemory(v); err != nil {
			return h, err
		}
	}
	if h.Memory > 0 && h.MemoryReservation > h.Memory {
		return h, fmt.Errorf("the memory reservation of %s (%d MB) is above its memory limit (%d MB)", typ, h.MemoryReservation>>20, h.Memory>>20)
	}
	if h.MemorySwap > 0 && h.Memory > 0 && h.MemorySwap < h.Memory {
		return h, fmt.Errorf("the memory-swap limit of %s must be at least its memory limit (memory-swap counts memory plus swap)", typ)
	}
	if h.MemorySwap > 0 && h.Memory == 0 {
		return h, fmt.Errorf("a memory-swap limit of %s needs a memory limit too", typ)
	}
	return h, nil
}

// validate checks the combination of limits and reservations for every
// process type, so no rollout meets, say, a memory-swap limit without a
// memory limit. Types without settings of their own resolve to the
// default's, so the default and every type that has settings is all
// there is to check, whatever the app's releases run.
func validate(r platform.ResourceSettings) error {
	types := []string{DefaultProcessType}
	for _, m := range []map[string]platform.Resources{r.Limits, r.Reservations} {
		for t := range m {
			if !slices.Contains(types, t) {
				types = append(types, t)
			}
		}
	}
	slices.Sort(types[1:])
	for _, t := range types {
		if _, err := resolve(r, t); err != nil {
			return err
		}
	}
	return nil
}

// minMemory is Docker's least memory limit.
const minMemory = 6 << 20

// SetResources sets the app's resource limits (kind Limit) or
// reservations (Reserve) for a process type (DefaultProcessType for all);
// empty fields of r are left as they are. They apply from the next
// rollout (deploy, ps:restart, ps:rebuild).
func (s *Settings) SetResources(ctx context.Context, app, kind, typ string, r platform.Resources) error {
	if typ == "" {
		typ = DefaultProcessType
	}
	if typ != DefaultProcessType {
		if err := platform.ValidProcessType(typ); err != nil {
			return err
		}
	}
	if r.CPU != "" {
		if kind == Reserve {
			return errors.New("Docker cannot reserve CPU for a container; limit it with resource:limit --cpu, or weigh it with docker-options:add APP deploy --cpu-shares N")
		}
		n, err := docker.ParseCPUs(r.CPU)
		if err != nil {
			return err
		}
		// Docker refuses a limit above the host's CPUs only when a
		// container is created; say so now instead.
		if cpus, err := s.spec.engine.CPUs(ctx); err == nil && cpus > 0 && n > int64(cpus)*1e9 {
			return fmt.Errorf("--cpu %s is more than this host's %d CPUs", r.CPU, cpus)
		}
	}
	sizes := []string{r.Memory}
	if r.MemorySwap != "-1" { // -1: unlimited swap, as in Docker
		sizes = append(sizes, r.MemorySwap)
	}
	for _, m := range sizes {
		if m == "" {
			continue
		}
		n, err := docker.ParseMemory(m)
		if err != nil {
			return err
		}
		if n < minMemory {
			return fmt.Errorf("%s is below Docker's least memory size of 6m", m)
		}
	}
	if r.MemorySwap != "" && kind == Reserve {
		return errors.New("memory-swap is a limit, not a reservation: use resource:limit --memory-swap")
	}
	return s.changeResources(ctx, app, kind, func(m *map[string]platform.Resources) {
		if *m == nil {
			*m = map[string]platform.Resources{}
		}
		cur := (*m)[typ]
		if r.CPU != "" {
			cur.CPU = r.CPU
		}
		if r.Memory != "" {
			cur.Memory = r.Memory
		}
		if r.MemorySwap != "" {
			cur.MemorySwap = r.MemorySwap
		}
		(*m)[typ] = cur
	}, func(invalid error) error { return invalid })
}

// changeResources applies edit to a copy of the app's limits (kind Limit)
// or reservations (Reserve), under the app's lock, and saves the result
// only if it still makes sense for every process type; when it does not,
// refused says why and the record is left as it was.
func (s *Settings) changeResources(ctx context.Context, app, kind string, edit func(m *map[string]platform.Resources), refused func(invalid error) error) error {
	return s.apps.UpdateApp(ctx, app, func(a *platform.App) error {
		// Limits protect the host from the app, so the app's own deploy
		// key must not undo an admin's: once an admin has changed them,
		// the settings are the admin's as a whole. A finer rule (a
		// deploy key may only tighten) would have to weigh every process
		// type against _default_ and build; this one has no such gaps.
		byDeployKey := platform.IsDeployKey(ctx)
		if byDeployKey && AdminOwned(a.Resources) {
			return fmt.Errorf("the resource limits and reservations of %s were set by an admin, so only an admin key can change them; this key may read them (resource:report %s)", app, app)
		}
		settings := platform.ResourceSettings{Limits: maps.Clone(a.Resources.Limits), Reservations: maps.Clone(a.Resources.Reservations)}
		m := &settings.Limits
		if kind == Reserve {
			m = &settings.Reservations
		}
		edit(m)
		if err := validate(settings); err != nil {
			return refused(err)
		}
		// An admin who clears everything hands the settings back.
		switch {
		case len(settings.Limits) == 0 && len(settings.Reservations) == 0:
			settings.SetBy = ""
		case byDeployKey:
			settings.SetBy = SetByDeployKey
		default:
			settings.SetBy = SetByAdmin
		}
		a.Resources = settings
		return nil
	})
}

// ClearResources removes the app's limits or reservations of a process
// type (DefaultProcessType: the defaults), or of every type when all.
func (s *Settings) ClearResources(ctx context.Context, app, kind, typ string, all bool) error {
	what := "limits"
	if kind == Reserve {
		what = "reservations"
	}
	if all {
		what = "all " + what
	} else {
		if typ == "" {
			typ = DefaultProcessType
		}
		what = fmt.Sprintf("the %s of %s", what, typ)
	}
	return s.changeResources(ctx, app, kind, func(m *map[string]platform.Resources) {
		if all {
			*m = nil
			return
		}
		delete(*m, typ)
		if len(*m) == 0 {
			*m = nil
		}
	}, func(invalid error) error {
		// What is left must still make sense for every type, or every
		// later rollout would fail on it.
		return fmt.Errorf("clearing %s of %s would leave settings Docker refuses: %w; nothing was changed (change or clear that setting first)", what, app, invalid)
	})
}
