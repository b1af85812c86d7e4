package fakeengine

import (
	"context"
	"slices"
	"strings"

	"github.com/berth-paas/berth/docker"
)

// NetworkEngine is the part of Engine that keeps networks: it implements
// platform.NetworkEngine.
type NetworkEngine struct {
	*world
}

func (e *NetworkEngine) Network() string { return docker.DefaultNetwork }

func (e *NetworkEngine) EnsureNetwork(ctx context.Context) error {
	return e.CreateNetwork(ctx, docker.DefaultNetwork)
}

func (e *NetworkEngine) CreateNetwork(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.networks[name]; !ok {
		e.networks[name] = docker.NetworkInfo{Name: name, ID: randomHex(32), Driver: "bridge", Berth: true}
	}
	return nil
}

func (e *NetworkEngine) InspectNetwork(ctx context.Context, name string) (docker.NetworkInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	n, ok := e.networks[name]
	if !ok {
		return docker.NetworkInfo{}, notFound("network", name)
	}
	return n, nil
}

func (e *NetworkEngine) Networks(ctx context.Context) ([]docker.NetworkInfo, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	var out []docker.NetworkInfo
	for _, n := range e.networks {
		out = append(out, n)
	}
	slices.SortFunc(out, func(a, b docker.NetworkInfo) int { return strings.Compare(a.Name, b.Name) })
	return out, nil
}

func (e *NetworkEngine) RemoveNetwork(ctx context.Context, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	delete(e.networks, name)
	return nil
}

func (e *NetworkEngine) Connect(ctx context.Context, id string, a docker.Attachment) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if _, ok := e.networks[a.Network]; !ok {
		return notFound("network", a.Network)
	}
	if _, ok := e.containers[id]; !ok {
		return notFound("container", id)
	}
	return nil
}
