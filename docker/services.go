package docker

import (
	"archive/tar"
	"context"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"strconv"
	"time"

	cerrdefs "github.com/containerd/errdefs"
	"github.com/moby/moby/api/types/container"
	"github.com/moby/moby/api/types/mount"
	"github.com/moby/moby/api/types/network"
	"github.com/moby/moby/client"
)

// Labels of datastore service containers and volumes. They are not
// LabelApp: the platform's clean-up and routing, which find containers
// by LabelApp, never see a service.
const (
	// LabelServiceType is the service's type (postgres, mysql, redis).
	LabelServiceType = "berth.service.type"
	// LabelService is the service's name.
	LabelService = "berth.service"
)

// ServiceSpec says how to run a datastore service's container.
type ServiceSpec struct {
	Name   string // container name, also its DNS name on Berth's network
	Image  string
	Env    []string
	Cmd    []string
	Labels map[string]string
	// Volume is a named volume mounted at DataDir.
	Volume, DataDir string
	// Port is the container port; Publish, when valid, binds it on the
	// host (HostIP; HostPort 0 lets Docker choose).
	Port int
	// StopSignal stops the server cleanly (postgres: SIGINT, its fast
	// shutdown, as the official image sets; SIGTERM waits for clients).
	StopSignal string
	Publish    bool
	HostIP     netip.Addr
	HostPort   int
}

// HasImage reports whether the engine has image locally.
func (c *ImageAPI) HasImage(ctx context.Context, image string) (bool, error) {
	_, err := c.api.ImageInspect(ctx, image)
	if err == nil {
		return true, nil
	}
	if cerrdefs.IsNotFound(err) {
		return false, nil
	}
	return false, fmt.Errorf("docker: inspect image %s: %w", image, err)
}

// Pull fetches image from its registry, writing progress lines to log.
func (c *ImageAPI) Pull(ctx context.Context, image string, log io.Writer) error {
	res, err := c.api.ImagePull(ctx, image, client.ImagePullOptions{})
	if err != nil {
		return fmt.Errorf("docker: pull %s: %w", image, err)
	}
	defer res.Close()
	for m, err := range res.JSONMessages(ctx) {
		if err != nil {
			return fmt.Errorf("docker: pull %s: %w", image, err)
		}
		if m.Error != nil {
			return fmt.Errorf("docker: pull %s: %s", image, m.Error.Message)
		}
		if m.Status != "" && m.Progress == nil {
			fmt.Fprintf(log, "       %s %s\n", m.ID, m.Status)
		}
	}
	return nil
}

// CreateService creates (without starting) a service container on
// Berth's network, reachable there by its name, with its data volume
// mounted and restart policy unless-stopped: Docker starts it again
// after a reboot unless it was stopped on purpose.
func (c *ContainerAPI) CreateService(ctx context.Context, spec ServiceSpec) (string, error) {
	port, ok := network.PortFrom(uint16(spec.Port), network.TCP)
	if !ok {
		return "", fmt.Errorf("docker: bad service port %d", spec.Port)
	}
	hc := &container.HostConfig{
		Init:          &useInit,
		NetworkMode:   container.NetworkMode(c.network),
		RestartPolicy: container.RestartPolicy{Name: container.RestartPolicyUnlessStopped},
		Mounts:        []mount.Mount{{Type: mount.TypeVolume, Source: spec.Volume, Target: spec.DataDir}},
		LogConfig:     container.LogConfig{Type: "json-file", Config: map[string]string{"max-size": "10m", "max-file": "3"}},
	}
	if spec.Publish {
		hostPort := ""
		if spec.HostPort > 0 {
			hostPort = strconv.Itoa(spec.HostPort)
		}
		hc.PortBindings = network.PortMap{port: {{HostIP: spec.HostIP, HostPort: hostPort}}}
	}
	stop := 30
	created, err := c.api.ContainerCreate(ctx, client.ContainerCreateOptions{
		Name: spec.Name,
		Config: &container.Config{
			Image: spec.Image, Env: spec.Env, Cmd: spec.Cmd, Labels: c.stamp(spec.Labels),
			Hostname: spec.Name, ExposedPorts: network.PortSet{port: {}}, StopTimeout: &stop, StopSignal: spec.StopSignal,
		},
		HostConfig: hc,
		NetworkingConfig: &network.NetworkingConfig{
			EndpointsConfig: map[string]*network.EndpointSettings{c.network: {Aliases: []string{spec.Name}}},
		},
	})
	if err != nil {
		return "", fmt.Errorf("docker: create container %s: %w", spec.Name, err)
	}
	return created.ID, nil
}

