package platform

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/berth-paas/berth/docker"
	"github.com/berth-paas/berth/store"
)

// instanceKey is the store document that names this Berth. It is part of
// Berth's state: a state directory restored from a backup keeps its
// containers; one whose instance document is lost starts a new instance
// that owns none of the running containers (they keep running, unrouted,
// until the apps are deployed again).
const instanceKey = "instance"

// Instance is the instance document.
type Instance struct {
	// ID is stamped on every container and volume this Berth creates
	// (docker.LabelInstance) and required of every container it lists.
	ID      string    `json:"id"`
	Created time.Time `json:"created"`
	// Legacy are containers a Berth from before instance IDs made for
	// this state directory's apps and services, adopted when the ID was
	// made; they go as their apps are deployed again.
	Legacy []string `json:"legacy,omitempty"`
}

// identity reads, makes and keeps this Berth's instance document: the
// instance ID its containers carry, and the containers of a version from
// before instance IDs that it adopted.
type identity struct {
	store  store.Store
	engine interface {
		ListLegacy(ctx context.Context) ([]docker.Container, error)
	}
	log *slog.Logger
}

// Identify gives the platform's Docker client this Berth's instance ID,
// making one on the first start (see Instance). Start calls it; a
// caller that uses the client before Start (services boot first) calls it
// itself. It is idempotent.
func (p *Platform) Identify(ctx context.Context) error {
	p.mu.Lock()
	done := p.identified
	p.mu.Unlock()
	if done {
		return nil
	}
	doc, err := identity{store: p.store, engine: p.docker, log: p.log}.loadInstance(ctx)
	if err != nil {
		return err
	}
	p.docker.SetInstance(doc.ID, doc.Legacy)
	p.mu.Lock()
	p.identified = true
	p.mu.Unlock()
	p.log.Info("berth instance", "id", doc.ID, "legacy_containers", len(doc.Legacy))
	return nil
}

func (id identity) loadInstance(ctx context.Context) (Instance, error) {
	var doc Instance
	data, err := id.store.Get(ctx, instanceKey)
	switch {
	case errors.Is(err, store.ErrNotFound):
		return id.newInstance(ctx)
	case err != nil:
		return doc, err
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.ID == "" {
		return doc, fmt.Errorf("the instance document %q of the state directory is damaged (%v): restore it from a backup; deleting it makes Berth disown every running container", instanceKey, err)
	}
	if len(doc.Legacy) == 0 {
		return doc, nil
	}
	// Forget adopted containers that are gone: once none is left, the
	// engine filters every listing by the instance ID alone.
	legacy, err := id.engine.ListLegacy(ctx)
	if err != nil {
		return doc, err
	}
	kept := doc.Legacy[:0]
	for _, id := range doc.Legacy {
		if slices.ContainsFunc(legacy, func(c docker.Container) bool { return c.ID == id }) {
			kept = append(kept, id)
		}
	}
	if len(kept) != len(doc.Legacy) {
		doc.Legacy = kept
		if err := id.saveInstance(ctx, doc); err != nil {
			return doc, err
		}
	}
	return doc, nil
}

// newInstance makes this Berth's instance document, adopting the
// containers a Berth from before instance IDs made for this state
// directory: those of its apps that are not one-offs (they serve, and
// must go on serving across the upgrade), its apps' one-offs (left over
// from a crash; removed at start as before), and its datastores'. Nothing
// else is adopted, ever: a container made later without the ID is not
// this Berth's.
func (id identity) newInstance(ctx context.Context) (Instance, error) {
	b := make([]byte, 12)
	rand.Read(b)
	doc := Instance{ID: hex.EncodeToString(b), Created: time.Now().UTC()}
	legacy, err := id.engine.ListLegacy(ctx)
	if err != nil {
		return doc, err
	}
	if len(legacy) > 0 {
		apps, err := id.store.List(ctx, "apps")
		if err != nil {
			return doc, err
		}
		for _, c := range legacy {
			ok, err := id.adoptable(ctx, apps, c.Labels)
			if err != nil {
				return doc, err
			}
			if ok {
				doc.Legacy = append(doc.Legacy, c.ID)
				id.log.Info("adopting a container made before instance IDs", "container", c.Name)
			}
		}
	}
	return doc, id.saveInstance(ctx, doc)
}

// adoptable reports whether a legacy container with labels is one of
// this state directory's.
func (id identity) adoptable(ctx context.Context, apps []string, labels map[string]string) (bool, error) {
	app, oneOff := labels[docker.LabelApp], labels[docker.LabelOneOff]
	switch {
	case oneOff != "":
		return slices.Contains(apps, oneOff), nil
	case app != "":
		// An app container of an old Berth has all its labels.
		for _, k := range []string{docker.LabelProcess, docker.LabelGeneration, docker.LabelIndex, docker.LabelPort} {
			if labels[k] == "" {
				return false, nil
			}
		}
		return slices.Contains(apps, app), nil
	case labels[docker.LabelService] != "" && labels[docker.LabelServiceType] != "":
		name, typ := labels[docker.LabelService], labels[docker.LabelServiceType]
		if strings.Contains(name+typ, "/") {
			return false, nil
		}
		_, err := id.store.Get(ctx, "services/"+typ+"/"+name)
		if errors.Is(err, store.ErrNotFound) {
			return false, nil
		}
		return err == nil, err
	}
	return false, nil
}

func (id identity) saveInstance(ctx context.Context, doc Instance) error {
	return SaveInstance(ctx, id.store, doc)
}

// SaveInstance writes the instance document into s, as Berth does, for
// tools that prepare a state directory before Berth starts on it (the
// benchmark, which runs app containers itself).
func SaveInstance(ctx context.Context, s store.Store, doc Instance) error {
	data, err := json.MarshalIndent(doc, "", "  ")
	if err != nil {
		return err
	}
	return s.Put(ctx, instanceKey, data)
}

// ReadInstance reads the instance document of s without making one: ok
// is false when Berth never started on s. For tools that clean up after a
// Berth (the test harness removes only what this instance made, not the
// containers of another Berth on the same engine).
func ReadInstance(ctx context.Context, s store.Store) (doc Instance, ok bool, err error) {
	data, err := s.Get(ctx, instanceKey)
	if errors.Is(err, store.ErrNotFound) {
		return doc, false, nil
	}
	if err != nil {
		return doc, false, err
	}
	if err := json.Unmarshal(data, &doc); err != nil || doc.ID == "" {
		return doc, false, fmt.Errorf("the instance document %q is damaged: %v", instanceKey, err)
	}
	return doc, true, nil
}