// StartExisting starts a created or stopped container, leaving it in
// place if it fails (a service's container is its configuration).
func (c *ContainerAPI) StartExisting(ctx context.Context, id string) error {
	if _, err := c.api.ContainerStart(ctx, id, client.ContainerStartOptions{}); err != nil {
		return fmt.Errorf("docker: start container %s: %w", id, explainBridgeFull(err))
	}
	return nil
}

// PublishedPort returns the host address a running container's port is
// bound to, if any.
func (c *ContainerAPI) PublishedPort(ctx context.Context, id string, port int) (netip.AddrPort, bool, error) {
	res, err := c.api.ContainerInspect(ctx, id, client.ContainerInspectOptions{})
	if err != nil {
		return netip.AddrPort{}, false, fmt.Errorf("docker: inspect container %s: %w", id, err)
	}
	p, _ := network.PortFrom(uint16(port), network.TCP)
	if ns := res.Container.NetworkSettings; ns != nil {
		for _, b := range ns.Ports[p] {
			n, err := strconv.Atoi(b.HostPort)
			if err == nil {
				return netip.AddrPortFrom(b.HostIP, uint16(n)), true, nil
			}
		}
	}
	return netip.AddrPort{}, false, nil
}

// CopyFileTo writes r (size bytes) as file dst with mode into the
// container (which may be stopped: a volume mounted there receives it).
func (c *ContainerAPI) CopyFileTo(ctx context.Context, id, dst string, r io.Reader, size int64, mode int64) error {
	pr, pw := io.Pipe()
	go func() {
		tw := tar.NewWriter(pw)
		err := tw.WriteHeader(&tar.Header{Name: path.Base(dst), Mode: mode, Size: size, ModTime: time.Now()})
		if err == nil {
			_, err = io.CopyN(tw, r, size)
		}
		if err == nil {
			err = tw.Close()
		}
		pw.CloseWithError(err)
	}()
	_, err := c.api.CopyToContainer(ctx, id, client.CopyToContainerOptions{DestinationPath: path.Dir(dst), Content: pr})
	pr.CloseWithError(err)
	if err != nil {
		return fmt.Errorf("docker: copy %s into %s: %w", dst, id, err)
	}
	return nil
}

// CopyFileFrom reads file src out of the container (which may be
// stopped) into a temporary file, returned rewound with its size.
func (c *ContainerAPI) CopyFileFrom(ctx context.Context, id, src string) (*os.File, int64, error) {
	res, err := c.api.CopyFromContainer(ctx, id, client.CopyFromContainerOptions{SourcePath: src})
	if err != nil {
		return nil, 0, fmt.Errorf("docker: copy %s out of %s: %w", src, id, err)
	}
	defer res.Content.Close()
	tr := tar.NewReader(res.Content)
	if _, err := tr.Next(); err != nil {
		return nil, 0, fmt.Errorf("docker: copy %s out of %s: %w", src, id, err)
	}
	return SpoolFile(tr)
}

// SpoolFile copies r to a temporary file and returns it rewound with its
// size, for CopyFileTo, which must know the size before it sends.
func SpoolFile(r io.Reader) (*os.File, int64, error) {
	f, err := os.CreateTemp("", "berth-import-*")
	if err != nil {
		return nil, 0, err
	}
	os.Remove(f.Name()) // gone when closed
	n, err := io.Copy(f, r)
	if err == nil {
		_, err = f.Seek(0, io.SeekStart)
	}
	if err != nil {
		f.Close()
		return nil, 0, err
	}
	return f, n, nil
}
